/* Clip time syntax and range planning on timeline snapshots. */
#include "clip/range.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define US_PER_S 1000000ll

/* One "<digits>[.<digits>]" number at *p, as microseconds times unit_us.
 * Advances *p. Returns 0 or CG_EINVAL (no digits, above the maximum). */
static int parse_number(const char **p, int64_t unit_us, int64_t *out)
{
    const char *s = *p;
    int64_t whole = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        whole = whole * 10 + (*s - '0');
        if (whole > CG_CLIP_TIME_MAX_US)
            return CG_EINVAL;
    }
    if (!digits)
        return CG_EINVAL;
    /* Twelve fraction digits are more than a microsecond of an hour
     * needs; the rest only truncate. */
    int64_t frac_n = 0, frac_scale = 1;
    if (*s == '.') {
        s++;
        int fd = 0;
        for (; *s >= '0' && *s <= '9'; s++, fd++) {
            if (fd < 12) {
                frac_n = frac_n * 10 + (*s - '0');
                frac_scale *= 10;
            }
        }
        if (!fd)
            return CG_EINVAL;
    }
    if (whole > CG_CLIP_TIME_MAX_US / unit_us)
        return CG_EINVAL;
    /* frac_n < frac_scale <= 1e12 and unit_us <= 3.6e9: the product
     * needs 128 bits. */
    int64_t frac_us = (int64_t)((__int128)frac_n * unit_us / frac_scale);
    *out = whole * unit_us + frac_us;
    *p = s;
    return 0;
}

int cg_clip_parse_time(const char *s, int64_t *us)
{
    if (!s || !us || !*s)
        return CG_EINVAL;
    if (strnlen(s, CG_CLIP_TIME_MAX_LEN + 1) > CG_CLIP_TIME_MAX_LEN)
        return CG_EINVAL;
    static const struct {
        char suffix;
        int64_t unit_us;
    } units[] = {
        {.suffix = 'h', .unit_us = 3600 * US_PER_S},
        {.suffix = 'm', .unit_us = 60 * US_PER_S},
        {.suffix = 's', .unit_us = US_PER_S},
    };
    const char *p = s;
    int64_t total = 0;
    size_t next_unit = 0; /* units must come in decreasing order */
    int parts = 0;
    while (*p) {
        /* Look ahead for the unit letter to scale the number exactly. */
        const char *q = p;
        while ((*q >= '0' && *q <= '9') || *q == '.')
            q++;
        size_t u = next_unit;
        while (u < sizeof(units) / sizeof(units[0]) && units[u].suffix != *q)
            u++;
        int64_t v;
        if (*q == '\0') {
            /* A bare number: seconds, and only on its own. */
            if (parts)
                return CG_EINVAL;
            if (parse_number(&p, US_PER_S, &v) || p != q)
                return CG_EINVAL;
        } else {
            if (u == sizeof(units) / sizeof(units[0]))
                return CG_EINVAL; /* unknown, repeated or out-of-order unit */
            if (parse_number(&p, units[u].unit_us, &v) || p != q)
                return CG_EINVAL;
            p++;
            next_unit = u + 1;
        }
        total += v;
        if (total > CG_CLIP_TIME_MAX_US)
            return CG_EINVAL;
        parts++;
    }
    *us = total;
    return 0;
}

int cg_clip_parse_mode(const char *s, int *mode)
{
    if (!mode)
        return CG_EINVAL;
    if (!s || strcmp(s, "precise") == 0) {
        *mode = CG_CLIP_PRECISE;
        return 0;
    }
    if (strcmp(s, "keyframe") == 0) {
        *mode = CG_CLIP_KEYFRAME;
        return 0;
    }
    return CG_EINVAL;
}

const char *cg_clip_mode_name(int mode)
{
    switch (mode) {
    case CG_CLIP_PRECISE:
        return "precise";
    case CG_CLIP_KEYFRAME:
        return "keyframe";
    default:
        return "?";
    }
}

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* Ticks of the timeline clock <-> microseconds. Inputs are bounded (by
 * CG_CLIP_TIME_MAX_US or by the timeline), so 128-bit products suffice. */
