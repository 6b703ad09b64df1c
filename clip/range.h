/* Clip ranges: parsing the time syntax of clip requests and planning a
 * clip on a timeline snapshot. Sans-I/O: strings and a snapshot in,
 * numbers out; no clock is read (the live edge is the end of the last
 * published segment).
 *
 * Times are broadcast seconds (the timeline's media clock, counted from
 * the broadcast's first keyframe), carried in microseconds.
 *
 * Two cutting modes:
 *   precise   the clip shows exactly [start, start + duration): the MP4
 *             starts at the keyframe at or before start and an edit list
 *             hides the frames before start;
 *   keyframe  the clip starts at that keyframe itself (no edit list; what
 *             players without edit-list support show correctly). */
#ifndef CG_CLIP_RANGE_H
#define CG_CLIP_RANGE_H

#include <stddef.h>
#include <stdint.h>

#include "packager/timeline.h"

enum cg_clip_mode { CG_CLIP_PRECISE = 0, CG_CLIP_KEYFRAME = 1 };

/* Longest time string accepted, in bytes. */
#define CG_CLIP_TIME_MAX_LEN 64
/* Largest time accepted: 100 days, far beyond any clip or broadcast, and
 * small enough that no later arithmetic in microseconds or 90 kHz ticks
 * can overflow. */
#define CG_CLIP_TIME_MAX_US (100ll * 24 * 3600 * 1000000)

/* Parses a time: "600", "600.5", "600s", "5m", "1.5m", "1m30s", "1h2m3.5s"
 * (hours, minutes, seconds in that order, each at most once, each with an
 * optional fraction; a bare number is seconds). Fractions finer than a
 * microsecond are truncated. s is borrowed; *us is written only on
 * success. Returns 0 or CG_EINVAL (NULL, empty, sign, space, NaN/inf,
 * trailing garbage, longer than CG_CLIP_TIME_MAX_LEN, above
 * CG_CLIP_TIME_MAX_US). */
int cg_clip_parse_time(const char *s, int64_t *us);

/* "precise" or "keyframe"; NULL means precise. *mode is written only on
 * success. Returns 0 or CG_EINVAL. */
int cg_clip_parse_mode(const char *s, int *mode);

/* Static name of a mode ("precise", "keyframe"), "?" if unknown. */
const char *cg_clip_mode_name(int mode);

typedef struct cg_clip_plan {
    int64_t req_start_us, req_duration_us; /* as asked, broadcast time */
    int64_t keyframe_us;                   /* keyframe at or before req_start */
    /* What the clip shows: precise: start = req_start; keyframe: start =
     * keyframe_us. Either way the clip ends at req_start + req_duration:
     * the last frame in it is the last one before that instant. */
    int64_t start_us, duration_us;
    size_t first_seg, last_seg; /* snapshot indexes covering [keyframe, end) */
    int mode;
    int64_t retry_after_s;                /* CG_EAGAIN: seconds until the end exists */
    int64_t avail_start_us, avail_end_us; /* the broadcast's available range */
} cg_clip_plan;

/* Plans the clip [start_us, start_us + duration_us) on snap (borrowed).
 * max_duration_us 0 means no limit. why (may be NULL) receives a sentence
 * for the client on failure. *out is filled on success and, for CG_EAGAIN
 * and CG_ERANGE, with the retry time and the available range.
 * Returns 0;
 *   CG_EINVAL    duration <= 0 or above max_duration_us, start < 0, bad mode;
 *   CG_EAGAIN    a live broadcast has not reached the end yet
 *                (retry_after_s >= 1, rounded up);
 *   CG_ERANGE    the range starts before the first segment, or does not
 *                lie wholly inside an ended broadcast; avail_* filled;
 *   CG_ENOTFOUND the timeline has no segment. */
int cg_clip_plan_range(const cg_tl_snap *snap, int64_t start_us, int64_t duration_us, int mode,
                       uint64_t max_duration_us, cg_clip_plan *out, char *why, size_t why_cap);

/* The last last_us of the broadcast: start = live edge (end of the last
 * segment) - last_us. When the broadcast is shorter than that, the clip
 * is all of it (req_start = first segment's start). Returns as
 * cg_clip_plan_range (never CG_EAGAIN). */
int cg_clip_plan_last(const cg_tl_snap *snap, int64_t last_us, int mode, uint64_t max_duration_us,
                      cg_clip_plan *out, char *why, size_t why_cap);

#endif
