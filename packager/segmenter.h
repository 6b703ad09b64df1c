/* Segmenter: turns a broadcast's frames into an init segment per period
 * and media segments, deciding where segments start and end. Synchronous
 * and single-threaded: the packager runs it on its worker thread; tests
 * drive it directly.
 *
 * Rules:
 *  - A segment starts on a video keyframe (IDR with SPS/PPS) and is never
 *    cut mid-GOP: once the target duration is reached, the segment goes on
 *    until the next keyframe, and need_keyframe is raised (then again every
 *    target duration while none comes).
 *  - A hard maximum (max_segment_ms) bounds memory if keyframes never come:
 *    the segment is closed at the last frame, video and audio are dropped
 *    until the next keyframe, and the next segment is discontinuous.
 *  - New SPS/PPS on a keyframe, or cg_segmenter_discontinuity(), start a new
 *    period: a new init segment, EXT-X-DISCONTINUITY on the next segment.
 *    The media timeline goes on from the end of the last segment.
 *  - Audio-only broadcasts are cut on audio packets at the target.
 *  - Frames that cannot be decoded cleanly (CG_FRAME_CORRUPT, or video after
 *    a known loss, see cg_segmenter_gap) are dropped until the next
 *    keyframe; the previous picture is held over the gap.
 *
 * Time: the timeline starts at 0 on the first keyframe (first audio packet
 * for audio-only); timescale 90000 with video, 48000 without. Video samples
 * are held back by one frame so that each one's duration is exact (the
 * next frame's pts minus its own). */
#ifndef CG_SEGMENTER_H
#define CG_SEGMENTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

typedef struct cg_segmenter cg_segmenter;

enum cg_audio_out {
    CG_AUDIO_OUT_AAC = 0,  /* Opus transcoded to AAC-LC (default) */
    CG_AUDIO_OUT_OPUS = 1, /* Opus kept as is */
};

typedef struct cg_segment_out {
    const uint8_t *data; /* moof+mdat, borrowed for the callback */
    size_t len;
    uint32_t period;
    int discontinuity;
    int64_t start;    /* timeline units */
    int64_t duration; /* timeline units, > 0 */
    uint64_t wall_us;
    const int64_t *keys; /* keyframe times in timeline units, borrowed */
    uint32_t nkeys;
} cg_segment_out;

typedef struct cg_segmenter_cb {
    /* A new period's init segment (borrowed). Comes before its segments. */
    void (*on_init)(void *arg, uint32_t period, const uint8_t *data, size_t len);
    /* A finished media segment. */
    void (*on_segment)(void *arg, const cg_segment_out *seg);
    /* The segment is past its target and no keyframe has come; overdue in
     * timeline units. */
    void (*on_need_keyframe)(void *arg, int64_t overdue);
    void *arg;
} cg_segmenter_cb;

typedef struct cg_segmenter_cfg {
    int video;                /* the broadcast carries H.264 video */
    int audio;                /* the broadcast carries Opus audio */
    int audio_out;            /* cg_audio_out */
    uint32_t aac_bitrate;     /* bit/s, 0 = 128000 */
    uint32_t target_ms;       /* 0 = 2000 */
    uint32_t max_segment_ms;  /* 0 = 30000 */
    size_t max_segment_bytes; /* 0 = 64 MiB */
} cg_segmenter_cfg;

typedef struct cg_segmenter_stats {
    uint64_t frames;               /* handed to cg_segmenter_push */
    uint64_t dropped_before_start; /* before the first keyframe of a period */
    uint64_t dropped_wait_key;     /* video or audio dropped waiting for a keyframe */
    uint64_t dropped_corrupt;      /* marked corrupt */
    uint64_t dropped_bad_ts;       /* timestamps going backwards */
    uint64_t audio_errors;         /* Opus packets that would not decode */
    uint64_t keyframe_requests;
    uint64_t forced_cuts; /* segments closed by max_segment_ms */
    uint64_t segments;
    uint64_t periods;
    uint64_t mux_errors;
} cg_segmenter_stats;

/* Gives a segmenter; cfg and cb are copied. Returns 0, CG_EINVAL (no
 * track) or CG_ENOMEM. */
int cg_segmenter_new(cg_segmenter **out, const cg_segmenter_cfg *cfg, const cg_segmenter_cb *cb);
/* Accepts NULL. Does not flush: call cg_segmenter_finish first. */
void cg_segmenter_free(cg_segmenter *s);

/* Timeline timescale: 90000 with video, else 48000. */
uint32_t cg_segmenter_timescale(const cg_segmenter *s);

/* Consumes one frame (borrowed; a reference is kept while it is needed).
 * Returns 0 (including frames dropped by the rules above), CG_EINVAL, or
 * CG_ENOMEM; a muxer failure is counted and the segmenter restarts at the
 * next keyframe in a new period. */
int cg_segmenter_push(cg_segmenter *s, cg_frame *f);
/* Frames were lost upstream (queue full): drop video until a keyframe. */
void cg_segmenter_gap(cg_segmenter *s);
/* The publisher reconnected: close the current segment; the next keyframe
 * starts a new period flagged discontinuous. */
int cg_segmenter_discontinuity(cg_segmenter *s);
/* Ends the broadcast: flushes audio and the last segment. Later pushes
 * return CG_ESTATE. */
int cg_segmenter_finish(cg_segmenter *s);

void cg_segmenter_get_stats(const cg_segmenter *s, cg_segmenter_stats *st);

#endif
