/* Starts the HTTP server on an ephemeral loopback port and drives it with a
 * plain socket client: every request is written byte for byte, so odd
 * paths and bodies reach the server exactly as written here. */
#include "http/server.h"
#include "http/problem.h"
#include "core/config.h"
#include "core/err.h"
#include "core/metrics.h"
#include "cg_test.h"
#include "http_client.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#define MAX_BODY 1024
#define FILE_SIZE 1000

static int g_echo_calls;
static pthread_mutex_t g_slow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_slow_cond = PTHREAD_COND_INITIALIZER;
static bool g_slow_release;
static char g_file_path[64];

/* ---- client: http_client.h ---- */

/* Checks an RFC 9457 body: status member, non-empty title and detail. */
static void check_problem(const res *r, int status)
{
    CHECK_INT(r->status, status);
    CHECK_STR(header(r, "Content-Type"), "application/problem+json");
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, &e);
    CHECK(j != NULL);
    if (!j)
        return;
    CHECK_STR(json_string_value(json_object_get(j, "type")), "about:blank");
    CHECK_INT(json_integer_value(json_object_get(j, "status")), status);
    const char *title = json_string_value(json_object_get(j, "title"));
    const char *detail = json_string_value(json_object_get(j, "detail"));
    CHECK(title && *title);
    CHECK(detail && strlen(detail) > 20);
    json_decref(j);
}

/* ---- handlers ---- */

static int h_playlist(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    const char *d = cg_http_req_query(req, "duration");
    const char *flag = cg_http_req_query(req, "flag");
    char body[512];
    snprintf(body, sizeof(body), "stream=%s duration=%s flag=%s path=%s route=%s remote=%s ua=%s",
             cg_http_req_capture(req, "stream"), d ? d : "(none)", flag ? flag : "(none)",
             cg_http_req_path(req), cg_http_req_route(req), cg_http_req_remote_ip(req),
             cg_http_req_header(req, "x-test") ? cg_http_req_header(req, "x-test") : "(none)");
    return cg_http_resp_body_copy(resp, body, strlen(body), "text/plain");
}

static int h_clip_mp4(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    int fd = open(g_file_path, O_RDONLY);
    if (fd < 0)
        return CG_EIO;
    cg_http_resp_header(resp, "ETag", "\"v1\"");
    return cg_http_resp_body_fd(resp, fd, 0, FILE_SIZE, "video/mp4");
}

static int h_clip_m3u8(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    char body[128];
    snprintf(body, sizeof(body), "m3u8 id=%s", cg_http_req_capture(req, "id"));
    return cg_http_resp_body_copy(resp, body, strlen(body), "application/vnd.apple.mpegurl");
}

static int h_echo(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    int *calls = ctx;
    (*calls)++;
    size_t n;
    const uint8_t *b = cg_http_req_body(req, &n);
    cg_http_resp_status(resp, 201);
    cg_http_resp_header(resp, "Location", "/echo/1");
    return cg_http_resp_body_copy(resp, b, n, "application/octet-stream");
}

static int h_put(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return 0;
}

static int h_whip(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_http_resp_status(resp, 201);
    cg_http_resp_header(resp, "Link", "<stun:stun.example.org:3478>; rel=\"ice-server\"");
    cg_http_resp_header(resp, "Link", "<turn:turn.example.org:3478>; rel=\"ice-server\"");
    /* Header injection is refused. */
    if (cg_http_resp_header(resp, "X-Bad", "a\r\nSet-Cookie: x") != CG_EINVAL)
        return CG_EINVAL;
    return 0;
}

static int h_whip_options(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return cg_http_resp_header(resp, "Accept-Post", "application/sdp");
}

static int h_stream_any(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return cg_http_resp_body_copy(resp, "any", 3, "text/plain");
}

static int h_stream_active(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return cg_http_resp_body_copy(resp, "active", 6, "text/plain");
}

static int h_fail(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return CG_EIO;
}

static int h_busy(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_http_resp_header(resp, "Retry-After", "5");
    cg_http_problem(resp, 409, NULL, "Nobody publishes to \"%s\" yet; retry later.",
                    cg_http_req_capture(req, "stream"));
    return CG_ESTATE;
}

