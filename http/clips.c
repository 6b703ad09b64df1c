/* Clips over HTTP: instant clips cut on request, and persisted clips.
 *
 *   GET /recordings/{broadcast}/clip.mp4?time=&duration=[&mode=][&filename=]
 *   GET /recordings/{broadcast}/clip.m3u8?time=&duration=[&mode=]
 *   GET /live/{stream}/clip.mp4?last=30s    (and clip.m3u8)
 *   POST /api/v1/clips, GET /api/v1/clips[?broadcast=], GET and DELETE
 *   /api/v1/clips/{id}, GET /clips/{id}.mp4, /clips/{id}.m3u8 and the
 *   segment copies the latter names (/clips/{id}/{file})
 *
 * An MP4 is cut without re-encoding into a temporary file under
 * <data-dir>/tmp/ (cg_clip_write_mp4), which is opened and unlinked at once
 * and served from the descriptor, so the server's Range support applies and
 * nothing is left behind whatever happens to the connection. The HLS clip
 * is a playlist over the recording's own segments; nothing is copied.
 *
 * A persisted clip writes its MP4 and copies of the segments its playlist
 * names under clips/<id>/ (clip/store.h), so it outlives the recording.
 *
 * Cutting reads whole segments and writes a file on the HTTP thread, so at
 * most CUTS_MAX run at once (a counting semaphore that never waits: when
 * saturated the client gets 503 + Retry-After: 1 rather than a thread
 * parked behind the disk).
 *
 * Every clip answer says what it holds: Clip-Requested-Start,
 * Clip-Requested-Duration, Clip-Start, Clip-Duration, Clip-Keyframe and
 * Clip-Mode (broadcast seconds, 3 decimals), the same numbers as the
 * persisted clip's JSON. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip/cutter.h"
#include "clip/range.h"
#include "clip/store.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/random.h"
#include "http/problem.h"
#include "http/services.h"
#include "packager/index.h"
#include "packager/recorder.h"

#define CUTS_MAX 2
#define PLAYLIST_MAX (4u << 20)
#define SEGMENT_COPY_MAX (256u << 20)
#define FILENAME_MAX_LEN 128
#define PLAYLIST_TYPE "application/vnd.apple.mpegurl"
#define MP4_TYPE "video/mp4"
#define JSON_TYPE "application/json"

static atomic_int cuts_running;
static atomic_uint tmp_counter;

static int cut_acquire(void)
{
    int n = atomic_load(&cuts_running);
    while (n < CUTS_MAX)
        if (atomic_compare_exchange_weak(&cuts_running, &n, n + 1))
            return 1;
    return 0;
}

static void cut_release(void)
{
    atomic_fetch_sub(&cuts_running, 1);
}

static int busy(cg_http_resp *resp)
{
    cg_http_resp_header(resp, "Retry-After", "1");
    return cg_http_problem(resp, 503, "Clip workers busy",
                           "%d clips are being cut right now, the most clipgate cuts at once; "
                           "retry in 1 s.",
                           CUTS_MAX);
}

/* Broadcast seconds with 3 decimals, rounded to the millisecond. */
static void fmt_secs(int64_t us, char *out, size_t cap)
{
    int64_t ms = (us + (us >= 0 ? 500 : -500)) / 1000;
    int64_t a = ms < 0 ? -ms : ms;
    snprintf(out, cap, "%s%" PRId64 ".%03" PRId64, ms < 0 ? "-" : "", a / 1000, a % 1000);
}

static void clip_headers(cg_http_resp *resp, const cg_clip_plan *p)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"Clip-Requested-Start", offsetof(cg_clip_plan, req_start_us)},
        {"Clip-Requested-Duration", offsetof(cg_clip_plan, req_duration_us)},
        {"Clip-Start", offsetof(cg_clip_plan, start_us)},
        {"Clip-Duration", offsetof(cg_clip_plan, duration_us)},
        {"Clip-Keyframe", offsetof(cg_clip_plan, keyframe_us)},
    };
    char v[32];
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int64_t us;
        memcpy(&us, (const char *)p + fields[i].off, sizeof(us));
        fmt_secs(us, v, sizeof(v));
        cg_http_resp_header(resp, fields[i].name, v);
    }
    cg_http_resp_header(resp, "Clip-Mode", cg_clip_mode_name(p->mode));
}

