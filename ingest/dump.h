/* Diagnostics dump: writes a broadcast's depacketized audio and video,
 * without re-encoding, to a Matroska file that ffmpeg can read, so that a
 * misbehaving publisher can be analysed offline.
 *
 * Threads: cg_dump_push runs on the media loop and never blocks; frames go
 * through a bounded queue (policy when full: drop newest and count) to a
 * worker thread that owns the libavformat context and does all disk I/O. */
#ifndef CG_INGEST_DUMP_H
#define CG_INGEST_DUMP_H

#include <stdint.h>

#include "core/frame.h"

typedef struct cg_dump cg_dump;

typedef struct cg_dump_stats {
    uint64_t video_frames, audio_frames, dropped_queue_full, dropped_before_keyframe,
        dropped_non_monotonic;
    int write_error;
} cg_dump_stats;

/* path is copied. The file is created when the first video keyframe (or,
 * without video, the first audio frame) arrives. Returns 0, CG_ENOMEM,
 * CG_EIO (thread). */
int cg_dump_new(cg_dump **out, const char *path, int has_video, int has_audio);
/* Takes a new reference to f on success. 0 or CG_EFULL (dropped, counted). */
int cg_dump_push(cg_dump *d, cg_frame *f);
/* Copies the counters (thread-safe). */
void cg_dump_get_stats(cg_dump *d, cg_dump_stats *st);
/* Drains the queue, writes the trailer, joins the worker. Accepts NULL. */
void cg_dump_free(cg_dump *d);

#endif
