/* The live events of the contract, one function each, so that every
 * message's fields are spelled in one place (README "Live events").
 * Producers' listeners (wired in main.c) call these; strings are
 * borrowed for the call; ev may be NULL (events off). Each returns
 * cg_events_emit's result: 0, CG_EINVAL or CG_ENOMEM. Any thread. */
#ifndef CG_EVENTS_EMIT_H
#define CG_EVENTS_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "events/bus.h"

/* stream.started: a broadcast began, with the tracks it records. */
int cg_events_stream_started(cg_events *ev, const char *stream, const char *broadcast, int video,
                             int audio);
/* stream.ended: duration in seconds (end of its last segment). */
int cg_events_stream_ended(cg_events *ev, const char *stream, const char *broadcast,
                           double duration_s);
/* segment: number n (seg-<n>.m4s), start and duration in seconds of
 * broadcast time, pdt the wall clock of its start (microseconds). */
int cg_events_segment(cg_events *ev, const char *stream, const char *broadcast, uint64_t n,
                      double start_s, double duration_s, uint64_t pdt_wall_us);
/* thumbnail: the JPEG of segment n is stored at url. */
int cg_events_thumbnail(cg_events *ev, const char *stream, const char *broadcast, uint64_t n,
                        const char *url);
/* clip.created: a persisted clip; start and duration in seconds of
 * broadcast time (what was cut); its files are /clips/<id>.mp4|.m3u8. */
int cg_events_clip_created(cg_events *ev, const char *id, const char *broadcast, const char *stream,
                           double start_s, double duration_s);
/* viewers: the stream's WHEP viewer count changed to n. */
int cg_events_viewers(cg_events *ev, const char *stream, size_t n);

#endif
