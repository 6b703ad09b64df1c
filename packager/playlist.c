/* HLS playlist text from timeline snapshots (see playlist.h). All timing
 * is integer arithmetic on media time so that the same timeline always
 * gives byte-identical playlists. */
#include "packager/playlist.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

/* RFC 8216bis recommends a hold-back of at least three target durations. */
#define HOLD_BACK_TARGETS 3

enum pl_kind { PL_LIVE, PL_PREVIEW, PL_RECORDING };

void cg_playlist_cfg_default(cg_playlist_cfg *cfg)
{
    cfg->uri_prefix = "";
    cfg->target_ms = 2000;
    cfg->window = 6;
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm);
 * pure arithmetic, no time zone database. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void cg_playlist_iso8601(uint64_t wall_us, char *out, size_t cap)
{
    uint64_t ms = wall_us / 1000u;
    uint64_t secs = ms / 1000u;
    int64_t days = (int64_t)(secs / 86400u);
    unsigned sod = (unsigned)(secs % 86400u);
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, mo, d, sod / 3600,
             sod / 60 % 60, sod % 60, (unsigned)(ms % 1000u));
}

/* Media time to milliseconds, rounded to nearest: what EXTINF shows. */
static uint64_t to_ms(int64_t v, uint32_t ts)
{
    uint64_t u = v < 0 ? 0 : (uint64_t)v;
    return (u / ts) * 1000u + ((u % ts) * 1000u + ts / 2) / ts;
}

static void add_ms(cg_dbuf *out, uint64_t ms)
{
    cg_dbuf_printf(out, "%llu.%03llu", (unsigned long long)(ms / 1000u),
                   (unsigned long long)(ms % 1000u));
}

static int write_playlist(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, int kind,
                          size_t first, size_t end, cg_dbuf *out)
{
    const cg_tl_info *info = cg_tl_snap_info(snap);
    uint32_t ts = info->timescale;
    int ended = info->state == CG_TL_ENDED;
    const char *prefix = cfg->uri_prefix ? cfg->uri_prefix : "";

    /* The rounded EXTINF of every listed segment must not exceed it;
     * ceil of what we print is the safe reading of that rule. */
    uint64_t target = (cfg->target_ms + 999u) / 1000u;
    for (size_t i = first; i < end; i++) {
        uint64_t t = (to_ms(cg_tl_snap_seg(snap, i)->duration, ts) + 999u) / 1000u;
        if (t > target)
            target = t;
    }
    if (target == 0)
        target = 1;
    /* Discontinuity tags that have slid out of the window (RFC 8216
     * 6.2.2); a flagged first segment keeps its own tag. */
    uint64_t disc_seq = 0;
    for (size_t i = 1; i < first; i++)
        if (cg_tl_snap_seg(snap, i)->flags & CG_TL_DISCONTINUITY)
            disc_seq++;

    cg_dbuf_adds(out, "#EXTM3U\n#EXT-X-VERSION:7\n");
    cg_dbuf_printf(out, "#EXT-X-TARGETDURATION:%llu\n", (unsigned long long)target);
    if (!ended) {
        cg_dbuf_printf(out, "#EXT-X-SERVER-CONTROL:HOLD-BACK=%llu.000\n",
                       (unsigned long long)(target * HOLD_BACK_TARGETS));
    }
    cg_dbuf_printf(out, "#EXT-X-MEDIA-SEQUENCE:%llu\n",
                   (unsigned long long)cg_tl_snap_seg(snap, first)->seq);
    if (disc_seq)
        cg_dbuf_printf(out, "#EXT-X-DISCONTINUITY-SEQUENCE:%llu\n", (unsigned long long)disc_seq);
    if (kind == PL_RECORDING)
        cg_dbuf_printf(out, "#EXT-X-PLAYLIST-TYPE:%s\n", ended ? "VOD" : "EVENT");
    /* Every segment starts with a keyframe. */
    cg_dbuf_adds(out, "#EXT-X-INDEPENDENT-SEGMENTS\n");

    char name[32], date[40];
    uint32_t period = 0;
    for (size_t i = first; i < end; i++) {
        const cg_tl_segment *seg = cg_tl_snap_seg(snap, i);
        if (i > 0 && (seg->flags & CG_TL_DISCONTINUITY))
            cg_dbuf_adds(out, "#EXT-X-DISCONTINUITY\n");
        if (i == first || seg->period != period) {
            cg_tl_init_name(seg->period, name, sizeof(name));
            cg_dbuf_printf(out, "#EXT-X-MAP:URI=\"%s%s\"\n", prefix, name);
            period = seg->period;
        }
        cg_playlist_iso8601(seg->wall_us, date, sizeof(date));
        cg_dbuf_printf(out, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:", date);
        add_ms(out, to_ms(seg->duration, ts));
        cg_tl_segment_name(seg->seq, name, sizeof(name));
        cg_dbuf_printf(out, ",\n%s%s\n", prefix, name);
    }
    if (ended)
        cg_dbuf_adds(out, "#EXT-X-ENDLIST\n");
    return cg_dbuf_err(out);
}

static int check_args(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, cg_dbuf *out)
{
    return snap && cfg && out ? 0 : CG_EINVAL;
}

int cg_playlist_live(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, cg_dbuf *out)
{
    if (check_args(snap, cfg, out) || cfg->window == 0)
        return CG_EINVAL;
    size_t n = cg_tl_snap_count(snap);
    if (n == 0)
        return CG_EAGAIN;
    size_t first = n > cfg->window ? n - cfg->window : 0;
    return write_playlist(snap, cfg, PL_LIVE, first, n, out);
}

int cg_playlist_preview(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, uint64_t duration_ms,
                        uint64_t cap_ms, cg_preview_info *info, cg_dbuf *out)
{
    if (check_args(snap, cfg, out) || !info || duration_ms == 0)
        return CG_EINVAL;
    size_t n = cg_tl_snap_count(snap);
    if (n == 0)
        return CG_EAGAIN;
    if (cap_ms && duration_ms > cap_ms)
        duration_ms = cap_ms;
    const cg_tl_info *ti = cg_tl_snap_info(snap);
    uint32_t ts = ti->timescale;
    /* Walk back from the end until the segments cover the window, in
     * exact media time. */
    uint64_t want = duration_ms * ts; /* in ts/1000 units */
    uint64_t have = 0;
    size_t first = n;
    while (first > 0 && have < want) {
        first--;
        have += (uint64_t)cg_tl_snap_seg(snap, first)->duration * 1000u;
    }
    memset(info, 0, sizeof(*info));
    const cg_tl_segment *s0 = cg_tl_snap_seg(snap, first);
    info->start = s0->start;
    info->timescale = ts;
    info->duration_ms = duration_ms;
    uint64_t ms = to_ms(s0->start, ts);
    snprintf(info->start_seconds, sizeof(info->start_seconds), "%llu.%03llu",
             (unsigned long long)(ms / 1000u), (unsigned long long)(ms % 1000u));
    memcpy(info->broadcast_id, ti->id, sizeof(info->broadcast_id));
    return write_playlist(snap, cfg, PL_PREVIEW, first, n, out);
}

int cg_playlist_recording(const cg_tl_snap *snap, const cg_playlist_cfg *cfg, cg_dbuf *out)
{
    if (check_args(snap, cfg, out))
        return CG_EINVAL;
    size_t n = cg_tl_snap_count(snap);
    if (n == 0)
        return cg_tl_snap_info(snap)->state == CG_TL_ENDED ? CG_ENOTFOUND : CG_EAGAIN;
    return write_playlist(snap, cfg, PL_RECORDING, 0, n, out);
}
