/* HLS on the HTTP threads: playlists built on request from a timeline
 * snapshot (no media-thread time, no lock held while formatting), and the
 * init and media segment files served from storage.
 *
 *   GET /live/{stream}/index.m3u8               rolling live window
 *   GET /live/{stream}/index.m3u8?duration=5m   preview of the last N
 *   GET /live/{stream}/{file}                   files of the stream's broadcast
 *   GET /recordings/{broadcast}/index.m3u8      EVENT while live, VOD after
 *   GET /recordings/{broadcast}/{file}          files of that broadcast
 *
 * Playlist URIs are relative ("seg-12.m4s"), so the same files answer
 * under /live/{stream}/ and /recordings/{broadcast}/. Only names the
 * packager writes (init.mp4, init-<n>.mp4, seg-<n>.m4s, in their canonical
 * spelling) are served, and only from the broadcast's own storage prefix:
 * a request can never name the index or anything outside the data
 * directory. /live/{stream}/{file} keeps answering from the stream's latest
 * broadcast after it ends, for players still fetching what they loaded. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "http/problem.h"
#include "http/services.h"
#include "packager/index.h"
#include "packager/playlist.h"
#include "packager/recorder.h"

#define PLAYLIST_MAX (16u << 20)
#define PLAYLIST_TYPE "application/vnd.apple.mpegurl"
#define SEGMENT_TYPE "video/mp4"
#define PLAYLIST_CACHE "no-cache"
#define SEGMENT_CACHE "public, max-age=31536000, immutable"

static uint32_t target_ms(const cg_config *cfg)
{
    return cfg->segment_duration_us ? (uint32_t)(cfg->segment_duration_us / 1000u) : 2000u;
}

static void playlist_cfg(const cg_config *cfg, cg_playlist_cfg *pc)
{
    cg_playlist_cfg_default(pc);
    pc->target_ms = target_ms(cfg);
    if (cfg->live_window > 0)
        pc->window = (uint32_t)cfg->live_window;
}

static int not_yet(cg_http_resp *resp, const cg_config *cfg, const char *what, const char *name)
{
    char secs[16];
    unsigned n = (target_ms(cfg) + 999u) / 1000u;
    snprintf(secs, sizeof(secs), "%u", n);
    cg_http_resp_header(resp, "Retry-After", secs);
    return cg_http_problem(resp, 404, "No segment yet",
                           "%s \"%s\" is live but has no segment yet (the first one comes with "
                           "the publisher's first keyframe); retry in %u s.",
                           what, name, n);
}

static int send_playlist(cg_http_resp *resp, cg_dbuf *d)
{
    size_t len;
    char *text = cg_dbuf_take(d, &len);
    if (!text)
        return CG_ENOMEM;
    cg_http_resp_header(resp, "Cache-Control", PLAYLIST_CACHE);
    return cg_http_resp_body_take(resp, text, len, PLAYLIST_TYPE);
}

/* --- playlists -------------------------------------------------------------------- */

/* A player still on /live when the broadcast ends should get its last
 * window with EXT-X-ENDLIST and stop cleanly, not a 404 mid-playback: the
 * stream's latest broadcast is served there for a while after it ended
 * (two live windows, at least a minute). */
static int just_ended(cg_services *svc, const char *stream, cg_recorder_info *info)
{
    int rc = cg_recorder_find_latest(svc->recorder, stream, info);
    if (rc)
        return rc;
    cg_tl_info ti;
    cg_timeline_info(info->tl, &ti);
    uint64_t keep = 2 * (uint64_t)svc->cfg->live_window * svc->cfg->segment_duration_us;
    if (keep < 60000000u)
        keep = 60000000u;
    uint64_t now = cg_wall_us();
    if (ti.state == CG_TL_ENDED && ti.end_wall_us && now - ti.end_wall_us <= keep)
        return 0;
    cg_recorder_info_clear(info);
    return CG_ENOTFOUND;
}