static int h_slow(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    pthread_mutex_lock(&g_slow_lock);
    while (!g_slow_release)
        pthread_cond_wait(&g_slow_cond, &g_slow_lock);
    pthread_mutex_unlock(&g_slow_lock);
    return cg_http_resp_body_copy(resp, "slow", 4, "text/plain");
}

static const cg_http_route routes[] = {
    {.method = "GET",
     .pattern = "/live/{stream}/index.m3u8",
     .handler = h_playlist,
     .name = "live_playlist"},
    {.method = "GET", .pattern = "/clips/{id}.mp4", .handler = h_clip_mp4, .name = "clip_mp4"},
    {.method = "GET", .pattern = "/clips/{id}.m3u8", .handler = h_clip_m3u8, .name = "clip_m3u8"},
    {.method = "POST", .pattern = "/echo", .handler = h_echo, .name = "echo"},
    {.method = "PUT", .pattern = "/echo", .handler = h_put, .name = "echo_put"},
    {.method = "POST", .pattern = "/whip/{stream}", .handler = h_whip, .name = "whip"},
    {.method = "OPTIONS",
     .pattern = "/whip/{stream}",
     .handler = h_whip_options,
     .name = "whip_options"},
    {.method = "GET",
     .pattern = "/api/v1/streams/{stream}",
     .handler = h_stream_any,
     .name = "stream"},
    {.method = "GET",
     .pattern = "/api/v1/streams/active",
     .handler = h_stream_active,
     .name = "streams_active"},
    {.method = "GET", .pattern = "/fail", .handler = h_fail, .name = "fail"},
    {.method = "GET", .pattern = "/busy/{stream}", .handler = h_busy, .name = "busy"},
    {.method = "GET", .pattern = "/slow", .handler = h_slow, .name = "slow"},
};

/* ---- tests ---- */

