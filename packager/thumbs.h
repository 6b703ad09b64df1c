/* Thumbnailer: one small JPEG per published video segment, made from the
 * segment's first picture (its keyframe), for timelines in the clip studio.
 *
 * Threads and queues:
 *   packager worker ──cg_thumbs_submit──► bounded job queue ──► thumb worker
 *                                                                storage reads,
 *                                                                libavformat demux,
 *                                                                H.264 decode,
 *                                                                libswscale, mjpeg,
 *                                                                storage put
 *   thumb worker ──on_done──► the owner's callback (the recorder)
 * cg_thumbs_submit never blocks: when the queue is full the segment gets no
 * thumbnail (skipped and counted). Nothing here runs on the media loop.
 *
 * A job reads the broadcast's stored init segment and the media segment as
 * one fragmented MP4 through the storage interface (a custom AVIOContext;
 * nothing is staged on disk), decodes exactly one picture (the segment's
 * first video packet, a keyframe) with a decoder made for the job, scales
 * it to `width` pixels wide keeping the aspect (even height) and encodes a
 * baseline JPEG (full-range 4:2:0) that is published atomically as
 * <dir>/thumb-<seq>.jpg beside the segment; an existing thumbnail is kept.
 * A decoder per job costs a few hundred microseconds and needs no state
 * across segments, reconnects or codec changes.
 *
 * Failures (a segment without video, an undecodable keyframe, a storage
 * error) are counted, reported to on_done and logged once per broadcast. */
#ifndef CG_THUMBS_H
#define CG_THUMBS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hub.h"
#include "packager/timeline.h"
#include "storage/storage.h"

typedef struct cg_thumbs cg_thumbs;

#define CG_THUMBS_WIDTH 320
#define CG_THUMBS_QSCALE 5 /* mjpeg quantizer: 2 (best) .. 31 */
#define CG_THUMBS_QUEUE 32 /* jobs waiting; about a minute of 2 s segments */
#define CG_THUMBS_MAX_BYTES (1u << 20)
#define CG_THUMBS_DIR_MAX (CG_TL_ID_MAX + 32)

/* What to make: the thumbnail of segment seq of a broadcast whose files
 * live under the storage prefix dir, with the init segment of period. */
typedef struct cg_thumbs_job {
    char dir[CG_THUMBS_DIR_MAX];
    char broadcast[CG_TL_ID_MAX + 1];
    char stream[CG_STREAM_NAME_MAX + 1];
    uint64_t seq;
    uint32_t period;
} cg_thumbs_job;

/* The outcome of one job, borrowed for the callback. */
typedef struct cg_thumbs_result {
    const cg_thumbs_job *job;
    int err;          /* 0: stored (or already there); else a CG_E* code */
    const char *name; /* the JPEG's object name */
    int width, height;
    uint64_t work_us; /* reading, decoding, scaling and encoding */
} cg_thumbs_result;

/* Runs on the thumb worker. Do not block for long and do not call
 * cg_thumbs_submit or cg_thumbs_free from here. */
typedef void (*cg_thumbs_done_fn)(void *arg, const cg_thumbs_result *res);

typedef struct cg_thumbs_cfg {
    size_t queue_len; /* 0: CG_THUMBS_QUEUE */
    int width;        /* even, 16..4096; 0: CG_THUMBS_WIDTH */
    int qscale;       /* 2..31; 0: CG_THUMBS_QSCALE */
    cg_thumbs_done_fn on_done;
    void *done_arg;
} cg_thumbs_cfg;

/* Gives a thumbnailer writing into st (borrowed, must outlive it) and
 * starts its worker. cfg is copied. Returns 0, CG_EINVAL, CG_ENOMEM,
 * CG_EIO (thread). */
int cg_thumbs_new(cg_thumbs **out, cg_storage *st, const cg_thumbs_cfg *cfg);

/* Any thread; never blocks. Queues a copy of job. Returns 0, CG_EFULL
 * (queue full: the segment is skipped and counted), CG_ESTATE (stopping),
 * CG_EINVAL, CG_ENOMEM (counted as skipped too). */
int cg_thumbs_submit(cg_thumbs *t, const cg_thumbs_job *job);

/* Any thread; never blocks. Queues fn(arg) to run on the worker once every
 * job queued before it is done (and its on_done called): what is told
 * after it then follows those jobs' outcomes, e.g. a broadcast's end after
 * its last thumbnails. Returns 0, CG_EFULL (queue full), CG_ESTATE
 * (stopping), CG_ENOMEM, CG_EINVAL; on any error fn was not queued and
 * the caller runs it itself. */
int cg_thumbs_after(cg_thumbs *t, void (*fn)(void *arg), void *arg);

/* Makes what is queued, then stops the worker and waits for it (blocks:
 * not on the media loop). Later submits get CG_ESTATE. Idempotent. */
void cg_thumbs_stop(cg_thumbs *t);
/* Stops if needed and frees. Accepts NULL. */
void cg_thumbs_free(cg_thumbs *t);

typedef struct cg_thumbs_stats {
    uint64_t made;    /* JPEGs stored */
    uint64_t failed;  /* jobs that ended in an error */
    uint64_t skipped; /* segments refused because the queue was full */
    uint64_t work_us; /* time spent making them, all jobs */
    size_t queued;
} cg_thumbs_stats;

/* Thread-safe. */
void cg_thumbs_get_stats(cg_thumbs *t, cg_thumbs_stats *out);

/* The work of one job without the queue or the put, for tests and
 * benchmarks: reads init_name then seg_name from st as one fragmented MP4,
 * decodes the first video picture and appends its JPEG (width pixels wide,
 * quantizer qscale; 0 for the defaults) to jpeg (initialised by the caller
 * with its maximum). *w and *h (may be NULL) get the JPEG's size. Blocking.
 * Returns 0, CG_EINVAL, CG_ENOTFOUND (an object is missing), CG_EUNSUPP
 * (no H.264 track), CG_EPROTO (no picture could be decoded, or the first
 * video packet is no keyframe), CG_ENOSPC (jpeg's maximum), CG_ENOMEM,
 * CG_EIO. */
int cg_thumbs_make(cg_storage *st, const char *init_name, const char *seg_name, int width,
                   int qscale, cg_dbuf *jpeg, int *w, int *h);

/* Object names relative to the broadcast's directory: "thumb-<seq>.jpg".
 * Returns 0 or CG_ENOSPC (32 bytes always suffice). */
int cg_thumbs_name(uint64_t seq, char *out, size_t cap);
/* 1 if leaf is exactly such a name (canonical digits); *seq gets the
 * number. */
int cg_thumbs_parse_name(const char *leaf, uint64_t *seq);
/* The thumbnail's URL path, "/recordings/<broadcast>/thumbs/<seq>.jpg".
 * Returns 0 or CG_ENOSPC. */
int cg_thumbs_url(const char *broadcast, uint64_t seq, char *out, size_t cap);

#endif
