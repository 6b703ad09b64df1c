/* Packager: one per broadcast. Takes the broadcast's frames from the media
 * loop, segments and muxes them on its own worker thread, publishes init
 * and media segments to storage and keeps the broadcast's timeline (in
 * memory for playlists, in index.jsonl for restarts and clips).
 *
 * Threads and queues:
 *   media loop ──cg_packager_push──► bounded queue ──► worker thread
 *                                                      segmenter, libav*,
 *                                                      storage writes
 *   worker ──on_event──► the lead's callback (post it to your loop)
 *   any thread ──cg_packager_timeline──► snapshots for playlists
 * cg_packager_push never blocks: when the queue is full the new frame is
 * dropped and counted (drop newest), and after a dropped video frame the
 * worker waits for the next keyframe so no picture is decoded without its
 * references. push, discontinuity and finish come from one producer
 * thread (the media loop).
 *
 * Storage layout under cfg.dir: index.jsonl, init.mp4 (init-<n>.mp4 after
 * a reconnect or codec change), seg-<seq>.m4s. A segment is renamed into
 * place first and its index line appended after, so the index never names
 * a missing file. When a write fails (full disk) the segment is dropped,
 * the broadcast is marked degraded, WRITE_FAILED is raised, earlier
 * segments stay intact, and the next segment is tried again (flagged
 * discontinuous). The ingest side is never slowed down by storage. */
#ifndef CG_PACKAGER_H
#define CG_PACKAGER_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "packager/segmenter.h"
#include "packager/timeline.h"
#include "storage/storage.h"

typedef struct cg_packager cg_packager;

enum cg_packager_event_type {
    CG_PACKAGER_EV_SEGMENT = 1,   /* a segment is published: seq, start, duration, bytes */
    CG_PACKAGER_EV_NEED_KEYFRAME, /* send PLI/FIR to the publisher (rate-limit it there too) */
    CG_PACKAGER_EV_WRITE_FAILED,  /* a segment could not be stored (err); degraded */
    CG_PACKAGER_EV_RECOVERED,     /* a segment was stored again after failures */
    CG_PACKAGER_EV_ENDED,         /* finish is complete: last segment out, timeline ended */
};

typedef struct cg_packager_event {
    int type;
    const char *broadcast_id; /* borrowed for the call */
    uint64_t seq;
    uint32_t period;  /* SEGMENT: the init segment it needs (init-<period>.mp4) */
    int64_t start;    /* timeline units */
    int64_t duration; /* timeline units */
    uint32_t timescale;
    uint64_t bytes;
    /* SEGMENT: capture wall clock of its first frame (the playlists' PDT) */
    uint64_t wall_us;
    int64_t overdue; /* NEED_KEYFRAME: how far past the target, timeline units */
    int err;         /* WRITE_FAILED: CG_E* code */
} cg_packager_event;

/* Runs on the worker thread. Copy what you need and post it to your own
 * loop; do not block, and do not call cg_packager_push/finish/free from
 * here (stats and timeline reads are fine). */
typedef void (*cg_packager_event_fn)(void *arg, const cg_packager_event *ev);

typedef struct cg_packager_cfg {
    const char *dir;         /* storage prefix (copied); NULL: the broadcast id */
    int video;               /* the broadcast has H.264 video (from the SDP) */
    int audio;               /* the broadcast has Opus audio */
    int audio_out;           /* CG_AUDIO_OUT_AAC (default) or CG_AUDIO_OUT_OPUS */
    uint32_t aac_bitrate;    /* bit/s, default 128000 */
    uint32_t target_ms;      /* segment target, default 2000 */
    uint32_t max_segment_ms; /* hard cap without keyframes, default 30000 */
    size_t queue_len;        /* frames, default 512 */
    uint64_t start_wall_us;  /* broadcast start; 0: the first keyframe's wall_us */
    cg_packager_event_fn on_event;
    void *event_arg;
} cg_packager_cfg;

/* Defaults: video and audio, AAC 128 kb/s, 2 s target, 30 s cap, queue
 * 512, no callback. */
void cg_packager_cfg_default(cg_packager_cfg *cfg);

/* Gives a packager for a new broadcast and starts its worker. st is
 * borrowed and must outlive the packager; broadcast_id and cfg are copied.
 * Nothing is written until the first segment (so new() does no I/O); if
 * an index already exists under the directory, every segment fails with
 * CG_EEXIST (broadcast ids must be unique). Returns 0, CG_EINVAL (bad id
 * or directory, no track), CG_ENOMEM, CG_EIO (thread). */
int cg_packager_new(cg_packager **out, cg_storage *st, const char *broadcast_id,
                    const cg_packager_cfg *cfg);

/* Queues a frame; takes a reference on success and never blocks. Returns
 * 0, CG_EFULL (queue full: dropped and counted), CG_ESTATE (finished),
 * CG_EINVAL. */
int cg_packager_push(cg_packager *p, cg_frame *f);

/* The publisher reconnected within the grace period: the next keyframe
 * starts a new period (new init segment, EXT-X-DISCONTINUITY). Ordered
 * with the frames. Returns 0 or CG_ESTATE. */
int cg_packager_discontinuity(cg_packager *p);

/* Ends the broadcast without blocking: frames already queued are still
 * packaged, the last segment is published, the index gets its end line and
 * the timeline is marked ended; then CG_PACKAGER_EV_ENDED. Returns 0 or
 * CG_ESTATE (already finished). */
int cg_packager_finish(cg_packager *p);

/* Finishes if needed, waits for the worker, frees. Accepts NULL. Blocks
 * until the queue is drained: call it after EV_ENDED, or off the loop. */
void cg_packager_free(cg_packager *p);

/* The live timeline (borrowed; valid until cg_packager_free, or longer
 * with cg_timeline_ref). Thread-safe. */
cg_timeline *cg_packager_timeline(cg_packager *p);

typedef struct cg_packager_stats {
    uint64_t frames_in;           /* queued */
    uint64_t frames_dropped_full; /* refused because the queue was full */
    size_t queue_len;
    size_t queue_cap;
    uint64_t segments;      /* published */
    uint64_t bytes;         /* media bytes published (segments + inits) */
    uint64_t write_errors;  /* storage operations that failed */
    uint64_t segments_lost; /* segments that could not be stored */
    int degraded;           /* a segment was lost in this broadcast */
    int failing;            /* the last segment could not be stored */
    int ended;
    cg_segmenter_stats seg; /* the worker's segmenter counters */
} cg_packager_stats;

/* Thread-safe. */
void cg_packager_get_stats(cg_packager *p, cg_packager_stats *st);

#endif
