/* Recorder: the broadcast manager. Turns every stream that opens in the hub
 * into a broadcast (one packager writing recordings/<broadcast id>/ in the
 * store), keeps a registry of every broadcast, live or on disk, that HTTP
 * threads query for playlists, segments, clips and the API, and deletes
 * recordings past their retention.
 *
 * Threads:
 *   media loop   hub observer (stream open/close), frame sink, reconnect
 *                grace timers, keyframe requests; never blocks
 *   packagers    one worker per broadcast; their events are handled where
 *                they arrive (counters, the registry) and only keyframe
 *                requests are posted to the media loop
 *   janitor      one thread of the recorder: frees ended packagers
 *                (cg_packager_free joins a worker, so never on the loop)
 *                and runs retention (disk deletes)
 *   thumbnailer  one worker of the recorder (packager/thumbs.h): each
 *                published video segment is queued there (bounded; skipped
 *                and counted when full) and gets thumb-<n>.jpg
 *   any thread   lookups and listings under one mutex, held only to copy
 *                a few fields and take a timeline reference
 *
 * Lifecycle of a broadcast: the stream opens -> a packager starts (or, if
 * the same stream name dropped less than reconnect-grace ago, the open
 * broadcast continues after an EXT-X-DISCONTINUITY) -> the stream closes
 * -> grace timer -> cg_packager_finish -> EV_ENDED -> the janitor frees the
 * packager; the timeline stays in the registry as an ended recording until
 * retention deletes it. At startup every recordings/<id>/index.jsonl in the
 * store is recovered (cg_index_recover: a broadcast cut by a crash is ended
 * now) and registered.
 *
 * Storage layout: recordings/<broadcast id>/{index.jsonl,init*.mp4,seg-*.m4s,
 * thumb-*.jpg}. The stream name of a broadcast found on disk is read back
 * from its id (<stream>-<yyyymmddThhmmssZ>-<4 hex>).
 *
 * Thumbnails: which segments have one is kept in memory per broadcast, set
 * when a JPEG is stored and, for broadcasts found at startup, from one
 * listing of their directory. Segments that a crash or a full queue left
 * without a thumbnail are not back-filled: a thumbnail is made once, when
 * its segment is published. */
#ifndef CG_RECORDER_H
#define CG_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/hub.h"
#include "core/loop.h"
#include "packager/packager.h"
#include "packager/timeline.h"
#include "storage/storage.h"

typedef struct cg_recorder cg_recorder;

/* Storage prefix under which broadcasts live. */
#define CG_RECORDER_PREFIX "recordings"
/* "recordings/" + id + NUL */
#define CG_RECORDER_DIR_MAX (sizeof(CG_RECORDER_PREFIX) + CG_TL_ID_MAX + 1)

/* Gives a recorder over st (borrowed, must outlive it) with cfg (borrowed:
 * data dir, segment duration, live window, retention, audio codec,
 * reconnect grace; must outlive it) whose media-side work runs on loop
 * (borrowed; the media loop, running). Recovers and registers the
 * broadcasts found in the store (blocking I/O: call before serving) and
 * starts the janitor thread. Call cg_recorder_attach next, on the media
 * thread. Returns 0, CG_EINVAL, CG_ENOMEM, CG_EIO (thread). */
int cg_recorder_new(cg_recorder **out, cg_storage *st, const cg_config *cfg, cg_loop *loop);

/* Media thread only: observe hub (borrowed; it must outlive the recorder
 * or the recorder must be shut down first) for streams opening and
 * closing. */
void cg_recorder_attach(cg_recorder *r, cg_hub *hub);

/* A thumbnail was stored: what a listener hears (borrowed for the call). */
typedef struct cg_recorder_thumb {
    const char *stream;
    const char *broadcast;
    uint64_t segment; /* seq, as in seg-<n>.m4s */
    const char *url;  /* "/recordings/<broadcast>/thumbs/<n>.jpg" */
} cg_recorder_thumb;

/* Runs on the thumbnail worker. Copy what you need; do not block and do not
 * call back into the recorder. */
typedef void (*cg_recorder_thumb_fn)(void *arg, const cg_recorder_thumb *ev);

/* Sets the listener told of every thumbnail stored (NULL: none). Call it
 * before cg_recorder_attach; fn and arg must stay valid until
 * cg_recorder_shutdown returns. */
void cg_recorder_set_thumb_listener(cg_recorder *r, cg_recorder_thumb_fn fn, void *arg);

/* Any thread. Which of the first n segments of broadcast id have a
 * thumbnail: bit i of bits (LSB first, at least (n + 7) / 8 bytes, cleared
 * here) for segment i. Returns 0, CG_ENOTFOUND, CG_EINVAL. */
int cg_recorder_thumbs_made(cg_recorder *r, const char *id, uint8_t *bits, size_t n);

/* Any thread but the media loop's, which must still be running: stops
 * observing the hub, finishes every open broadcast at once (no grace) and
 * waits until each one's last segment and end line are written, and the
 * thumbnails queued for them. Then stops the janitor. Idempotent; accepts
 * NULL. */
