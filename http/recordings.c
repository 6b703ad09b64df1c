/* JSON API about broadcasts: GET /api/v1/recordings (every broadcast,
 * newest first) and GET /api/v1/recordings/{broadcast} (one, with its
 * timeline), and the segments' thumbnails,
 * GET /recordings/{broadcast}/thumbs/{n}.jpg. Everything comes from the
 * recorder's registry, timeline snapshots and storage on the HTTP thread;
 * the media thread is not involved.
 *
 * Times: "start"/"end" are wall clock (ISO 8601 UTC); segment "start",
 * "duration" and "keyframes" are seconds since the broadcast started, the
 * clock of clip requests and Preview-Start-Seconds. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/problem.h"
#include "http/services.h"
#include "packager/playlist.h"
#include "packager/index.h"
#include "packager/recorder.h"
#include "packager/thumbs.h"

#define LINK_MAX 128
#define THUMB_TYPE "image/jpeg"
/* A thumbnail is never rewritten once stored. */
#define THUMB_CACHE "public, max-age=31536000, immutable"

static double secs(int64_t v, uint32_t ts)
{
    /* Millisecond precision, like the playlists. */
    return ts ? (double)((v * 1000 + (v >= 0 ? 1 : -1) * (int64_t)ts / 2) / (int64_t)ts) / 1000.0
              : 0.0;
}

static json_t *iso_or_null(uint64_t wall_us)
{
    if (!wall_us)
        return json_null();
    char s[40];
    cg_playlist_iso8601(wall_us, s, sizeof(s));
    return json_string(s);
}

/* Summary fields of one broadcast, added to o. */
static void add_summary(json_t *o, const cg_recorder_info *in, const cg_tl_snap *snap)
{
    const cg_tl_info *ti = cg_tl_snap_info(snap);
    size_t n = cg_tl_snap_count(snap);
    double duration = 0;
    if (n) {
        const cg_tl_segment *last = cg_tl_snap_seg(snap, n - 1);
        duration = secs(last->start + last->duration, ti->timescale);
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += cg_tl_snap_seg(snap, i)->bytes;
    char link[LINK_MAX];
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "stream", json_string(in->stream));
    json_object_set_new(o, "state", json_string(ti->state == CG_TL_LIVE ? "live" : "ended"));
    json_object_set_new(o, "publishing", json_boolean(in->publishing));
    json_object_set_new(o, "start", iso_or_null(ti->start_wall_us));
    json_object_set_new(o, "end", iso_or_null(ti->state == CG_TL_ENDED ? ti->end_wall_us : 0));
    json_object_set_new(o, "duration", json_real(duration));
    json_object_set_new(o, "segments", json_integer((json_int_t)n));
    json_object_set_new(o, "segment_count", json_integer((json_int_t)n));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    int degraded = ti->degraded || (in->has_stats && in->stats.degraded);
    json_object_set_new(o, "degraded", json_boolean(degraded));
    uint64_t lost = ti->lost_segments;
    if (in->has_stats && in->stats.segments_lost > lost)
        lost = in->stats.segments_lost;
    json_object_set_new(o, "lost_segments", json_integer((json_int_t)lost));
    snprintf(link, sizeof(link), "/recordings/%s/index.m3u8", in->id);
    json_object_set_new(o, "playlist", json_string(link));
    if (in->has_stats) {
        const cg_packager_stats *st = &in->stats;
        json_t *p = json_object();
        json_object_set_new(p, "failing", json_boolean(st->failing));
        json_object_set_new(p, "write_errors", json_integer((json_int_t)st->write_errors));
        json_object_set_new(p, "frames_in", json_integer((json_int_t)st->frames_in));
        json_object_set_new(p, "frames_dropped_full",
                            json_integer((json_int_t)st->frames_dropped_full));
        json_object_set_new(p, "frames_dropped_waiting_keyframe",
                            json_integer((json_int_t)st->seg.dropped_wait_key));
        json_object_set_new(p, "frames_dropped_corrupt",
                            json_integer((json_int_t)st->seg.dropped_corrupt));
        json_object_set_new(p, "queue", json_integer((json_int_t)st->queue_len));
        json_object_set_new(p, "queue_capacity", json_integer((json_int_t)st->queue_cap));
        json_object_set_new(p, "keyframe_requests",
                            json_integer((json_int_t)st->seg.keyframe_requests));
        json_object_set_new(p, "periods", json_integer((json_int_t)st->seg.periods));
        json_object_set_new(o, "packager", p);
    }
}

