/* Stream hub: one live stream object per name, holding who publishes it and
 * the sinks that consume its frames (packager, diagnostics dump) and its RTP
 * (WHEP viewers, later).
 *
 * Threads: the hub belongs to the media loop thread; nothing here locks.
 * Other threads reach it by posting to that loop. Frames handed to sinks
 * are borrowed for the duration of the call: a sink that keeps one takes a
 * reference (cg_frame_ref). */
#ifndef CG_HUB_H
#define CG_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

typedef struct cg_hub cg_hub;
typedef struct cg_stream cg_stream;

#define CG_STREAM_NAME_MAX 64

typedef struct cg_frame_sink {
    void (*on_frame)(void *arg, cg_frame *f);
    void (*on_end)(void *arg); /* publisher gone; the sink is detached after */
    void *arg;
} cg_frame_sink;

/* What a publisher offers, given when the stream opens. */
typedef struct cg_stream_info {
    int has_video; /* H.264 */
    int has_audio; /* Opus */
    /* Ask the publisher for a keyframe (rate-limited by the publisher side);
     * called on the media thread with the stream's publisher. May be NULL. */
    void (*request_keyframe)(void *publisher);
} cg_stream_info;

/* Receives the publisher's RTP packets in order, as released by its
 * receiver (before depacketizing): WHEP viewers. kind is CG_MEDIA_VIDEO or
 * CG_MEDIA_AUDIO (core/frame.h); pkt is borrowed for the call. */
typedef struct cg_rtp_sink {
    void (*on_rtp)(void *arg, int kind, const uint8_t *pkt, size_t len, uint64_t now_us);
    void (*on_end)(void *arg); /* publisher gone; the sink is detached after */
    void *arg;
} cg_rtp_sink;

/* Told about every stream that opens or closes (the recorder uses it to
 * start and end broadcasts, the WHEP feeds to follow each stream). Runs on the media thread.
 * on_open runs once the stream is in the hub; on_close before its sinks get on_end. */
typedef struct cg_hub_observer {
    void (*on_open)(void *arg, cg_stream *s);
    void (*on_close)(void *arg, cg_stream *s);
    void *arg;
} cg_hub_observer;

#define CG_HUB_MAX_OBSERVERS 4

int cg_hub_new(cg_hub **out);
/* Copies obs; observers are told in the order they were added (the
 * recorder, the WHEP feeds). Returns 0 or CG_ELIMIT (CG_HUB_MAX_OBSERVERS). */
int cg_hub_add_observer(cg_hub *hub, const cg_hub_observer *obs);
/* Removes the observer added with this arg; unknown args are ignored. */
void cg_hub_remove_observer(cg_hub *hub, void *arg);
/* Accepts NULL. Streams must have been closed first. */
void cg_hub_free(cg_hub *hub);

/* 1 if name is a valid stream name: 1..64 characters of [A-Za-z0-9_-]. */
int cg_stream_name_valid(const char *name);

/* Borrowed pointer or NULL. */
cg_stream *cg_hub_find(cg_hub *hub, const char *name);
/* Creates the stream with publisher as its owner. CG_EEXIST when the name
 * already has a publisher, CG_EINVAL for a bad name, CG_ENOMEM. */
int cg_hub_open(cg_hub *hub, const char *name, void *publisher, const cg_stream_info *info,
                cg_stream **out);
/* Ends the stream: on_end for every sink, then frees it. */
void cg_hub_close(cg_hub *hub, cg_stream *s);
size_t cg_hub_count(const cg_hub *hub);
/* Iteration in creation order: cg_hub_first, then cg_hub_next until NULL. */
cg_stream *cg_hub_first(cg_hub *hub);
cg_stream *cg_stream_next(cg_stream *s);

const char *cg_stream_name(const cg_stream *s);
void *cg_stream_publisher(const cg_stream *s);
const cg_stream_info *cg_stream_get_info(const cg_stream *s);
/* Asks the publisher for a keyframe through info.request_keyframe. */
void cg_stream_request_keyframe(cg_stream *s);

/* Sinks are copied; at most 16 per stream (CG_ELIMIT). */
int cg_stream_add_sink(cg_stream *s, const cg_frame_sink *sink);
void cg_stream_remove_sink(cg_stream *s, void *arg);
/* Hands f (borrowed) to every sink. */
void cg_stream_publish(cg_stream *s, cg_frame *f);

/* RTP sinks are copied; at most 64 per stream (CG_ELIMIT). */
int cg_stream_add_rtp_sink(cg_stream *s, const cg_rtp_sink *sink);
void cg_stream_remove_rtp_sink(cg_stream *s, void *arg);
size_t cg_stream_rtp_sink_count(const cg_stream *s);
/* Hands an in-order RTP packet (borrowed) to every RTP sink. Does nothing
 * when there is none. */
void cg_stream_publish_rtp(cg_stream *s, int kind, const uint8_t *pkt, size_t len, uint64_t now_us);

#endif