void cg_recorder_shutdown(cg_recorder *r);

/* Shuts down if needed and frees. Accepts NULL. */
void cg_recorder_free(cg_recorder *r);

/* The store (borrowed). */
cg_storage *cg_recorder_storage(cg_recorder *r);

/* What a lookup gives: copied fields and a timeline reference. */
typedef struct cg_recorder_info {
    char id[CG_TL_ID_MAX + 1];
    char stream[CG_STREAM_NAME_MAX + 1];
    char dir[CG_RECORDER_DIR_MAX]; /* storage prefix of its files */
    cg_timeline *tl;               /* a reference: cg_recorder_info_clear */
    int live;                      /* the timeline is not ended yet */
    int publishing;                /* a publisher feeds it right now */
    int running;                   /* its packager is not freed yet (live, or
                                    * ended moments ago) */
    int has_stats;                 /* stats are set (made in this run) */
    cg_packager_stats stats;
} cg_recorder_info;

/* Drops the timeline reference. Accepts a zeroed info. */
void cg_recorder_info_clear(cg_recorder_info *info);

/* Any thread. The broadcast with this id. Returns 0 (fills *out),
 * CG_ENOTFOUND, CG_EINVAL (bad id). */
int cg_recorder_find(cg_recorder *r, const char *id, cg_recorder_info *out);
/* Any thread. The live broadcast of a stream (publishing or within its
 * reconnect grace). Returns 0, CG_ENOTFOUND, CG_EINVAL. */
int cg_recorder_find_live(cg_recorder *r, const char *stream, cg_recorder_info *out);
/* Any thread. The latest broadcast of a stream, live or ended (its files
 * outlive the end for players still fetching them). Returns as find. */
int cg_recorder_find_latest(cg_recorder *r, const char *stream, cg_recorder_info *out);

/* Any thread. Gives every broadcast, newest first, as an array (free it
 * with cg_recorder_list_free). Returns 0 or CG_ENOMEM. */
int cg_recorder_list(cg_recorder *r, cg_recorder_info **out, size_t *n);
void cg_recorder_list_free(cg_recorder_info *list, size_t n);

/* Runs one retention pass now as if the wall clock read now_wall_us and
 * returns how many broadcasts were deleted (the janitor does this every
 * minute with the real clock). Blocking I/O; any thread but the loop. */
size_t cg_recorder_retention_pass(cg_recorder *r, uint64_t now_wall_us);

/* What happens to broadcasts, for listeners (the live events): borrowed
 * for the call. */
enum cg_recorder_event_type {
    CG_RECORDER_EV_STARTED = 1, /* a new broadcast (not a reconnect within grace) */
    CG_RECORDER_EV_SEGMENT,     /* a segment is published (stored and in the timeline) */
    CG_RECORDER_EV_ENDED,       /* the broadcast is over: last segment out, index ended */
};

typedef struct cg_recorder_event {
    int type; /* enum cg_recorder_event_type */
    const char *stream;
    const char *broadcast;
    int video, audio;  /* STARTED: the tracks recorded */
    uint64_t segment;  /* SEGMENT: its number, as in seg-<n>.m4s */
    double start_s;    /* SEGMENT: seconds since the broadcast's start */
    double duration_s; /* SEGMENT: its duration; ENDED: the broadcast's (end of its last
                        * segment) */
    uint64_t wall_us;  /* SEGMENT: wall clock of its first frame (the playlists' PDT) */
} cg_recorder_event;

/* Runs on the media loop (STARTED), the broadcast's packager worker
 * (SEGMENT; ENDED of an audio-only broadcast) or the thumbnail worker
 * (ENDED of a video broadcast, queued behind its last thumbnails so that
 * the thumbnail listener hears of them first, unless that queue was full).
 * A broadcast's events come in order: STARTED before its first SEGMENT
 * (raised before any frame reaches the packager), ENDED last. Copy what
 * you need; do not block and do not call back into the recorder. */
typedef void (*cg_recorder_listener_fn)(void *arg, const cg_recorder_event *ev);

/* Sets the listener (NULL: none). Call it before cg_recorder_attach; fn
 * and arg must stay valid until cg_recorder_shutdown returns. */
void cg_recorder_set_listener(cg_recorder *r, cg_recorder_listener_fn fn, void *arg);

/* Broadcast ids: "<stream>-<yyyymmddThhmmssZ>-<4 hex>" with the stream
 * name cut to fit CG_TL_ID_MAX. Writes the id for stream (a valid stream
 * name), wall-clock time wall_us and 16 random bits into out (at least
 * CG_TL_ID_MAX + 1 bytes). Returns 0, CG_EINVAL or CG_ENOSPC. */
int cg_recorder_make_id(const char *stream, uint64_t wall_us, uint16_t rnd, char *out, size_t cap);
/* The stream part of such an id (into out, CG_STREAM_NAME_MAX + 1 bytes);
 * for an id of another shape, the whole id. Returns 0, CG_EINVAL,
 * CG_ENOSPC. */
int cg_recorder_id_stream(const char *id, char *out, size_t cap);

#endif