static void test_parsers(void)
{
    char out[64];
    size_t n;
    CHECK_INT(cg_http_pct_decode("a%20b+c", 7, false, out, sizeof(out), &n), 0);
    CHECK_STR(out, "a b+c");
    CHECK_INT(cg_http_pct_decode("a%20b+c", 7, true, out, sizeof(out), &n), 0);
    CHECK_STR(out, "a b c");
    CHECK_INT(n, 5);
    CHECK_INT(cg_http_pct_decode("%e2%82%AC", 9, false, out, sizeof(out), &n), 0);
    CHECK_STR(out, "\xe2\x82\xac");
    CHECK_INT(cg_http_pct_decode("a%00", 4, false, out, sizeof(out), &n), CG_EPROTO);
    CHECK_INT(cg_http_pct_decode("a%0", 3, false, out, sizeof(out), &n), CG_EPROTO);
    CHECK_INT(cg_http_pct_decode("a%g0", 4, false, out, sizeof(out), &n), CG_EPROTO);
    CHECK_INT(cg_http_pct_decode("abcd", 4, false, out, 4, &n), CG_ENOSPC);

    const char *q = "time=600s&duration=30s&filename=my+clip%21.mp4&flag&time=1";
    CHECK_INT(cg_http_query_get(q, "time", out, sizeof(out), &n), 0);
    CHECK_STR(out, "600s"); /* first occurrence */
    CHECK_INT(cg_http_query_get(q, "filename", out, sizeof(out), &n), 0);
    CHECK_STR(out, "my clip!.mp4");
    CHECK_INT(cg_http_query_get(q, "flag", out, sizeof(out), &n), 0);
    CHECK_STR(out, "");
    CHECK_INT(cg_http_query_get(q, "dur", out, sizeof(out), &n), CG_ENOTFOUND);
    CHECK_INT(cg_http_query_get("a%62c=1", "abc", out, sizeof(out), &n), 0);
    CHECK_STR(out, "1");
    CHECK_INT(cg_http_query_get("a=%zz", "a", out, sizeof(out), &n), CG_EPROTO);
    CHECK_INT(cg_http_query_get("", "a", out, sizeof(out), &n), CG_ENOTFOUND);

    /* RFC 9110 14.1.2 examples on a 10000-byte representation. */
    static const struct {
        const char *h;
        uint64_t size;
        int rc;
        uint64_t start, len;
    } v[] = {
        {"bytes=0-499", 10000, 0, 0, 500},
        {"bytes=500-999", 10000, 0, 500, 500},
        {"bytes=-500", 10000, 0, 9500, 500},
        {"bytes=9500-", 10000, 0, 9500, 500},
        {"bytes=0-0,-1", 10000, CG_EUNSUPP, 0, 0},
        {"bytes=0-99999", 10000, 0, 0, 10000},    /* last-pos clamps */
        {"bytes=-20000", 10000, 0, 0, 10000},     /* suffix longer than the body */
        {"BYTES = 1-2", 10000, CG_EUNSUPP, 0, 0}, /* not the "bytes" unit */
        {"Bytes=1-2", 10000, 0, 1, 2},
        {"bytes= 1-2 ", 10000, 0, 1, 2},
        {"bytes=10000-", 10000, CG_ERANGE, 0, 0},
        {"bytes=-0", 10000, CG_ERANGE, 0, 0},
        {"bytes=0-", 0, CG_ERANGE, 0, 0},
        {"bytes=5-2", 10000, CG_EPROTO, 0, 0},
        {"bytes=-", 10000, CG_EPROTO, 0, 0},
        {"bytes=1-2x", 10000, CG_EPROTO, 0, 0},
        {"bytes=99999999999999999999-", 10000, CG_EPROTO, 0, 0},
        {"items=0-1", 10000, CG_EUNSUPP, 0, 0},
        {"0-1", 10000, CG_EPROTO, 0, 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t s = 0, l = 0;
        int rc = cg_http_range_parse(v[i].h, v[i].size, &s, &l);
        if (rc != v[i].rc || (rc == 0 && (s != v[i].start || l != v[i].len))) {
            fprintf(stderr, "range \"%s\": rc %d %llu+%llu\n", v[i].h, rc, (unsigned long long)s,
                    (unsigned long long)l);
            cg_test_failures++;
        }
    }
}

static void test_builtin(void)
{
    res r;
    get(&r, "GET", "/healthz", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(header(&r, "Content-Type"), "application/json");
    CHECK_INT(r.body_len, 15);
    CHECK(r.body && memcmp(r.body, "{\"status\":\"ok\"}", 15) == 0);
    CHECK_STR(header(&r, "Access-Control-Allow-Origin"), "*");
    CHECK(strstr(header(&r, "Access-Control-Expose-Headers"), "Location") != NULL);
    CHECK(strstr(header(&r, "Access-Control-Expose-Headers"), "Preview-Start-Seconds") != NULL);
    res_free(&r);

    get(&r, "HEAD", "/healthz", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(header(&r, "Content-Length"), "15");
    CHECK_INT(r.body_len, 0);
    res_free(&r);

    get(&r, "GET", "/metrics", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(header(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    CHECK(r.body && strstr(r.body, "clipgate_build_info{version=\"" CG_VERSION "\"} 1\n"));
    CHECK(r.body && strstr(r.body, "# TYPE clipgate_http_requests_total counter\n"));
    CHECK(r.body &&
          strstr(r.body, "clipgate_http_requests_total{route=\"healthz\",code=\"200\"} 2\n"));
    CHECK(r.body && strstr(r.body, "\nclipgate_uptime_seconds "));
    res_free(&r);
}

static void test_routing(void)
{
    res r;
    get(&r, "GET", "/live/my%20stream/index.m3u8?duration=5m&flag", "X-Test: yes\r\n");
    CHECK_INT(r.status, 200);
    CHECK(r.body && strcmp(r.body, "stream=my stream duration=5m flag= path=/live/my stream/"
                                   "index.m3u8 route=live_playlist remote=127.0.0.1 ua=yes") == 0);
    res_free(&r);

    get(&r, "GET", "/live/x/index.m3u8", NULL);
    CHECK(r.body && strstr(r.body, "duration=(none) flag=(none)"));
    res_free(&r);

    get(&r, "GET", "/clips/abc.m3u8", NULL);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strcmp(r.body, "m3u8 id=abc") == 0);
    res_free(&r);

    /* A capture is never empty. */
    get(&r, "GET", "/clips/.m3u8", NULL);
    check_problem(&r, 404);
    res_free(&r);

    /* The literal route wins over the capture, whatever the table order. */
    get(&r, "GET", "/api/v1/streams/active", NULL);
    CHECK(r.body && strcmp(r.body, "active") == 0);
    res_free(&r);
    get(&r, "GET", "/api/v1/streams/other", NULL);
    CHECK(r.body && strcmp(r.body, "any") == 0);
    res_free(&r);

    get(&r, "GET", "/nope", NULL);
    check_problem(&r, 404);
    CHECK(r.body && strstr(r.body, "/nope"));
    CHECK_STR(header(&r, "Access-Control-Allow-Origin"), "*");
    res_free(&r);
    get(&r, "GET", "/healthz/", NULL);
    check_problem(&r, 404);
    res_free(&r);

    get(&r, "DELETE", "/echo", NULL);
    check_problem(&r, 405);
    CHECK_STR(header(&r, "Allow"), "POST, PUT, OPTIONS");
    res_free(&r);
    get(&r, "POST", "/healthz", "Content-Length: 0\r\n");
    check_problem(&r, 405);
    CHECK_STR(header(&r, "Allow"), "GET, HEAD, OPTIONS");
    res_free(&r);

    get(&r, "GET", "/fail", NULL);
    check_problem(&r, 500);
    res_free(&r);

    get(&r, "GET", "/busy/cam1", NULL);
    check_problem(&r, 409);
    CHECK_STR(header(&r, "Retry-After"), "5");
    CHECK(r.body && strstr(r.body, "\\\"cam1\\\""));
    res_free(&r);
}

static void test_odd_paths(void)
{
    static const char *const bad[] = {
        "/live/%2e%2e/index.m3u8", "/live/../index.m3u8",   "/live/a%00b/index.m3u8",
        "/live/a%2Fb/index.m3u8",  "/live/a%zz/index.m3u8", "/live/x/index.m3u8?duration=%G1",
        "/live/./index.m3u8",      "live/x/index.m3u8",
    };
    res r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        get(&r, "GET", bad[i], NULL);
        if (r.status != 400)
            fprintf(stderr, "odd path %s -> %d\n", bad[i], r.status);
        check_problem(&r, 400);
        res_free(&r);
    }
    char *long_url = malloc(9001);
    long_url[0] = '/';
    memset(long_url + 1, 'a', 8999);
    long_url[9000] = '\0';
    get(&r, "GET", long_url, NULL);
    check_problem(&r, 414);
    res_free(&r);
    free(long_url);

    /* Beyond what libmicrohttpd buffers: it refuses the request itself. */
    char *huge = malloc(60001);
    huge[0] = '/';
    memset(huge + 1, 'b', 59999);
    huge[60000] = '\0';
    get(&r, "GET", huge, NULL);
    CHECK(r.status == 414 || r.status == 400 || r.status == 431);
    res_free(&r);
    free(huge);

    /* Still serving after all that. */
    get(&r, "GET", "/healthz", NULL);
    CHECK_INT(r.status, 200);
    res_free(&r);
}

static void test_body_limit(void)
{
    static char body[MAX_BODY + 1];
    memset(body, 'x', sizeof(body));
    char head[256];
    res r;

    int before = g_echo_calls;
    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
             MAX_BODY);
    request(&r, head, body, MAX_BODY);
    CHECK_INT(r.status, 201);
    CHECK_INT(r.body_len, MAX_BODY);
    CHECK_STR(header(&r, "Location"), "/echo/1");
    res_free(&r);
    CHECK_INT(g_echo_calls, before + 1);

    snprintf(head, sizeof(head),
             "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
             MAX_BODY + 1);
    request(&r, head, body, MAX_BODY + 1);
    check_problem(&r, 413);
    CHECK(r.body && strstr(r.body, "1025 bytes"));
    res_free(&r);

    /* Chunked: the size is only known while reading. */
    char chunked[2048];
    int n = snprintf(chunked, sizeof(chunked),
                     "POST /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n300\r\n");
    memset(chunked + n, 'y', 0x300);
    n += 0x300;
    n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "\r\n300\r\n");
    memset(chunked + n, 'y', 0x300);
    n += 0x300;
    n += snprintf(chunked + n, sizeof(chunked) - (size_t)n, "\r\n0\r\n\r\n");
    request(&r, chunked, NULL, 0);
    check_problem(&r, 413);
    res_free(&r);

    /* A client waiting for 100-continue is refused before it sends. */
    request(&r,
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n"
            "Expect: 100-continue\r\n\r\n",
            NULL, 0);
    check_problem(&r, 413);
    res_free(&r);

    /* The limit holds on every routed path, before the method check. */
    snprintf(head, sizeof(head),
             "POST /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: %d\r\n\r\n",
             MAX_BODY + 1);
    request(&r, head, body, MAX_BODY + 1);
    check_problem(&r, 413);
    res_free(&r);
    CHECK_INT(g_echo_calls, before + 1); /* the handler never saw a big body */

    /* A wrong method with a body still gets its 405 (body read and dropped). */
    request(&r,
            "DELETE /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 5\r\n\r\n",
            "hello", 5);
    check_problem(&r, 405);
    res_free(&r);
}

static void test_cors_preflight(void)
{
    res r;
    get(&r, "OPTIONS", "/live/x/index.m3u8",
        "Origin: http://example.org\r\nAccess-Control-Request-Method: GET\r\n");
    CHECK_INT(r.status, 204);
    CHECK_STR(header(&r, "Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
    CHECK_STR(header(&r, "Access-Control-Allow-Origin"), "*");
    CHECK(strstr(header(&r, "Access-Control-Allow-Headers"), "Authorization"));
    CHECK(strstr(header(&r, "Access-Control-Allow-Headers"), "Content-Type"));
    CHECK(strstr(header(&r, "Access-Control-Allow-Headers"), "If-Match"));
    CHECK(strstr(header(&r, "Access-Control-Allow-Headers"), "Range"));
    CHECK_STR(header(&r, "Access-Control-Max-Age"), "7200");
    CHECK_INT(r.body_len, 0);
    res_free(&r);

    /* A route's own OPTIONS handler runs, with the preflight headers added. */
    get(&r, "OPTIONS", "/whip/cam1", "Origin: http://example.org\r\n");
    CHECK_INT(r.status, 204);
    CHECK_STR(header(&r, "Accept-Post"), "application/sdp");
    CHECK_STR(header(&r, "Access-Control-Allow-Methods"), "POST, OPTIONS");
    CHECK(strstr(header(&r, "Access-Control-Allow-Headers"), "Authorization"));
    res_free(&r);

    get(&r, "OPTIONS", "/unknown", NULL);
    check_problem(&r, 404);
    res_free(&r);

    /* Several values of one header (WHIP's ICE servers). */
    request(&r,
            "POST /whip/cam1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
            "v=0", 3);
    CHECK_INT(r.status, 201);
    CHECK_STR(header_n(&r, "Link", 0), "<stun:stun.example.org:3478>; rel=\"ice-server\"");
    CHECK_STR(header_n(&r, "Link", 1), "<turn:turn.example.org:3478>; rel=\"ice-server\"");
    CHECK_STR(header(&r, "X-Bad"), "");
    CHECK(strstr(r.head, "Set-Cookie") == NULL);
    res_free(&r);
}

static void test_ranges(void)
{
    char want[FILE_SIZE];
    for (int i = 0; i < FILE_SIZE; i++)
        want[i] = (char)('A' + i % 26);
    res r;
    get(&r, "GET", "/clips/c1.mp4", NULL);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, FILE_SIZE);
    CHECK(r.body_len == FILE_SIZE && memcmp(r.body, want, FILE_SIZE) == 0);
    CHECK_STR(header(&r, "Accept-Ranges"), "bytes");
    CHECK_STR(header(&r, "Content-Type"), "video/mp4");
    res_free(&r);

    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=100-199\r\n");
    CHECK_INT(r.status, 206);
    CHECK_STR(header(&r, "Content-Range"), "bytes 100-199/1000");
    CHECK(r.body_len == 100 && memcmp(r.body, want + 100, 100) == 0);
    res_free(&r);

    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=-10\r\n");
    CHECK_INT(r.status, 206);
    CHECK_STR(header(&r, "Content-Range"), "bytes 990-999/1000");
    CHECK(r.body_len == 10 && memcmp(r.body, want + 990, 10) == 0);
    res_free(&r);

    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=1000-\r\n");
    check_problem(&r, 416);
    CHECK_STR(header(&r, "Content-Range"), "bytes */1000");
    res_free(&r);

    /* Ignored: several ranges, a malformed one, a stale If-Range. */
    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=0-1,5-6\r\n");
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, FILE_SIZE);
    res_free(&r);
    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=9-2\r\n");
    CHECK_INT(r.status, 200);
    res_free(&r);
    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=0-9\r\nIf-Range: \"v0\"\r\n");
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body_len, FILE_SIZE);
    res_free(&r);
    get(&r, "GET", "/clips/c1.mp4", "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n");
    CHECK_INT(r.status, 206);
    CHECK_INT(r.body_len, 10);
    res_free(&r);

    /* Memory bodies honour ranges too. */
    get(&r, "GET", "/clips/abc.m3u8", "Range: bytes=5-6\r\n");
    CHECK_INT(r.status, 206);
    CHECK(r.body_len == 2 && memcmp(r.body, "id", 2) == 0);
    res_free(&r);

    get(&r, "HEAD", "/clips/c1.mp4", "Range: bytes=0-9\r\n");
    CHECK_INT(r.status, 200);
    CHECK_STR(header(&r, "Content-Length"), "1000");
    CHECK_INT(r.body_len, 0);
    res_free(&r);
}