static json_t *summary_json(const cg_recorder_info *in)
{
    cg_tl_snap *snap = NULL;
    if (cg_timeline_snapshot(in->tl, &snap) != 0)
        return NULL;
    json_t *o = json_object();
    add_summary(o, in, snap);
    cg_tl_snap_free(snap);
    return o;
}

json_t *cg_recordings_stream_json(cg_services *svc, const char *stream)
{
    if (!svc->recorder)
        return NULL;
    cg_recorder_info in;
    if (cg_recorder_find_live(svc->recorder, stream, &in) != 0)
        return NULL;
    json_t *o = summary_json(&in);
    if (o) {
        char link[LINK_MAX];
        snprintf(link, sizeof(link), "/live/%s/index.m3u8", stream);
        json_object_set_new(o, "live_playlist", json_string(link));
    }
    cg_recorder_info_clear(&in);
    return o;
}

static json_t *timeline_json(cg_services *svc, const cg_recorder_info *in)
{
    cg_tl_snap *snap = NULL;
    if (cg_timeline_snapshot(in->tl, &snap) != 0)
        return NULL;
    size_t n = cg_tl_snap_count(snap);
    uint8_t *thumbs = calloc(n / 8 + 1, 1);
    if (!thumbs || cg_recorder_thumbs_made(svc->recorder, in->id, thumbs, n) != 0)
        n = 0; /* out of memory or just deleted: no thumbnails listed */
    json_t *o = json_object();
    add_summary(o, in, snap);
    const cg_tl_info *ti = cg_tl_snap_info(snap);
    uint32_t ts = ti->timescale;
    json_object_set_new(o, "timescale", json_integer(ts));
    json_t *arr = json_array();
    char date[40], link[LINK_MAX];
    for (size_t i = 0; i < cg_tl_snap_count(snap); i++) {
        const cg_tl_segment *s = cg_tl_snap_seg(snap, i);
        json_t *j = json_object();
        json_object_set_new(j, "seq", json_integer((json_int_t)s->seq));
        json_object_set_new(j, "start", json_real(secs(s->start, ts)));
        json_object_set_new(j, "duration", json_real(secs(s->duration, ts)));
        cg_playlist_iso8601(s->wall_us, date, sizeof(date));
        json_object_set_new(j, "wall_clock", json_string(date));
        json_object_set_new(j, "bytes", json_integer((json_int_t)s->bytes));
        json_t *keys = json_array();
        for (uint32_t k = 0; k < s->nkeys; k++)
            json_array_append_new(keys, json_real(secs(s->keys[k], ts)));
        json_object_set_new(j, "keyframes", keys);
        json_object_set_new(j, "discontinuity",
                            json_boolean((s->flags & CG_TL_DISCONTINUITY) != 0));
        json_object_set_new(j, "period", json_integer(s->period));
        if (i < n && (thumbs[i / 8] >> (i % 8) & 1) &&
            cg_thumbs_url(in->id, s->seq, link, sizeof(link)) == 0)
            json_object_set_new(j, "thumbnail", json_string(link));
        json_array_append_new(arr, j);
    }
    /* The detailed form lists the segments; their number stays in
     * segment_count. */
    json_object_set_new(o, "segments", arr);
    cg_tl_snap_free(snap);
    free(thumbs);
    return o;
}

