/* Timeline of one broadcast: the list of published segments with their
 * exact media timing, wall-clock start, size and keyframe positions. It
 * feeds the playlists, the preview window and the clip service.
 *
 * Threads: one writer (the packager's worker) appends; any thread reads
 * through snapshots. Segments live in fixed-size chunks that never move,
 * and a published segment is never modified, so a snapshot is a copy of
 * the chunk table and a count taken under the mutex: cheap, and readers
 * never hold the lock while they format a playlist.
 *
 * Persistence: index.jsonl beside the segments, one JSON object per line:
 *   {"type":"broadcast","v":1,"id":"b1","timescale":90000,"start_wall_us":...}
 *   {"type":"segment","seq":0,"period":0,"start":0,"duration":180000,
 *    "start_s":0.000000,"duration_s":2.000000,"wall_us":...,"bytes":123,
 *    "keys":[0,90000],"disc":false}
 *   {"type":"end","wall_us":...}
 * A segment line is appended (and fsync'ed) only after the segment file is
 * in place, so every line names a complete file. The loader keeps the
 * longest run of valid, consecutive segment lines and drops the rest (a
 * torn last line after a crash). The "*_s" fields are for humans and other
 * tools; the loader reads the exact integer fields.
 *
 * Media time: start and duration are in `timescale` units (90000 when the
 * broadcast has video, 48000 for audio-only) counted from the broadcast's
 * first keyframe. Segment n+1 usually starts where n ends; after lost
 * segments (full disk) it starts later and is flagged discontinuous. */
#ifndef CG_TIMELINE_H
#define CG_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct cg_timeline cg_timeline;
typedef struct cg_tl_snap cg_tl_snap;

#define CG_TL_ID_MAX 64     /* broadcast id length, [A-Za-z0-9_-] */
#define CG_TL_MAX_KEYS 1024 /* keyframes recorded per segment */
#define CG_TL_MAX_SEGMENTS (1u << 22)

enum cg_tl_seg_flags {
    /* Not continuous with the previous segment: reconnect, lost segments,
     * or new codec parameters. Playlists write EXT-X-DISCONTINUITY. */
    CG_TL_DISCONTINUITY = 1u << 0,
};

typedef struct cg_tl_segment {
    uint64_t seq;     /* 0, 1, 2... = index in the timeline = file seg-<seq>.m4s */
    uint32_t period;  /* init segment in force: 0 -> init.mp4, n -> init-<n>.mp4 */
    uint32_t flags;   /* cg_tl_seg_flags */
    int64_t start;    /* timescale units since the broadcast's start */
    int64_t duration; /* timescale units, > 0 */
    uint64_t wall_us; /* capture wall-clock time of the first frame */
    uint64_t bytes;   /* size of the segment file */
    uint32_t nkeys;
    const int64_t *keys; /* keyframe times, same clock as start; borrowed */
} cg_tl_segment;

enum cg_tl_state {
    CG_TL_LIVE = 0,
    CG_TL_ENDED = 1,
};

/* Broadcast-level facts, copied into every snapshot. */
typedef struct cg_tl_info {
    char id[CG_TL_ID_MAX + 1];
    uint32_t timescale;
    uint64_t start_wall_us; /* 0 until the first frame is seen */
    uint64_t end_wall_us;   /* 0 while live */
    int state;              /* cg_tl_state */
    int degraded;           /* a write failed during this broadcast */
    uint64_t lost_segments; /* segments that could not be stored */
} cg_tl_info;

/* 1 if id is a valid broadcast id: 1..64 of [A-Za-z0-9_-]. */
int cg_tl_id_valid(const char *id);

/* Gives an empty, live timeline with one reference. id is copied.
 * Returns 0, CG_EINVAL (bad id, timescale 0) or CG_ENOMEM. */
int cg_timeline_new(cg_timeline **out, const char *id, uint32_t timescale);
/* Takes a reference; returns tl. Thread-safe. */
cg_timeline *cg_timeline_ref(cg_timeline *tl);
/* Drops a reference; the last one frees. Returns NULL; accepts NULL. */
cg_timeline *cg_timeline_unref(cg_timeline *tl);