static int live_playlist(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const cg_config *cfg = svc->cfg;
    const char *stream = cg_http_req_capture(req, "stream");
    const char *dur = cg_http_req_query(req, "duration");
    uint64_t dur_us = 0;
    if (dur) {
        int prc = cg_parse_duration_us(dur, &dur_us);
        if (prc || dur_us < 1000u)
            return cg_http_problem(resp, 400, "Bad duration",
                                   "duration=\"%s\" is not a duration: give seconds or minutes "
                                   "such as 30, 30s, 90.5s or 5m (at most %" PRIu64 " s are "
                                   "served).",
                                   dur, cfg->preview_cap_us / 1000000u);
    }
    cg_recorder_info info;
    int rc = cg_recorder_find_live(svc->recorder, stream, &info);
    if (rc == CG_ENOTFOUND)
        rc = just_ended(svc, stream, &info);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_problem(resp, 404, "No such live stream",
                               "Nobody is publishing \"%s\" right now. Publish with WHIP to "
                               "/whip/%s; past broadcasts are listed at /api/v1/recordings.",
                               stream, stream);
    if (rc)
        return rc;
    cg_tl_snap *snap = NULL;
    rc = cg_timeline_snapshot(info.tl, &snap);
    cg_playlist_cfg pc;
    playlist_cfg(cfg, &pc);
    cg_dbuf d;
    cg_dbuf_init(&d, PLAYLIST_MAX);
    cg_preview_info pv;
    if (!rc && dur)
        rc = cg_playlist_preview(snap, &pc, dur_us / 1000u, cfg->preview_cap_us / 1000u, &pv, &d);
    else if (!rc)
        rc = cg_playlist_live(snap, &pc, &d);
    cg_tl_snap_free(snap);
    if (rc == CG_EAGAIN) {
        rc = not_yet(resp, cfg, "Stream", stream);
    } else if (!rc) {
        if (dur) {
            cg_http_resp_header(resp, "Preview-Start-Seconds", pv.start_seconds);
            cg_http_resp_header(resp, "Stream-Media-Id", pv.broadcast_id);
        }
        rc = send_playlist(resp, &d);
    }
    cg_dbuf_free(&d);
    cg_recorder_info_clear(&info);
    return rc;
}

static int recording_playlist(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const cg_config *cfg = svc->cfg;
    const char *id = cg_http_req_capture(req, "broadcast");
    cg_recorder_info info;
    int rc = cg_recorder_find(svc->recorder, id, &info);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_no_recording(resp, id);
    if (rc)
        return rc;
    cg_tl_snap *snap = NULL;
    rc = cg_timeline_snapshot(info.tl, &snap);
    cg_playlist_cfg pc;
    playlist_cfg(cfg, &pc);
    cg_dbuf d;
    cg_dbuf_init(&d, PLAYLIST_MAX);
    /* With --retention live only the live window is kept on disk, so the
     * recording is that window too. */
    if (!rc && cfg->retention_us == CG_RETENTION_LIVE)
        rc = cg_playlist_live(snap, &pc, &d);
    else if (!rc)
        rc = cg_playlist_recording(snap, &pc, &d);
    cg_tl_snap_free(snap);
    if (rc == CG_EAGAIN)
        rc = not_yet(resp, cfg, "Broadcast", id);
    else if (rc == CG_ENOTFOUND)
        rc = cg_http_problem(resp, 404, "Empty recording",
                             "Broadcast \"%s\" ended without a single segment: the publisher "
                             "never sent a keyframe.",
                             id);
    else if (!rc)
        rc = send_playlist(resp, &d);
    cg_dbuf_free(&d);
    cg_recorder_info_clear(&info);
    return rc;
}

/* --- files ------------------------------------------------------------------------ */

/* 1 if leaf is exactly the name the packager gives a segment (*seg = 1,
 * *num = seq) or an init segment (*seg = 0, *num = period). */