static int send_json(cg_http_resp *resp, json_t *j)
{
    if (!j)
        return CG_ENOMEM;
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(j);
    if (!text)
        return CG_ENOMEM;
    cg_http_resp_header(resp, "Cache-Control", "no-store");
    return cg_http_resp_body_take(resp, text, strlen(text), "application/json");
}

static int api_recordings(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    cg_recorder_info *list = NULL;
    size_t n = 0;
    int rc = cg_recorder_list(svc->recorder, &list, &n);
    if (rc)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = summary_json(&list[i]);
        if (o)
            json_array_append_new(arr, o);
    }
    cg_recorder_list_free(list, n);
    json_t *out = json_object();
    json_object_set_new(out, "recordings", arr);
    return send_json(resp, out);
}

int cg_http_no_recording(cg_http_resp *resp, const char *id)
{
    return cg_http_problem(resp, 404, "No such recording",
                           "There is no broadcast \"%s\" (it may have been deleted by "
                           "retention). Recordings are listed at /api/v1/recordings.",
                           id);
}

static int api_recording(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *id = cg_http_req_capture(req, "broadcast");
    cg_recorder_info in;
    int rc = cg_recorder_find(svc->recorder, id, &in);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_no_recording(resp, id);
    if (rc)
        return rc;
    json_t *j = timeline_json(svc, &in);
    cg_recorder_info_clear(&in);
    return send_json(resp, j);
}

static int thumbnail(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *id = cg_http_req_capture(req, "broadcast");
    const char *n = cg_http_req_capture(req, "n");
    char leaf[32], name[CG_STORAGE_NAME_MAX + 1];
    uint64_t seq;
    int cn = snprintf(leaf, sizeof(leaf), "thumb-%s.jpg", n);
    if (cn < 0 || (size_t)cn >= sizeof(leaf) || !cg_thumbs_parse_name(leaf, &seq))
        return cg_http_problem(resp, 400, "Bad thumbnail name",
                               "\"%s.jpg\" does not name a thumbnail: ask for "
                               "/recordings/%s/thumbs/<segment>.jpg with the segment number as "
                               "listed in /api/v1/recordings/%s (0, 1, 2... without leading "
                               "zeros).",
                               n, id, id);
    cg_recorder_info in;
    int rc = cg_recorder_find(svc->recorder, id, &in);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_no_recording(resp, id);
    if (rc)
        return rc;
    rc = cg_index_name(in.dir, leaf, name, sizeof(name));
    cg_recorder_info_clear(&in);
    cg_storage_obj *o = NULL;
    if (!rc)
        rc = cg_storage_open(cg_recorder_storage(svc->recorder), name, &o);
    if (rc == CG_ENOTFOUND || rc == CG_EINVAL)
        return cg_http_problem(resp, 404, "No thumbnail",
                               "Segment %" PRIu64 " of broadcast \"%s\" has no thumbnail (yet): "
                               "one is made for each video segment shortly after it is "
                               "published, and a segment's entry in /api/v1/recordings/%s "
                               "names it once it exists.",
                               seq, id, id);
    if (rc)
        return rc;
    return cg_http_resp_body_object(resp, o, THUMB_TYPE, THUMB_CACHE);
}

static const cg_http_route recordings_routes[] = {
    {.method = "GET",
     .pattern = "/api/v1/recordings",
     .handler = api_recordings,
     .name = "api_recordings"},
    {.method = "GET",
     .pattern = "/api/v1/recordings/{broadcast}",
     .handler = api_recording,
     .name = "api_recording"},
    {.method = "GET",
     .pattern = "/recordings/{broadcast}/thumbs/{n}.jpg",
     .handler = thumbnail,
     .name = "thumbnail"},
};

int cg_recordings_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, recordings_routes,
                                     sizeof(recordings_routes) / sizeof(recordings_routes[0]), svc);
}
