/* Timeline index persistence and crash recovery (see index.h). */
#include "packager/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* One index line is at most a few hundred bytes plus 21 per keyframe. */
#define LINE_MAX_BYTES (1024 + 24 * CG_TL_MAX_KEYS)

int cg_index_name(const char *dir, const char *leaf, char *out, size_t cap)
{
    if (!dir || !leaf)
        return CG_EINVAL;
    int n = dir[0] ? snprintf(out, cap, "%s/%s", dir, leaf) : snprintf(out, cap, "%s", leaf);
    if (n < 0 || (size_t)n >= cap)
        return CG_ENOSPC;
    return cg_storage_name_valid(out) ? 0 : CG_EINVAL;
}

static int append_line(cg_storage *st, const char *dir, const cg_dbuf *line)
{
    char name[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_dbuf_err(line);
    if (!rc)
        rc = cg_index_name(dir, CG_TL_INDEX_NAME, name, sizeof(name));
    if (!rc)
        rc = cg_storage_append(st, name, line->p, line->len);
    return rc;
}

int cg_index_create(cg_storage *st, const char *dir, const cg_tl_info *info)
{
    char name[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_index_name(dir, CG_TL_INDEX_NAME, name, sizeof(name));
    if (rc)
        return rc;
    cg_dbuf d;
    cg_dbuf_init(&d, LINE_MAX_BYTES);
    cg_tl_format_broadcast(info, &d);
    rc = cg_dbuf_err(&d);
    if (!rc)
        rc = cg_storage_put(st, name, d.p, d.len, CG_STORAGE_NOREPLACE);
    cg_dbuf_free(&d);
    return rc;
}

int cg_index_append_segment(cg_storage *st, const char *dir, const cg_tl_segment *seg,
                            uint32_t timescale)
{
    cg_dbuf d;
    cg_dbuf_init(&d, LINE_MAX_BYTES);
    cg_tl_format_segment(seg, timescale, &d);
    int rc = append_line(st, dir, &d);
    cg_dbuf_free(&d);
    return rc;
}

int cg_index_append_end(cg_storage *st, const char *dir, uint64_t end_wall_us)
{
    cg_dbuf d;
    cg_dbuf_init(&d, LINE_MAX_BYTES);
    cg_tl_format_end(end_wall_us, &d);
    int rc = append_line(st, dir, &d);
    cg_dbuf_free(&d);
    return rc;
}

int cg_index_load(cg_storage *st, const char *dir, cg_timeline **out, cg_tl_load_report *report)
{
    char name[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_index_name(dir, CG_TL_INDEX_NAME, name, sizeof(name));
    if (rc)
        return rc;
    cg_dbuf d;
    cg_dbuf_init(&d, CG_INDEX_MAX_BYTES);
    rc = cg_storage_get(st, name, &d);
    if (!rc)
        rc = cg_tl_load_text(d.p, d.len, out, report);
    cg_dbuf_free(&d);
    return rc;
}

/* Media file names the packager writes, parsed back: 1 for a segment
 * (*num = seq), 2 for an init segment (*num = period), 0 otherwise. */
static int media_kind(const char *leaf, uint64_t *num)
{
    const char *digits;
    const char *suffix;
    int kind;
    if (strncmp(leaf, "seg-", 4) == 0) {
        digits = leaf + 4;
        suffix = ".m4s";
        kind = 1;
    } else if (strcmp(leaf, "init.mp4") == 0) {
        *num = 0;
        return 2;
    } else if (strncmp(leaf, "init-", 5) == 0) {
        digits = leaf + 5;
        suffix = ".mp4";
        kind = 2;
    } else {
        return 0;
    }
    uint64_t v = 0;
    const char *p = digits;
    while (*p >= '0' && *p <= '9' && p - digits < 19)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == digits || strcmp(p, suffix) != 0)
        return 0;
    *num = v;
    return kind;
}

typedef struct orphan_ctx {
    cg_storage *st;
    size_t dir_len;
    uint64_t segments;   /* seg-<n> with n < segments are referenced */
    int64_t last_period; /* init-<p> with p <= last_period are; -1: none */
    size_t removed;
    /* Deleting while the backend walks a directory is not portable:
     * collect first. */
    char **names;
    size_t n, cap;
} orphan_ctx;

static int collect_orphan(void *arg, const char *name, const cg_storage_stat *st)
{
    orphan_ctx *c = arg;
    const char *leaf = name + c->dir_len + (c->dir_len ? 1 : 0);
    if (strchr(leaf, '/'))
        return 0; /* not ours: only direct children are media files */
    uint64_t num;
    int kind = media_kind(leaf, &num);
    int orphan = (kind == 1 && num >= c->segments) ||
                 (kind == 2 && (c->last_period < 0 || num > (uint64_t)c->last_period));
    if (!orphan)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **t = realloc(c->names, cap * sizeof(*t));
        if (!t)
            return CG_ENOMEM;
        c->names = t;
        c->cap = cap;
    }
    c->names[c->n] = strdup(name);
    if (!c->names[c->n])
        return CG_ENOMEM;
    c->n++;
    return 0;
}

/* Keeps the first `keep` segments of src in a new timeline. */
static int truncated_copy(cg_timeline *src, size_t keep, cg_timeline **out)
{
    cg_tl_snap *snap;
    int rc = cg_timeline_snapshot(src, &snap);
    if (rc)
        return rc;
    const cg_tl_info *info = cg_tl_snap_info(snap);
    cg_timeline *tl = NULL;
    rc = cg_timeline_new(&tl, info->id, info->timescale);
    if (!rc) {
        cg_timeline_set_start(tl, info->start_wall_us);
        for (size_t i = 0; i < keep && !rc; i++)
            rc = cg_timeline_append(tl, cg_tl_snap_seg(snap, i));
        if (!rc && info->state == CG_TL_ENDED)
            cg_timeline_set_ended(tl, info->end_wall_us);
    }
    cg_tl_snap_free(snap);
    if (rc) {
        cg_timeline_unref(tl);
        return rc;
    }
    *out = tl;
    return 0;
}

static int rewrite_index(cg_storage *st, const char *dir, cg_timeline *tl)
{
    cg_tl_snap *snap;
    int rc = cg_timeline_snapshot(tl, &snap);
    if (rc)
        return rc;
    const cg_tl_info *info = cg_tl_snap_info(snap);
    cg_dbuf d;
    cg_dbuf_init(&d, CG_INDEX_MAX_BYTES);
    cg_tl_format_broadcast(info, &d);
    for (size_t i = 0; i < cg_tl_snap_count(snap); i++)
        cg_tl_format_segment(cg_tl_snap_seg(snap, i), info->timescale, &d);
    if (info->state == CG_TL_ENDED)
        cg_tl_format_end(info->end_wall_us, &d);
    char name[CG_STORAGE_NAME_MAX + 1];
    rc = cg_dbuf_err(&d);
    if (!rc)
        rc = cg_index_name(dir, CG_TL_INDEX_NAME, name, sizeof(name));
    if (!rc)
        rc = cg_storage_put(st, name, d.p, d.len, 0);
    cg_dbuf_free(&d);
    cg_tl_snap_free(snap);
    return rc;
}

int cg_index_recover(cg_storage *st, const char *dir, cg_timeline **out, cg_index_recovery *report)
{
    cg_index_recovery rep;
    memset(&rep, 0, sizeof(rep));
    if (!st || !out || !cg_storage_prefix_valid(dir))
        return CG_EINVAL;
    int rc = cg_storage_discard_partial(st, dir, &rep.partial_removed);
    if (rc)
        return rc;
    cg_timeline *tl = NULL;
    rc = cg_index_load(st, dir, &tl, &rep.load);
    if (rc)
        return rc;

    /* Every kept line must name a complete file: the index is appended
     * after the rename, so a mismatch means the store lost data. Keep the
     * recording up to there. */
    cg_tl_snap *snap = NULL;
    rc = cg_timeline_snapshot(tl, &snap);
    if (rc) {
        cg_timeline_unref(tl);
        return rc;
    }
    size_t count = cg_tl_snap_count(snap);
    size_t keep = 0;
    while (!rc && keep < count) {
        const cg_tl_segment *seg = cg_tl_snap_seg(snap, keep);
        char leaf[32], name[CG_STORAGE_NAME_MAX + 1];
        cg_storage_stat sst;
        cg_tl_segment_name(seg->seq, leaf, sizeof(leaf));
        rc = cg_index_name(dir, leaf, name, sizeof(name));
        if (!rc) {
            int src = cg_storage_stat_obj(st, name, &sst);
            if (src == CG_ENOTFOUND || (!src && sst.size != seg->bytes))
                break;
            rc = src;
        }
        if (!rc) {
            cg_tl_init_name(seg->period, leaf, sizeof(leaf));
            rc = cg_index_name(dir, leaf, name, sizeof(name));
        }
        if (!rc) {
            int src = cg_storage_stat_obj(st, name, &sst);
            if (src == CG_ENOTFOUND)
                break;
            rc = src;
        }
        if (!rc)
            keep++;
    }
    rep.missing = count - keep;
    uint64_t end_wall = cg_tl_snap_info(snap)->start_wall_us;
    int64_t last_period = -1;
    if (!rc && keep) {
        const cg_tl_segment *last = cg_tl_snap_seg(snap, keep - 1);
        uint32_t ts = cg_tl_snap_info(snap)->timescale;
        end_wall = last->wall_us + (uint64_t)last->duration * 1000000u / ts;
        last_period = last->period;
    }
    cg_tl_snap_free(snap);
    if (!rc && keep < count) {
        cg_timeline *t2 = NULL;
        rc = truncated_copy(tl, keep, &t2);
        if (!rc) {
            cg_timeline_unref(tl);
            tl = t2;
        }
    }

    /* Media files that no kept line names: written before a crash cut the
     * index append, or beyond a missing segment. */
    orphan_ctx oc = {
        .st = st, .dir_len = strlen(dir), .segments = keep, .last_period = last_period};
    if (!rc) {
        rc = cg_storage_list(st, dir, collect_orphan, &oc);
        if (rc == CG_ENOTFOUND)
            rc = 0;
    }
    for (size_t i = 0; i < oc.n; i++) {
        if (!rc && cg_storage_del(st, oc.names[i]) == 0)
            rep.orphans_removed++;
        free(oc.names[i]);
    }
    free(oc.names);

    cg_tl_info info;
    cg_timeline_info(tl, &info);
    if (!rc && info.state != CG_TL_ENDED) {
        cg_timeline_set_ended(tl, end_wall);
        rep.ended_now = 1;
    }
    if (!rc && (rep.load.bad_lines || rep.load.torn_tail || rep.missing)) {
        /* Rewrite whole (atomic replace): appending after a torn line
         * would glue the next record onto it. */
        rc = rewrite_index(st, dir, tl);
        rep.rewritten = rc == 0;
    } else if (!rc && rep.ended_now) {
        rc = cg_index_append_end(st, dir, end_wall);
    }
    if (rc) {
        cg_timeline_unref(tl);
        return rc;
    }
    if (report)
        *report = rep;
    *out = tl;
    return 0;
}