static int send_json_text(cg_http_resp *resp, cg_dbuf *d, int status)
{
    size_t len;
    if (cg_dbuf_err(d))
        return cg_dbuf_err(d);
    char *text = cg_dbuf_take(d, &len);
    if (!text)
        return CG_ENOMEM;
    cg_http_resp_status(resp, status);
    cg_http_resp_header(resp, "Cache-Control", "no-store");
    return cg_http_resp_body_take(resp, text, len, JSON_TYPE);
}

/* --- resolving a request into a plan ----------------------------------------------- */

/* What one clip request is about. */
typedef struct clip_req {
    cg_recorder_info info;
    cg_tl_snap *snap;
    cg_clip_plan plan;
} clip_req;

static void clip_req_clear(clip_req *c)
{
    cg_tl_snap_free(c->snap);
    c->snap = NULL;
    cg_recorder_info_clear(&c->info);
}

static int bad_param(cg_http_resp *resp, const char *name, const char *value)
{
    return cg_http_problem(resp, 400, "Bad clip parameter",
                           "%s=\"%s\" is not a time: give seconds or minutes such as 600, "
                           "600.5, 600s or 5m.",
                           name, value);
}

/* Finds the broadcast (by id, or the live one of a stream), parses the
 * times and plans the clip. On failure resp holds the error. tv, dv, lv
 * and mv are the time, duration, last and mode texts (NULL if absent);
 * exactly one of "time and duration" or "last" must be given. */
static int resolve(cg_services *svc, cg_http_resp *resp, const char *broadcast, const char *stream,
                   const char *tv, const char *dv, const char *lv, const char *mv, clip_req *c)
{
    const cg_config *cfg = svc->cfg;
    int mode, rc;
    int64_t t = 0, d = 0, last = 0;
    if (cg_clip_parse_mode(mv, &mode) != 0)
        return cg_http_problem(resp, 400, "Bad clip mode",
                               "mode=\"%s\" is not a clip mode: use precise (the default: "
                               "exactly the requested range) or keyframe (starts at the "
                               "keyframe at or before time).",
                               mv);
    if (lv && (tv || dv))
        return cg_http_problem(resp, 400, "Conflicting clip parameters",
                               "Give either last, or time and duration, not both.");
    if (!lv && (!tv || !dv))
        return cg_http_problem(resp, 400, "Missing clip parameter",
                               "A clip needs time and duration (seconds since the broadcast "
                               "started, e.g. time=600s&duration=30s)%s.",
                               stream ? ", or last (e.g. last=30s)" : "");
    if (lv && cg_clip_parse_time(lv, &last) != 0)
        return bad_param(resp, "last", lv);
    if (tv && cg_clip_parse_time(tv, &t) != 0)
        return bad_param(resp, "time", tv);
    if (dv && cg_clip_parse_time(dv, &d) != 0)
        return bad_param(resp, "duration", dv);

    if (broadcast) {
        rc = cg_recorder_find(svc->recorder, broadcast, &c->info);
        if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
            return cg_http_no_recording(resp, broadcast);
    } else {
        rc = cg_recorder_find_live(svc->recorder, stream, &c->info);
        if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
            return cg_http_problem(resp, 404, "No such live stream",
                                   "Nobody is publishing \"%s\" right now; clips of past "
                                   "broadcasts are cut from /recordings/{broadcast}/clip.mp4.",
                                   stream);
    }
    if (rc)
        return rc;
    rc = cg_timeline_snapshot(c->info.tl, &c->snap);
    if (rc)
        return rc;
    char why[256] = "";
    if (lv)
        rc = cg_clip_plan_last(c->snap, last, mode, cfg->max_clip_duration_us, &c->plan, why,
                               sizeof(why));
    else
        rc = cg_clip_plan_range(c->snap, t, d, mode, cfg->max_clip_duration_us, &c->plan, why,
                                sizeof(why));
    if (rc == CG_EINVAL)
        return cg_http_problem(resp, 400, "Bad clip range", "%s",
                               why[0] ? why : "The clip range is not valid.");
    if (rc == CG_EAGAIN) {
        char s[24];
        snprintf(s, sizeof(s), "%" PRId64, c->plan.retry_after_s > 0 ? c->plan.retry_after_s : 1);
        cg_http_resp_header(resp, "Retry-After", s);
        return cg_http_problem(resp, 425, "Too Early", "%s",
                               why[0] ? why : "The clip ends past the live edge; retry later.");
    }
    if (rc == CG_ERANGE) {
        char a[32], b[32];
        fmt_secs(c->plan.avail_start_us, a, sizeof(a));
        fmt_secs(c->plan.avail_end_us, b, sizeof(b));
        json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:f,s:f}", "type", "about:blank", "title",
                              "Range Not Available", "status", 416, "detail",
                              why[0] ? why : "The clip range is outside the recording.",
                              "available_start", (double)c->plan.avail_start_us / 1e6,
                              "available_end", (double)c->plan.avail_end_us / 1e6);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
        json_decref(o);
        if (!text)
            return CG_ENOMEM;
        cg_http_resp_status(resp, 416);
        return cg_http_resp_body_take(resp, text, strlen(text), "application/problem+json");
    }
    if (rc == CG_ENOTFOUND) {
        if (c->info.live) {
            unsigned n = (unsigned)((cfg->segment_duration_us + 999999u) / 1000000u);
            char s[16];
            snprintf(s, sizeof(s), "%u", n ? n : 2);
            cg_http_resp_header(resp, "Retry-After", s);
            return cg_http_problem(resp, 425, "Too Early",
                                   "Broadcast \"%s\" has no segment yet (the first one comes "
                                   "with the publisher's first keyframe); retry in %s s.",
                                   c->info.id, s);
        }
        return cg_http_problem(resp, 404, "Empty recording",
                               "Broadcast \"%s\" ended without a single segment.", c->info.id);
    }
    return rc;
}

