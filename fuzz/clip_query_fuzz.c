/* Fuzzes the clip request syntax: cg_clip_parse_time and
 * cg_clip_parse_mode on raw client text, and the planner with whatever
 * times parse, on a small live and ended timeline. Invariants: a parsed
 * time is within [0, CG_CLIP_TIME_MAX_US]; a successful plan covers
 * segments of the timeline and starts at or after its keyframe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip/cutter.h"
#include "clip/range.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cg_tl_snap *snaps[2];

static void setup(void)
{
    for (int e = 0; e < 2; e++) {
        cg_timeline *tl = NULL;
        if (cg_timeline_new(&tl, "f1", 90000) != 0)
            abort();
        for (int i = 0; i < 4; i++) {
            int64_t keys[2] = {90000 + i * 180000, 180000 + i * 180000};
            cg_tl_segment s = {.seq = (uint64_t)i,
                               .period = i == 3,
                               .start = keys[0],
                               .duration = 180000,
                               .nkeys = i == 2 ? 0 : 2,
                               .keys = keys};
            if (cg_timeline_append(tl, &s) != 0)
                abort();
        }
        if (e)
            cg_timeline_set_ended(tl, 1);
        if (cg_timeline_snapshot(tl, &snaps[e]) != 0)
            abort();
        cg_timeline_unref(tl); /* the snapshot keeps it */
    }
}

static void check_plan(const cg_tl_snap *snap, const cg_clip_plan *p)
{
    if (p->first_seg > p->last_seg || p->last_seg >= cg_tl_snap_count(snap) ||
        p->keyframe_us > p->start_us || p->duration_us <= 0 || p->start_us < p->avail_start_us ||
        p->start_us + p->duration_us > p->avail_end_us)
        abort();
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 16);
    if (cg_clip_playlist(snap, p, "/r/", &d) != 0)
        abort();
    cg_dbuf_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!snaps[0])
        setup();
    /* Query values reach the parsers NUL-terminated; '&' splits the
     * input into time, duration and mode the way a query would. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *parts[3] = {s, NULL, NULL};
    for (int i = 1; i < 3; i++) {
        char *amp = parts[i - 1] ? strchr(parts[i - 1], '&') : NULL;
        if (amp) {
            *amp = '\0';
            parts[i] = amp + 1;
        }
    }
    int64_t t[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        if (!parts[i])
            continue;
        int64_t v = -7;
        int rc = cg_clip_parse_time(parts[i], &v);
        if (rc == 0 && (v < 0 || v > CG_CLIP_TIME_MAX_US))
            abort();
        if (rc != 0 && (rc != CG_EINVAL || v != -7))
            abort(); /* nothing written on failure */
        if (rc == 0)
            t[i] = v;
    }
    int mode = -7;
    int mrc = cg_clip_parse_mode(parts[2], &mode);
    if (mrc == 0 && mode != CG_CLIP_PRECISE && mode != CG_CLIP_KEYFRAME)
        abort();
    if (mrc != 0 && mode != -7)
        abort();
    if (mrc != 0)
        mode = CG_CLIP_PRECISE;
    char why[256];
    for (int e = 0; e < 2; e++) {
        cg_clip_plan p;
        if (t[0] >= 0 && t[1] >= 0 &&
            cg_clip_plan_range(snaps[e], t[0], t[1], mode, 600000000, &p, why, sizeof(why)) == 0)
            check_plan(snaps[e], &p);
        if (t[0] >= 0 &&
            cg_clip_plan_last(snaps[e], t[0], mode, 600000000, &p, why, sizeof(why)) == 0)
            check_plan(snaps[e], &p);
    }
    free(s);
    return 0;
}