static int64_t to_ticks_floor(int64_t us, uint32_t ts)
{
    __int128 v = (__int128)us * ts;
    int64_t q = (int64_t)(v / US_PER_S);
    if (v < 0 && v % US_PER_S)
        q--;
    return q;
}

static int64_t to_ticks_ceil(int64_t us, uint32_t ts)
{
    return -to_ticks_floor(-us, ts);
}

static int64_t to_us(int64_t ticks, uint32_t ts)
{
    return (int64_t)((__int128)ticks * US_PER_S / ts);
}

/* Rounded up (ticks >= 0). */
static int64_t to_us_ceil(int64_t ticks, uint32_t ts)
{
    return (int64_t)(((__int128)ticks * US_PER_S + ts - 1) / ts);
}

static int64_t seg_end(const cg_tl_segment *s)
{
    return s->start + s->duration;
}

/* The latest keyframe at or before t, searching back from segment i.
 * Segments start on keyframes, so this normally ends in segment i; a
 * segment cut without one (the hard cap) sends the search back. */
static int find_keyframe(const cg_tl_snap *snap, size_t i, int64_t t, int64_t *key, size_t *seg)
{
    for (;;) {
        const cg_tl_segment *s = cg_tl_snap_seg(snap, i);
        for (uint32_t k = s->nkeys; k-- > 0;) {
            if (s->keys[k] <= t) {
                *key = s->keys[k];
                *seg = i;
                return 0;
            }
        }
        if (i == 0)
            return CG_ENOTFOUND;
        i--;
    }
}

static void fmt_s(char *out, size_t cap, int64_t us)
{
    snprintf(out, cap, "%lld.%03lld", (long long)(us / US_PER_S),
             (long long)((us % US_PER_S) / 1000));
}

