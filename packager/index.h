/* A broadcast's timeline index in a store: writing it as segments are
 * published, reading it back, and cleaning up after a crash.
 *
 * Layout under the broadcast's directory `dir` (a storage prefix such as
 * "recordings/<broadcast id>"): index.jsonl, init.mp4 (init-<n>.mp4 after
 * codec changes), seg-<seq>.m4s. The line format is in timeline.h.
 *
 * Blocking I/O: call from worker threads (packager, HTTP), never from the
 * media loop. */
#ifndef CG_INDEX_H
#define CG_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "packager/timeline.h"
#include "storage/storage.h"

/* Largest index accepted when loading (a week of 2 s segments is ~60 MB). */
#define CG_INDEX_MAX_BYTES (256u << 20)

/* Joins dir and a leaf into an object name. Returns 0, CG_EINVAL (the
 * result is not a valid name) or CG_ENOSPC. */
int cg_index_name(const char *dir, const char *leaf, char *out, size_t cap);

/* Creates dir/index.jsonl holding the broadcast line (never replaces an
 * existing index). Returns 0, CG_EEXIST, CG_EINVAL, CG_ENOSPC, CG_EIO. */
int cg_index_create(cg_storage *st, const char *dir, const cg_tl_info *info);
/* Appends one segment line (durable on return). Call only after the
 * segment file itself is published. Returns 0, CG_EINVAL, CG_ENOSPC,
 * CG_ENOMEM, CG_EIO; on failure the index is unchanged. */
int cg_index_append_segment(cg_storage *st, const char *dir, const cg_tl_segment *seg,
                            uint32_t timescale);
/* Appends the end line. Returns as cg_index_append_segment. */
int cg_index_append_end(cg_storage *st, const char *dir, uint64_t end_wall_us);

/* Reads dir/index.jsonl into a new timeline (given through *out) without
 * touching the store. Returns 0, CG_EINVAL, CG_ENOTFOUND, CG_EPROTO (no
 * broadcast line), CG_ENOSPC (index too large), CG_ENOMEM, CG_EIO. */
int cg_index_load(cg_storage *st, const char *dir, cg_timeline **out, cg_tl_load_report *report);

typedef struct cg_index_recovery {
    cg_tl_load_report load;
    size_t missing;         /* indexed segments whose file was absent or short */
    size_t partial_removed; /* unpublished uploads removed */
    size_t orphans_removed; /* published media files no index line names */
    int rewritten;          /* the index was rewritten without its bad lines */
    int ended_now;          /* the broadcast had no end line and got one */
} cg_index_recovery;

/* Brings a broadcast left by a crash (or a clean stop) into a consistent,
 * ended state and gives its timeline: removes unpublished uploads and media
 * files the index does not name, keeps the indexed segments up to the first
 * one whose file is missing or has the wrong size, rewrites the index
 * atomically if it had to drop anything, and appends an end line (end time:
 * the wall-clock end of the last segment) if there was none. Only call when
 * no packager writes under dir. report may be NULL. Returns as
 * cg_index_load, plus CG_ENOSPC/CG_EIO from the rewrite. */
int cg_index_recover(cg_storage *st, const char *dir, cg_timeline **out, cg_index_recovery *report);

#endif