/* A handler blocked on something slow does not hold up other clients. */
static void test_concurrency(void)
{
    int slow = connect_server();
    CHECK(slow >= 0);
    const char *req = "GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    send_all(slow, req, strlen(req));
    res r;
    get(&r, "GET", "/healthz", NULL);
    CHECK_INT(r.status, 200);
    res_free(&r);
    pthread_mutex_lock(&g_slow_lock);
    g_slow_release = true;
    pthread_cond_broadcast(&g_slow_cond);
    pthread_mutex_unlock(&g_slow_lock);
    read_response(slow, &r);
    CHECK_INT(r.status, 200);
    CHECK(r.body && strcmp(r.body, "slow") == 0);
    res_free(&r);
}

static void test_metrics_counts(void)
{
    res r;
    get(&r, "GET", "/metrics", NULL);
    /* Exactly the requests made above, by route and status. */
    static const char *const want[] = {
        "clipgate_http_requests_total{route=\"echo\",code=\"201\"} 1\n",
        "clipgate_http_requests_total{route=\"echo\",code=\"413\"} 3\n",
        "clipgate_http_requests_total{route=\"healthz\",code=\"413\"} 1\n",
        "clipgate_http_requests_total{route=\"echo\",code=\"405\"} 2\n",
        "clipgate_http_requests_total{route=\"unmatched\",code=\"404\"} 4\n",
        "clipgate_http_requests_total{route=\"invalid\",code=\"400\"} 8\n",
        "clipgate_http_requests_total{route=\"clip_mp4\",code=\"206\"} 3\n",
        "clipgate_http_requests_total{route=\"clip_mp4\",code=\"416\"} 1\n",
        "clipgate_http_requests_total{route=\"whip\",code=\"201\"} 1\n",
        "clipgate_http_requests_total{route=\"whip_options\",code=\"204\"} 1\n",
        "clipgate_http_requests_total{route=\"fail\",code=\"500\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!r.body || !strstr(r.body, want[i])) {
            fprintf(stderr, "metrics lack %s", want[i]);
            cg_test_failures++;
        }
    res_free(&r);
}