static int media_name(const char *leaf, int *seg, uint64_t *num)
{
    const char *digits;
    if (strncmp(leaf, "seg-", 4) == 0) {
        digits = leaf + 4;
        *seg = 1;
    } else if (strcmp(leaf, "init.mp4") == 0) {
        *seg = 0;
        *num = 0;
        return 1;
    } else if (strncmp(leaf, "init-", 5) == 0) {
        digits = leaf + 5;
        *seg = 0;
    } else {
        return 0;
    }
    uint64_t v = 0;
    const char *p = digits;
    while (*p >= '0' && *p <= '9' && p - digits < 19)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == digits)
        return 0;
    if (!*seg && v > UINT32_MAX)
        return 0;
    /* Canonical spelling only: no leading zeros, no other suffix. */
    char canon[32];
    if (*seg)
        cg_tl_segment_name(v, canon, sizeof(canon));
    else
        cg_tl_init_name((uint32_t)v, canon, sizeof(canon));
    if (strcmp(canon, leaf) != 0)
        return 0;
    *num = v;
    return 1;
}

static int no_file(cg_http_resp *resp, const char *file, const char *where)
{
    return cg_http_problem(resp, 404, "No such file",
                           "\"%s\" is not a file of %s. Playlists name every init and media "
                           "segment they use.",
                           file, where);
}

static int serve_file(cg_http_resp *resp, cg_recorder_info *info, const char *file, cg_storage *st)
{
    int seg;
    uint64_t num;
    char where[160];
    snprintf(where, sizeof(where), "broadcast \"%s\"", info->id);
    if (!media_name(file, &seg, &num))
        return no_file(resp, file, where);
    /* A segment is published when its index line is: the file alone may be
     * a leftover of a failed write. */
    if (seg && num >= cg_timeline_count(info->tl))
        return no_file(resp, file, where);
    char name[CG_STORAGE_NAME_MAX + 1];
    int rc = cg_index_name(info->dir, file, name, sizeof(name));
    if (rc)
        return no_file(resp, file, where);
    cg_storage_obj *o = NULL;
    rc = cg_storage_open(st, name, &o);
    if (rc == CG_ENOTFOUND || rc == CG_EINVAL)
        return no_file(resp, file, where);
    if (rc)
        return rc;
    return cg_http_resp_body_object(resp, o, SEGMENT_TYPE, SEGMENT_CACHE);
}

static int live_file(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *stream = cg_http_req_capture(req, "stream");
    const char *file = cg_http_req_capture(req, "file");
    cg_recorder_info info;
    int rc = cg_recorder_find_latest(svc->recorder, stream, &info);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_problem(resp, 404, "No such live stream",
                               "Stream \"%s\" has no broadcast. Live streams are listed at "
                               "/api/v1/streams.",
                               stream);
    if (rc)
        return rc;
    rc = serve_file(resp, &info, file, cg_recorder_storage(svc->recorder));
    cg_recorder_info_clear(&info);
    return rc;
}

static int recording_file(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *id = cg_http_req_capture(req, "broadcast");
    const char *file = cg_http_req_capture(req, "file");
    cg_recorder_info info;
    int rc = cg_recorder_find(svc->recorder, id, &info);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_no_recording(resp, id);
    if (rc)
        return rc;
    rc = serve_file(resp, &info, file, cg_recorder_storage(svc->recorder));
    cg_recorder_info_clear(&info);
    return rc;
}

static const cg_http_route hls_routes[] = {
    {.method = "GET",
     .pattern = "/live/{stream}/index.m3u8",
     .handler = live_playlist,
     .name = "live_playlist"},
    {.method = "GET",
     .pattern = "/live/{stream}/{file}",
     .handler = live_file,
     .name = "live_file"},
    {.method = "GET",
     .pattern = "/recordings/{broadcast}/index.m3u8",
     .handler = recording_playlist,
     .name = "recording_playlist"},
    {.method = "GET",
     .pattern = "/recordings/{broadcast}/{file}",
     .handler = recording_file,
     .name = "recording_file"},
};

int cg_hls_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, hls_routes, sizeof(hls_routes) / sizeof(hls_routes[0]),
                                     svc);
}