/* --- instant clips ----------------------------------------------------------------- */

/* 1 if name is a download file name we accept: [A-Za-z0-9._-], ending in
 * ".mp4", with something before it. */
static int filename_ok(const char *name)
{
    size_t n = strlen(name);
    if (n <= 4 || n > FILENAME_MAX_LEN || strcmp(name + n - 4, ".mp4") != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return name[0] != '.';
}

/* Makes <data-dir>/tmp and a fresh path in it. */
static int tmp_path(const cg_config *cfg, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/tmp", cfg->data_dir);
    if (n < 0 || (size_t)n >= cap)
        return CG_ENOSPC;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return CG_EIO;
    char tok[9];
    if (cg_random_token(tok, 8) != 0)
        return CG_EIO;
    n = snprintf(out, cap, "%s/tmp/clip-%ld-%u-%s.mp4", cfg->data_dir, (long)getpid(),
                 atomic_fetch_add(&tmp_counter, 1), tok);
    return n < 0 || (size_t)n >= cap ? CG_ENOSPC : 0;
}

/* Cuts c's plan into a new local file; *path holds its name. Takes a cut
 * slot; returns 1 when resp holds the answer (503 when no slot is free,
 * 422 or 410 when the range cannot be cut). */
static int cut(cg_services *svc, cg_http_resp *resp, clip_req *c, char *path, size_t cap)
{
    int rc = tmp_path(svc->cfg, path, cap);
    if (rc)
        return rc;
    if (!cut_acquire()) {
        busy(resp);
        return 1;
    }
    rc =
        cg_clip_write_mp4(cg_recorder_storage(svc->recorder), c->info.dir, c->snap, &c->plan, path);
    cut_release();
    if (rc) {
        cg_warn(c->info.id, "clip %.3f+%.3f s failed: %s", (double)c->plan.start_us / 1e6,
                (double)c->plan.duration_us / 1e6, cg_strerror(rc));
        unlink(path);
    }
    if (rc == CG_EUNSUPP) {
        cg_http_problem(resp, 422, "Clip spans a reconnect",
                        "The range crosses a point where the publisher reconnected with new "
                        "codec settings; an MP4 holds one setting. Cut on either side of it.");
        return 1;
    }
    if (rc == CG_ENOTFOUND) {
        cg_http_problem(resp, 410, "Segments gone",
                        "Segments of this range are no longer stored (retention deleted "
                        "them).");
        return 1;
    }
    return rc;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void clip_etag(const clip_req *c, char *out, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ull;
    int ended = !c->info.live;
    h = fnv1a(h, c->info.id, strlen(c->info.id));
    h = fnv1a(h, &c->plan.start_us, sizeof(c->plan.start_us));
    h = fnv1a(h, &c->plan.duration_us, sizeof(c->plan.duration_us));
    h = fnv1a(h, &c->plan.mode, sizeof(c->plan.mode));
    h = fnv1a(h, &ended, sizeof(ended));
    snprintf(out, cap, "\"clip-%016" PRIx64 "\"", h);
}

static int instant_mp4(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                       const char *broadcast, const char *stream)
{
    const char *fname = cg_http_req_query(req, "filename");
    if (fname && !filename_ok(fname))
        return cg_http_problem(resp, 400, "Bad file name",
                               "filename=\"%s\" is not accepted: use letters, digits, '.', '_' "
                               "and '-' only, at most %d characters, ending in .mp4.",
                               fname, FILENAME_MAX_LEN);
    clip_req c;
    memset(&c, 0, sizeof(c));
    int rc = resolve(svc, resp, broadcast, stream, cg_http_req_query(req, "time"),
                     cg_http_req_query(req, "duration"), cg_http_req_query(req, "last"),
                     cg_http_req_query(req, "mode"), &c);
    if (rc || cg_http_resp_get_status(resp) >= 400)
        goto out;
    char path[4096];
    rc = cut(svc, resp, &c, path, sizeof(path));
    if (rc == 1) {
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unlink(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        rc = CG_EIO;
        goto out;
    }
    char etag[48];
    clip_etag(&c, etag, sizeof(etag));
    clip_headers(resp, &c.plan);
    cg_http_resp_header(resp, "ETag", etag);
    cg_http_resp_header(resp, "Cache-Control", "no-cache");
    if (fname) {
        char disp[FILENAME_MAX_LEN + 40];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
        cg_http_resp_header(resp, "Content-Disposition", disp);
    }
    rc = cg_http_resp_body_fd(resp, fd, 0, (uint64_t)st.st_size, MP4_TYPE);
out:
    clip_req_clear(&c);
    return rc;
}

static int instant_m3u8(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                        const char *broadcast, const char *stream)
{
    clip_req c;
    memset(&c, 0, sizeof(c));
    int rc = resolve(svc, resp, broadcast, stream, cg_http_req_query(req, "time"),
                     cg_http_req_query(req, "duration"), cg_http_req_query(req, "last"),
                     cg_http_req_query(req, "mode"), &c);
    if (rc || cg_http_resp_get_status(resp) >= 400)
        goto out;
    char prefix[CG_TL_ID_MAX + 32];
    snprintf(prefix, sizeof(prefix), "/recordings/%s/", c.info.id);
    cg_dbuf d;
    cg_dbuf_init(&d, PLAYLIST_MAX);
    rc = cg_clip_playlist(c.snap, &c.plan, prefix, &d);
    if (!rc)
        rc = cg_dbuf_err(&d);
    if (!rc) {
        size_t len;
        char *text = cg_dbuf_take(&d, &len);
        clip_headers(resp, &c.plan);
        cg_http_resp_header(resp, "Cache-Control", "no-cache");
        rc = text ? cg_http_resp_body_take(resp, text, len, PLAYLIST_TYPE) : CG_ENOMEM;
    }
    cg_dbuf_free(&d);
out:
    clip_req_clear(&c);
    return rc;
}

static int recording_clip_mp4(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return instant_mp4(req, resp, ctx, cg_http_req_capture(req, "broadcast"), NULL);
}

static int recording_clip_m3u8(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return instant_m3u8(req, resp, ctx, cg_http_req_capture(req, "broadcast"), NULL);
}

static int live_clip_mp4(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return instant_mp4(req, resp, ctx, NULL, cg_http_req_capture(req, "stream"));
}

static int live_clip_m3u8(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return instant_m3u8(req, resp, ctx, NULL, cg_http_req_capture(req, "stream"));
}

/* --- persisted clips --------------------------------------------------------------- */

/* A JSON member given as a string ("600s") or a number (600.5) as text in
 * out; NULL when absent; *bad set when of another type. */
static const char *json_time(json_t *o, const char *key, char *out, size_t cap, const char **bad)
{
    json_t *j = json_object_get(o, key);
    if (!j)
        return NULL;
    if (json_is_string(j))
        return json_string_value(j);
    if (json_is_number(j) && json_number_value(j) >= 0) {
        snprintf(out, cap, "%.6f", json_number_value(j));
        return out;
    }
    *bad = key;
    return NULL;
}

/* Copies every segment file the stored playlist names (URIs under
 * uri_prefix) from the broadcast's directory into the clip's. */
static int copy_segments(cg_storage *st, const char *dir, const char *id, const char *playlist,
                         const char *uri_prefix)
{
    size_t plen = strlen(uri_prefix);
    const char *p = playlist;
    int rc = 0;
    while (!rc && (p = strstr(p, uri_prefix)) != NULL) {
        p += plen;
        size_t n = strcspn(p, "\"\r\n");
        char leaf[64];
        if (n == 0 || n >= sizeof(leaf))
            return CG_EPROTO;
        memcpy(leaf, p, n);
        leaf[n] = '\0';
        p += n;
        char src[CG_STORAGE_NAME_MAX + 1], dst[CG_STORAGE_NAME_MAX + 1];
        rc = cg_index_name(dir, leaf, src, sizeof(src));
        if (!rc)
            rc = cg_clip_store_name(id, leaf, dst, sizeof(dst));
        if (rc)
            return rc;
        cg_dbuf d;
        cg_dbuf_init(&d, SEGMENT_COPY_MAX);
        rc = cg_storage_get(st, src, &d);
        if (!rc)
            rc = cg_storage_put(st, dst, d.p ? d.p : "", d.len, 0);
        cg_dbuf_free(&d);
    }
    return rc;
}

/* Writes clips/<id>/{clip.mp4, clip.m3u8, segment copies}; *bytes is the
 * MP4's size. Returns 1 when resp holds the answer (see cut()). */
static int persist(cg_services *svc, cg_http_resp *resp, clip_req *c, const char *id,
                   uint64_t *bytes)
{
    cg_storage *st = cg_recorder_storage(svc->recorder);
    char path[4096], name[CG_STORAGE_NAME_MAX + 1];
    int rc = cut(svc, resp, c, path, sizeof(path));
    if (rc)
        return rc;
    struct stat sb;
    rc = stat(path, &sb) == 0 ? 0 : CG_EIO;
    if (!rc)
        rc = cg_clip_store_name(id, "clip.mp4", name, sizeof(name));
    if (!rc)
        rc = cg_storage_put_file(st, name, path, CG_STORAGE_NOREPLACE);
    if (rc) {
        unlink(path);
        return rc;
    }
    *bytes = (uint64_t)sb.st_size;
    char prefix[CG_CLIP_ID_LEN + 16];
    snprintf(prefix, sizeof(prefix), "/clips/%s/", id);
    cg_dbuf d;
    cg_dbuf_init(&d, PLAYLIST_MAX);
    rc = cg_clip_playlist(c->snap, &c->plan, prefix, &d);
    if (!rc)
        rc = cg_dbuf_err(&d);
    if (!rc)
        rc = copy_segments(st, c->info.dir, id, cg_dbuf_str(&d), prefix);
    if (!rc)
        rc = cg_clip_store_name(id, "clip.m3u8", name, sizeof(name));
    if (!rc)
        rc = cg_storage_put(st, name, d.p, d.len, CG_STORAGE_NOREPLACE);
    cg_dbuf_free(&d);
    return rc;
}

static int bad_json(cg_http_resp *resp, const char *what)
{
    return cg_http_problem(resp, 400, "Bad clip request",
                           "%s. Send a JSON object such as {\"broadcast\": \"<id>\", \"time\": "
                           "\"600s\", \"duration\": \"30s\", \"mode\": \"precise\", \"title\": "
                           "\"...\"} or {\"stream\": \"<name>\", \"last\": \"30s\"}.",
                           what);
}

static int api_clip_create(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    size_t len;
    const uint8_t *body = cg_http_req_body(req, &len);
    json_error_t jerr;
    json_t *o = json_loadb((const char *)body, len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return bad_json(resp, "The body is not a JSON object");
    }
    clip_req c;
    memset(&c, 0, sizeof(c));
    int rc = 0;
    char tb[48], db[48], lb[48];
    const char *bad = NULL;
    json_t *jb = json_object_get(o, "broadcast"), *js = json_object_get(o, "stream");
    json_t *jm = json_object_get(o, "mode"), *jt = json_object_get(o, "title");
    const char *tv = json_time(o, "time", tb, sizeof(tb), &bad);
    const char *dv = json_time(o, "duration", db, sizeof(db), &bad);
    const char *lv = json_time(o, "last", lb, sizeof(lb), &bad);
    if (bad) {
        rc = bad_json(resp, "time, duration and last are strings (\"600s\", \"5m\") or "
                            "non-negative numbers of seconds");
        goto out;
    }
    if ((jb && !json_is_string(jb)) || (js && !json_is_string(js)) || (!jb == !js)) {
        rc = bad_json(resp, "Name exactly one of broadcast (an id) or stream (a live stream), "
                            "as a string");
        goto out;
    }
    if ((jm && !json_is_string(jm)) || (jt && !json_is_string(jt))) {
        rc = bad_json(resp, "mode and title are strings");
        goto out;
    }
    const char *title = jt ? json_string_value(jt) : "";
    if (strlen(title) > CG_CLIP_TITLE_MAX) {
        rc = bad_json(resp, "The title is longer than 200 bytes");
        goto out;
    }
    rc = resolve(svc, resp, jb ? json_string_value(jb) : NULL, js ? json_string_value(js) : NULL,
                 tv, dv, lv, jm ? json_string_value(jm) : NULL, &c);
    if (rc || cg_http_resp_get_status(resp) >= 400)
        goto out;
    cg_clip_meta m;
    memset(&m, 0, sizeof(m));
    rc = cg_clip_store_make_id(m.id, sizeof(m.id));
    if (rc)
        goto out;
    rc = persist(svc, resp, &c, m.id, &m.bytes);
    if (rc) {
        cg_clip_store_purge(svc->clips, m.id);
        if (rc == 1)
            rc = 0;
        goto out;
    }
    memcpy(m.broadcast, c.info.id, sizeof(m.broadcast));
    snprintf(m.title, sizeof(m.title), "%s", title);
    m.mode = c.plan.mode;
    m.req_start_us = c.plan.req_start_us;
    m.req_duration_us = c.plan.req_duration_us;
    m.start_us = c.plan.start_us;
    m.duration_us = c.plan.duration_us;
    m.keyframe_us = c.plan.keyframe_us;
    m.created_wall_us = cg_wall_us();
    rc = cg_clip_store_commit(svc->clips, &m);
    if (rc) {
        cg_clip_store_purge(svc->clips, m.id);
        goto out;
    }
    cg_info(c.info.id, "clip %s persisted: %.3f+%.3f s, %" PRIu64 " bytes", m.id,
            (double)m.start_us / 1e6, (double)m.duration_us / 1e6, m.bytes);
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/v1/clips/%s", m.id);
    cg_http_resp_header(resp, "Location", loc);
    clip_headers(resp, &c.plan);
    cg_dbuf d;
    cg_dbuf_init(&d, 1u << 16);
    rc = cg_clip_meta_format(&m, &d);
    if (!rc)
        rc = send_json_text(resp, &d, 201);
    cg_dbuf_free(&d);
out:
    json_decref(o);
    clip_req_clear(&c);
    return rc;
}

static int no_clip(cg_http_resp *resp, const char *id)
{
    return cg_http_problem(resp, 404, "No such clip",
                           "There is no clip \"%s\". Clips are listed at /api/v1/clips.", id);
}

static int api_clip_list(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *b = cg_http_req_query(req, "broadcast");
    cg_clip_meta *v = NULL;
    size_t n = 0;
    int rc = cg_clip_store_list(svc->clips, b && b[0] ? b : NULL, &v, &n);
    if (rc)
        return rc;
    cg_dbuf d;
    cg_dbuf_init(&d, 64u << 20);
    cg_dbuf_adds(&d, "{\"clips\":[");
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            cg_dbuf_adds(&d, ",");
        rc = cg_clip_meta_format(&v[i], &d);
    }
    cg_dbuf_adds(&d, "]}");
    free(v);
    if (!rc)
        rc = send_json_text(resp, &d, 200);
    cg_dbuf_free(&d);
    return rc;
}

static int api_clip_get(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *id = cg_http_req_capture(req, "id");
    cg_clip_meta m;
    if (cg_clip_store_get(svc->clips, id, &m) != 0)
        return no_clip(resp, id);
    cg_dbuf d;
    cg_dbuf_init(&d, 1u << 16);
    int rc = cg_clip_meta_format(&m, &d);
    if (!rc)
        rc = send_json_text(resp, &d, 200);
    cg_dbuf_free(&d);
    return rc;
}

static int api_clip_delete(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *id = cg_http_req_capture(req, "id");
    int rc = cg_clip_store_delete(svc->clips, id);
    if (rc == CG_ENOTFOUND)
        return no_clip(resp, id);
    if (rc)
        return rc;
    cg_info("clips", "clip %s deleted", id);
    cg_http_resp_status(resp, 204);
    return 0;
}

/* Serves clips/<id>/<leaf> from the store. */
static int serve_object(cg_http_resp *resp, cg_storage *st, const char *id, const char *leaf,
                        const char *type)
{
    char name[CG_STORAGE_NAME_MAX + 1];
    cg_storage_obj *o = NULL;
    int rc = cg_clip_store_name(id, leaf, name, sizeof(name));
    if (!rc)
        rc = cg_storage_open(st, name, &o);
    if (rc == CG_EINVAL || rc == CG_ENOTFOUND)
        return cg_http_problem(resp, 404, "No such file", "Clip \"%s\" has no file \"%s\".", id,
                               leaf);
    if (rc)
        return rc;
    return cg_http_resp_body_object(resp, o, type, "no-cache");
}

static int clip_file(cg_http_resp *resp, cg_services *svc, const char *id, const char *leaf,
                     const char *type)
{
    cg_clip_meta m;
    if (cg_clip_store_get(svc->clips, id, &m) != 0)
        return no_clip(resp, id);
    int rc = serve_object(resp, cg_recorder_storage(svc->recorder), id, leaf, type);
    if (!rc && strcmp(leaf, "clip.mp4") == 0 && cg_http_resp_get_status(resp) < 400) {
        cg_clip_plan p = {
            .req_start_us = m.req_start_us,
            .req_duration_us = m.req_duration_us,
            .start_us = m.start_us,
            .duration_us = m.duration_us,
            .keyframe_us = m.keyframe_us,
            .mode = m.mode,
        };
        clip_headers(resp, &p);
    }
    return rc;
}

static int clip_mp4(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return clip_file(resp, ctx, cg_http_req_capture(req, "id"), "clip.mp4", MP4_TYPE);
}

static int clip_m3u8(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return clip_file(resp, ctx, cg_http_req_capture(req, "id"), "clip.m3u8", PLAYLIST_TYPE);
}

static int clip_segment(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    const char *id = cg_http_req_capture(req, "id");
    const char *file = cg_http_req_capture(req, "file");
    /* Only the segment copies: never the metadata or the playlist by
     * another name. */
    if (strncmp(file, "seg-", 4) != 0 && strncmp(file, "init", 4) != 0)
        return cg_http_problem(resp, 404, "No such file", "Clip \"%s\" has no file \"%s\".", id,
                               file);
    return clip_file(resp, ctx, id, file, MP4_TYPE);
}

static const cg_http_route clip_routes[] = {
    {.method = "GET",
     .pattern = "/recordings/{broadcast}/clip.mp4",
     .handler = recording_clip_mp4,
     .name = "recording_clip_mp4"},
    {.method = "GET",
     .pattern = "/recordings/{broadcast}/clip.m3u8",
     .handler = recording_clip_m3u8,
     .name = "recording_clip_m3u8"},
    {.method = "GET",
     .pattern = "/live/{stream}/clip.mp4",
     .handler = live_clip_mp4,
     .name = "live_clip_mp4"},
    {.method = "GET",
     .pattern = "/live/{stream}/clip.m3u8",
     .handler = live_clip_m3u8,
     .name = "live_clip_m3u8"},
    {.method = "POST", .pattern = "/api/v1/clips", .handler = api_clip_create, .name = "api_clips"},
    {.method = "GET", .pattern = "/api/v1/clips", .handler = api_clip_list, .name = "api_clips"},
    {.method = "GET", .pattern = "/api/v1/clips/{id}", .handler = api_clip_get, .name = "api_clip"},
    {.method = "DELETE",
     .pattern = "/api/v1/clips/{id}",
     .handler = api_clip_delete,
     .name = "api_clip"},
    {.method = "GET", .pattern = "/clips/{id}.mp4", .handler = clip_mp4, .name = "clip_mp4"},
    {.method = "GET", .pattern = "/clips/{id}.m3u8", .handler = clip_m3u8, .name = "clip_m3u8"},
    {.method = "GET",
     .pattern = "/clips/{id}/{file}",
     .handler = clip_segment,
     .name = "clip_segment"},
};

int cg_clips_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, clip_routes, sizeof(clip_routes) / sizeof(clip_routes[0]),
                                     svc);
}