static int plan(const cg_tl_snap *snap, int64_t start_us, int64_t duration_us, int mode,
                uint64_t max_duration_us, cg_clip_plan *out, char *why, size_t why_cap)
{
    char a[32], b[32];
    if (!snap || !out)
        return CG_EINVAL;
    memset(out, 0, sizeof(*out));
    out->mode = mode;
    out->req_start_us = start_us;
    out->req_duration_us = duration_us;
    if (mode != CG_CLIP_PRECISE && mode != CG_CLIP_KEYFRAME) {
        say(why, why_cap, "Unknown clip mode: use precise or keyframe.");
        return CG_EINVAL;
    }
    if (duration_us <= 0) {
        say(why, why_cap, "The clip duration must be more than 0 seconds.");
        return CG_EINVAL;
    }
    if (duration_us > CG_CLIP_TIME_MAX_US ||
        (max_duration_us && (uint64_t)duration_us > max_duration_us)) {
        fmt_s(a, sizeof(a), (int64_t)(max_duration_us ? max_duration_us : CG_CLIP_TIME_MAX_US));
        say(why, why_cap, "The clip duration is longer than the %s seconds allowed; ask for less.",
            a);
        return CG_EINVAL;
    }
    if (start_us < 0 || start_us > CG_CLIP_TIME_MAX_US) {
        say(why, why_cap,
            "The clip start must be 0 seconds or later (seconds since the "
            "broadcast started).");
        return CG_EINVAL;
    }
    size_t n = cg_tl_snap_count(snap);
    if (n == 0) {
        say(why, why_cap, "The broadcast has no recorded media yet.");
        return CG_ENOTFOUND;
    }
    const cg_tl_info *info = cg_tl_snap_info(snap);
    uint32_t ts = info->timescale;
    const cg_tl_segment *first = cg_tl_snap_seg(snap, 0), *last = cg_tl_snap_seg(snap, n - 1);
    int64_t avail_start = first->start, avail_end = seg_end(last);
    /* Rounded inwards, so that both bounds can be asked for as they are. */
    out->avail_start_us = to_us_ceil(avail_start, ts);
    out->avail_end_us = to_us(avail_end, ts);
    fmt_s(a, sizeof(a), out->avail_start_us);
    fmt_s(b, sizeof(b), out->avail_end_us);

    int64_t end_us = start_us + duration_us;
    /* The first tick at or before the start, the first at or after the end:
     * the clip covers its whole range. */
    int64_t t0 = to_ticks_floor(start_us, ts), t1 = to_ticks_ceil(end_us, ts);
    if (t0 < avail_start) {
        say(why, why_cap,
            "The clip starts before the recording: media is available from %s to "
            "%s seconds.",
            a, b);
        return CG_ERANGE;
    }
    if (t1 > avail_end) {
        if (info->state == CG_TL_LIVE) {
            int64_t wait_us = end_us - out->avail_end_us;
            out->retry_after_s = (wait_us + US_PER_S - 1) / US_PER_S;
            if (out->retry_after_s < 1)
                out->retry_after_s = 1;
            say(why, why_cap,
                "The clip ends after the live edge (%s seconds); it can be cut "
                "in %lld seconds.",
                b, (long long)out->retry_after_s);
            return CG_EAGAIN;
        }
        say(why, why_cap,
            "The clip does not lie within the recording: media is available "
            "from %s to %s seconds.",
            a, b);
        return CG_ERANGE;
    }
    /* A start in a hole of the recording (lost segments) belongs to the
     * segment before it: its frames are decoded and held. */
    size_t si = 0;
    if (cg_tl_snap_find(snap, t0, &si) != 0)
        return CG_ERANGE; /* not reached: t0 lies within [avail_start, avail_end) */
    int64_t key;
    size_t key_seg;
    if (find_keyframe(snap, si, t0, &key, &key_seg) != 0) {
        say(why, why_cap, "No keyframe precedes the clip start.");
        return CG_ERANGE;
    }
    /* The last segment holding media before the end. */
    size_t li = si;
    while (li + 1 < n && cg_tl_snap_seg(snap, li + 1)->start < t1)
        li++;
    out->keyframe_us = to_us(key, ts);
    out->first_seg = key_seg;
    out->last_seg = li;
    out->start_us = mode == CG_CLIP_KEYFRAME ? out->keyframe_us : start_us;
    out->duration_us = end_us - out->start_us;
    return 0;
}

int cg_clip_plan_range(const cg_tl_snap *snap, int64_t start_us, int64_t duration_us, int mode,
                       uint64_t max_duration_us, cg_clip_plan *out, char *why, size_t why_cap)
{
    return plan(snap, start_us, duration_us, mode, max_duration_us, out, why, why_cap);
}

int cg_clip_plan_last(const cg_tl_snap *snap, int64_t last_us, int mode, uint64_t max_duration_us,
                      cg_clip_plan *out, char *why, size_t why_cap)
{
    if (!snap || !out)
        return CG_EINVAL;
    size_t n = cg_tl_snap_count(snap);
    if (n == 0 || last_us <= 0 || last_us > CG_CLIP_TIME_MAX_US ||
        (max_duration_us && (uint64_t)last_us > max_duration_us))
        return plan(snap, 0, last_us, mode, max_duration_us, out, why, why_cap); /* reports it */
    uint32_t ts = cg_tl_snap_info(snap)->timescale;
    /* Rounded up, as the available start is. */
    int64_t first_us = to_us_ceil(cg_tl_snap_seg(snap, 0)->start, ts);
    int64_t edge_us = to_us(seg_end(cg_tl_snap_seg(snap, n - 1)), ts);
    int64_t start_us = edge_us - last_us;
    /* A broadcast shorter than asked: all of it. */
    if (start_us < first_us)
        start_us = first_us;
    return plan(snap, start_us, edge_us - start_us, mode, max_duration_us, out, why, why_cap);
}