static void test_bad_routes(void)
{
    cg_config cfg;
    CHECK_INT(cg_config_defaults(&cfg), 0);
    cfg.http_port = 0;
    cg_http_server *srv = NULL;
    CHECK_INT(cg_http_server_new(&srv, &cfg), 0);
    static const cg_http_route bad[][1] = {
        {{.method = "GET", .pattern = "no-slash", .handler = h_put, .name = "x"}},
        {{.method = "GET", .pattern = "/a/{b", .handler = h_put, .name = "x"}},
        {{.method = "GET", .pattern = "/a/{b}{c}", .handler = h_put, .name = "x"}},
        {{.method = "GET", .pattern = "/a/{}", .handler = h_put, .name = "x"}},
        {{.method = "GET", .pattern = "/{a}/{a}", .handler = h_put, .name = "x"}},
        {{.method = "GET", .pattern = "/a", .handler = NULL, .name = "x"}},
        {{.method = NULL, .pattern = "/a", .handler = h_put, .name = "x"}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(cg_http_server_add_routes(srv, bad[i], 1, NULL), CG_EINVAL);
    CHECK_INT(cg_http_server_start(srv), 0);
    CHECK(cg_http_server_port(srv) != 0);
    CHECK_INT(cg_http_server_add_routes(srv, routes, 1, NULL), CG_ESTATE);
    CHECK_INT(cg_http_server_start(srv), CG_ESTATE);
    cg_http_server_stop(srv);
    cg_http_server_stop(srv);
    CHECK_INT(cg_http_server_port(srv), 0);
    cg_http_server_free(srv);
    cg_http_server_free(NULL);

    /* A port in use is reported, not fatal. */
    cg_http_server *a = NULL, *b = NULL;
    CHECK_INT(cg_http_server_new(&a, &cfg), 0);
    CHECK_INT(cg_http_server_start(a), 0);
    cfg.http_port = cg_http_server_port(a);
    free(cfg.bind);
    cfg.bind = strdup("127.0.0.1");
    CHECK_INT(cg_http_server_new(&b, &cfg), 0);
    CHECK_INT(cg_http_server_start(b), CG_EIO);
    CHECK(strlen(cg_http_server_error(b)) > 0);
    cg_http_server_free(b);
    cg_http_server_free(a);

    cfg.http_port = 0;
    free(cfg.tls_cert);
    cfg.tls_cert = strdup("/nonexistent/cert.pem");
    cfg.tls_key = strdup("/nonexistent/key.pem");
    CHECK_INT(cg_http_server_new(&b, &cfg), CG_EIO);
    cg_config_clear(&cfg);
}

int main(void)
{
    snprintf(g_file_path, sizeof(g_file_path), "/tmp/cg_server_test_XXXXXX");
    int fd = mkstemp(g_file_path);
    char content[FILE_SIZE];
    for (int i = 0; i < FILE_SIZE; i++)
        content[i] = (char)('A' + i % 26);
    if (fd < 0 || write(fd, content, FILE_SIZE) != FILE_SIZE)
        return 1;
    close(fd);

    cg_config cfg;
    if (cg_config_defaults(&cfg))
        return 1;
    cfg.http_port = 0;
    free(cfg.bind);
    cfg.bind = strdup("127.0.0.1");
    cfg.max_body = MAX_BODY;
    cg_http_server *srv = NULL;
    CHECK_INT(cg_http_server_new(&srv, &cfg), 0);
    cg_config_clear(&cfg); /* the server keeps nothing borrowed from cfg */
    CHECK_INT(
        cg_http_server_add_routes(srv, routes, sizeof(routes) / sizeof(routes[0]), &g_echo_calls),
        0);
    CHECK_INT(cg_http_server_start(srv), 0);
    g_port = cg_http_server_port(srv);
    CHECK(g_port != 0);

    RUN(test_parsers);
    RUN(test_builtin);
    RUN(test_routing);
    RUN(test_odd_paths);
    RUN(test_body_limit);
    RUN(test_cors_preflight);
    RUN(test_ranges);
    RUN(test_concurrency);
    RUN(test_metrics_counts);
    cg_http_server_free(srv);
    RUN(test_bad_routes);
    unlink(g_file_path);
    return TEST_RESULT();
}