/* Writer side (one thread). cg_timeline_append copies seg and its keys.
 * seg->seq must equal the current count. Returns 0, CG_EINVAL (wrong seq,
 * duration <= 0, too many keys), CG_ESTATE (ended), CG_ELIMIT (full) or
 * CG_ENOMEM. */
int cg_timeline_append(cg_timeline *tl, const cg_tl_segment *seg);
void cg_timeline_set_start(cg_timeline *tl, uint64_t start_wall_us);
void cg_timeline_set_ended(cg_timeline *tl, uint64_t end_wall_us);
/* Marks the broadcast degraded (sticky) and counts lost segments. */
void cg_timeline_add_lost(cg_timeline *tl, uint64_t lost);

/* Cheap reads under the lock. */
size_t cg_timeline_count(cg_timeline *tl);
void cg_timeline_info(cg_timeline *tl, cg_tl_info *out);

/* Gives an immutable view of the timeline as it is now (free it with
 * cg_tl_snap_free); it keeps the timeline alive. Returns 0 or CG_ENOMEM. */
int cg_timeline_snapshot(cg_timeline *tl, cg_tl_snap **out);
/* Accepts NULL. */
void cg_tl_snap_free(cg_tl_snap *s);
size_t cg_tl_snap_count(const cg_tl_snap *s);
/* Borrowed, valid while the snapshot lives; i < count. */
const cg_tl_segment *cg_tl_snap_seg(const cg_tl_snap *s, size_t i);
const cg_tl_info *cg_tl_snap_info(const cg_tl_snap *s);
/* Index of the segment containing media time t (timescale units): the last
 * segment whose start <= t. Returns 0 and *idx, or CG_ENOTFOUND (before the
 * first segment, after the last one's end, or empty). */
int cg_tl_snap_find(const cg_tl_snap *s, int64_t t, size_t *idx);

/* Object names relative to the broadcast's directory. Return 0 or
 * CG_ENOSPC when out is too small (32 bytes always suffice). */
int cg_tl_segment_name(uint64_t seq, char *out, size_t cap);
int cg_tl_init_name(uint32_t period, char *out, size_t cap);
#define CG_TL_INDEX_NAME "index.jsonl"

/* --- index lines (sans-I/O) --- */

enum cg_tl_line_type {
    CG_TL_LINE_BROADCAST = 1,
    CG_TL_LINE_SEGMENT = 2,
    CG_TL_LINE_END = 3,
};

/* One parsed index line. seg.keys points into keys[]. */
typedef struct cg_tl_line {
    int type;
    char id[CG_TL_ID_MAX + 1];
    uint32_t timescale;
    uint64_t wall_us; /* broadcast: start; end: end */
    cg_tl_segment seg;
    int64_t keys[CG_TL_MAX_KEYS];
} cg_tl_line;

/* Appends one line (with its '\n') to out. */
void cg_tl_format_broadcast(const cg_tl_info *info, cg_dbuf *out);
void cg_tl_format_segment(const cg_tl_segment *seg, uint32_t timescale, cg_dbuf *out);
void cg_tl_format_end(uint64_t end_wall_us, cg_dbuf *out);

/* Parses one line (without its '\n'; borrowed). Unknown keys are skipped
 * so that later versions can add fields. Returns 0, CG_EPROTO (not a
 * well-formed object, missing or out-of-range field), CG_EUNSUPP (unknown
 * type or version) or CG_ELIMIT (too many keys). */
int cg_tl_parse_line(const char *p, size_t len, cg_tl_line *out);

/* What the loader dropped. */
typedef struct cg_tl_load_report {
    size_t lines;     /* complete lines seen */
    size_t bad_lines; /* lines that did not parse or did not fit */
    int torn_tail;    /* the text did not end with '\n' */
    size_t segments;  /* segments kept */
} cg_tl_load_report;

/* Rebuilds a timeline from the text of an index (borrowed). The first
 * valid line must be the broadcast line; segment lines must follow in seq
 * order from 0; a line that breaks the sequence is dropped, as is a torn
 * last line. An end line marks the timeline ended. Gives a new timeline.
 * Returns 0, CG_EPROTO (no broadcast line), CG_ENOMEM. report may be
 * NULL. */
int cg_tl_load_text(const char *text, size_t len, cg_timeline **out, cg_tl_load_report *report);

#endif
