/* HTTP server on libmicrohttpd (threading model and routing rules: see
 * server.h).
 *
 * Request life cycle: MHD's URI-log callback runs first with the raw
 * request target and allocates the cg_http_req, so paths and queries are
 * decoded here, by one decoder, instead of by MHD's unescaper (which turns
 * %2F into a path separator and %00 into a truncated string). The access
 * callback then runs once after the headers (routing, early 4xx answers),
 * once per body chunk (bounded collection) and once at the end (handler).
 * The completion callback frees the request, whatever happened. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/problem.h"

#define MAX_URL 8192   /* longer request targets get 414 */
#define MAX_SEGS 32    /* path segments; deeper paths match no route */
#define MAX_CAPS 8     /* captures per pattern */
#define MAX_METHODS 16 /* distinct methods on one path */
#define METRICS_MAX (16u << 20)
#define PEM_MAX (1u << 20)
#define CONN_TIMEOUT_S 30   /* idle keep-alive connections give back their thread */
#define CORS_MAX_AGE "7200" /* Chromium caps preflight caching at 2 h */

/* Response headers a browser script may read (CORS). Extend as routes gain
 * headers: everything not CORS-safelisted that a web client needs. */
static const char *const cors_expose_headers[] = {
    "Location",
    "ETag",
    "Link",
    "Content-Range",
    "Accept-Ranges",
    "Accept-Post",
    "Accept-Patch",
    "Retry-After",
    "Content-Disposition",
    "Preview-Start-Seconds",
    "Stream-Media-Id",
    "Clip-Requested-Start",
    "Clip-Requested-Duration",
    "Clip-Start",
    "Clip-Duration",
    "Clip-Keyframe",
    "Clip-Mode",
};

/* Request headers a browser script may send (CORS preflight). Authorization
 * is listed explicitly: a "*" wildcard does not cover it. */
static const char *const cors_allow_headers[] = {
    "Authorization", "Content-Type", "If-Match", "If-None-Match", "If-Range", "Range",
};

enum seg_kind { SEG_LITERAL, SEG_CAPTURE };

typedef struct seg {
    int kind;
    char *text;   /* literal text, or capture name */
    char *prefix; /* capture: literal before "{", "" if none */
    char *suffix; /* capture: literal after "}", "" if none */
} seg;

typedef struct route_entry {
    const cg_http_route *r; /* borrowed from the caller's table */
    void *ctx;
    seg segs[MAX_SEGS];
    size_t n_segs;
    int literals; /* literal segments: the more, the more specific */
} route_entry;

struct cg_http_server {
    struct MHD_Daemon *mhd;
    route_entry *routes;
    size_t n_routes, cap_routes;
    int port;
    uint16_t bound_port;
    char *bind;
    uint64_t max_body;
    unsigned conn_limit;
    char *tls_cert, *tls_key; /* PEM text */
    char *expose_headers;     /* joined cors_expose_headers */
    char *allow_headers;      /* joined cors_allow_headers */
    cg_metric *requests;      /* clipgate_http_requests_total{route,code} */
    pthread_mutex_t err_lock;
    char err[256];
};

typedef struct hdr {
    char *name;
    char *value;
} hdr;

enum body_kind { BODY_NONE, BODY_MEM, BODY_FD };

struct cg_http_resp {
    int status;
    hdr *hdrs;
    size_t n_hdrs;
    int body_kind;
    char *mem;
    size_t mem_len;
    int fd;
    uint64_t fd_off, fd_len;
    char *content_type;
};

typedef struct arena_str {
    struct arena_str *next;
    char s[];
} arena_str;

enum req_state { REQ_NEW, REQ_BODY, REQ_DONE };

struct cg_http_req {
    cg_http_server *srv;
    struct MHD_Connection *conn;
    int state;
    char *raw;         /* request target as received */
    const char *query; /* inside raw, after "?", or NULL */
    const char *method;
    char *path; /* decoded */
    const route_entry *route;
    const char *route_name;
    const char *cap_names[MAX_CAPS];
    const char *cap_values[MAX_CAPS];
    size_t n_caps;
    cg_dbuf body;
    bool too_large; /* over max-body: drop the body, answer 413 */
    bool has_early; /* answer decided before the body: drop the body */
    cg_http_resp early;
    uint64_t body_seen;
    char allow[160]; /* Allow header of the matched path */
    arena_str *arena;
    char remote_ip[INET6_ADDRSTRLEN];
};

/* ---- small helpers ---- */

static char *arena_dup(cg_http_req *req, const char *s, size_t n)
{
    arena_str *a = malloc(sizeof(*a) + n + 1);
    if (!a)
        return NULL;
    memcpy(a->s, s, n);
    a->s[n] = '\0';
    a->next = req->arena;
    req->arena = a;
    return a->s;
}

static char *join(const char *const *v, size_t n)
{
    cg_dbuf d;
    cg_dbuf_init(&d, 4096);
    for (size_t i = 0; i < n; i++)
        cg_dbuf_printf(&d, "%s%s", i ? ", " : "", v[i]);
    if (cg_dbuf_err(&d)) {
        cg_dbuf_free(&d);
        return NULL;
    }
    return cg_dbuf_take(&d, NULL);
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* ---- parsers ---- */

/* Every key and value must decode, so later lookups cannot fail on encoding. */
static bool query_valid(const char *query)
{
    size_t len = strlen(query);
    char *scratch = malloc(len + 1);
    if (!scratch)
        return false;
    bool ok = true;
    const char *p = query;
    while (ok && *p) {
        size_t n = strcspn(p, "&=");
        ok = cg_http_pct_decode(p, n, true, scratch, len + 1, NULL) == 0;
        p += n;
        if (*p)
            p++;
    }
    free(scratch);
    return ok;
}

/* ---- route patterns ---- */

static bool valid_capture_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static void free_route(route_entry *e)
{
    for (size_t i = 0; i < e->n_segs; i++) {
        free(e->segs[i].text);
        free(e->segs[i].prefix);
        free(e->segs[i].suffix);
    }
    e->n_segs = 0;
}

static int compile_segment(seg *s, const char *p, size_t n)
{
    const char *open = memchr(p, '{', n);
    const char *close = memchr(p, '}', n);
    if (!open && !close) {
        s->kind = SEG_LITERAL;
        s->text = strndup(p, n);
        return s->text ? 0 : CG_ENOMEM;
    }
    if (!open || !close || close < open)
        return CG_EINVAL;
    const char *rest = close + 1;
    size_t rest_len = n - (size_t)(rest - p);
    if (memchr(open + 1, '{', n - (size_t)(open + 1 - p)) || memchr(rest, '}', rest_len) ||
        !valid_capture_name(open + 1, (size_t)(close - open - 1)))
        return CG_EINVAL;
    s->kind = SEG_CAPTURE;
    s->text = strndup(open + 1, (size_t)(close - open - 1));
    s->prefix = strndup(p, (size_t)(open - p));
    s->suffix = strndup(rest, rest_len);
    return s->text && s->prefix && s->suffix ? 0 : CG_ENOMEM;
}

static int compile_route(route_entry *e, const cg_http_route *r, void *ctx)
{
    memset(e, 0, sizeof(*e));
    e->r = r;
    e->ctx = ctx;
    if (!r->method || !*r->method || !r->pattern || r->pattern[0] != '/' || !r->handler ||
        !r->name || has_crlf(r->method) || strchr(r->method, ','))
        return CG_EINVAL;
    const char *p = r->pattern + 1;
    size_t n_caps = 0;
    int rc = 0;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (e->n_segs == MAX_SEGS) {
            rc = CG_EINVAL;
            break;
        }
        /* Counted before it is filled: free_route() frees a half-built one. */
        seg *s = &e->segs[e->n_segs++];
        rc = compile_segment(s, p, n);
        if (rc)
            break;
        if (s->kind == SEG_LITERAL)
            e->literals++;
        else if (++n_caps > MAX_CAPS)
            rc = CG_EINVAL;
        for (size_t i = 0; rc == 0 && s->kind == SEG_CAPTURE && i + 1 < e->n_segs; i++)
            if (e->segs[i].kind == SEG_CAPTURE && strcmp(e->segs[i].text, s->text) == 0)
                rc = CG_EINVAL; /* the same capture name twice */
        if (rc || p[n] == '\0')
            break;
        p += n + 1;
    }
    if (rc)
        free_route(e);
    return rc;
}

/* Matches decoded segments against a route; fills captures on success. */
static bool match_route(const route_entry *e, char *const *segs, size_t n, cg_http_req *req)
{
    if (n != e->n_segs)
        return false;
    size_t n_caps = 0;
    for (size_t i = 0; i < n; i++) {
        const seg *s = &e->segs[i];
        size_t len = strlen(segs[i]);
        if (s->kind == SEG_LITERAL) {
            if (strcmp(s->text, segs[i]) != 0)
                return false;
            continue;
        }
        size_t pl = strlen(s->prefix), sl = strlen(s->suffix);
        /* A capture is never empty: "/clips/.mp4" does not match "{id}.mp4". */
        if (len <= pl + sl || strncmp(segs[i], s->prefix, pl) != 0 ||
            strcmp(segs[i] + len - sl, s->suffix) != 0)
            return false;
        if (req) {
            req->cap_names[n_caps] = s->text;
            req->cap_values[n_caps] = arena_dup(req, segs[i] + pl, len - pl - sl);
            if (!req->cap_values[n_caps])
                return false;
        }
        n_caps++;
    }
    if (req)
        req->n_caps = n_caps;
    return true;
}

/* ---- responses ---- */

static void resp_init(cg_http_resp *resp, int status)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = status;
    resp->fd = -1;
}

static void resp_drop_body(cg_http_resp *resp)
{
    free(resp->mem);
    resp->mem = NULL;
    resp->mem_len = 0;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
    resp->body_kind = BODY_NONE;
    free(resp->content_type);
    resp->content_type = NULL;
}

static void resp_clear(cg_http_resp *resp)
{
    resp_drop_body(resp);
    for (size_t i = 0; i < resp->n_hdrs; i++) {
        free(resp->hdrs[i].name);
        free(resp->hdrs[i].value);
    }
    free(resp->hdrs);
    resp->hdrs = NULL;
    resp->n_hdrs = 0;
}

void cg_http_resp_status(cg_http_resp *resp, int status)
{
    resp->status = status;
}

int cg_http_resp_get_status(const cg_http_resp *resp)
{
    return resp->status;
}

int cg_http_resp_header(cg_http_resp *resp, const char *name, const char *value)
{
    if (!name || !*name || !value || has_crlf(name) || has_crlf(value) || strchr(name, ':'))
        return CG_EINVAL;
    hdr *nh = realloc(resp->hdrs, (resp->n_hdrs + 1) * sizeof(*nh));
    if (!nh)
        return CG_ENOMEM;
    resp->hdrs = nh;
    hdr *h = &nh[resp->n_hdrs];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return CG_ENOMEM;
    }
    resp->n_hdrs++;
    return 0;
}

static const char *resp_find_header(const cg_http_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_hdrs; i++)
        if (strcasecmp(resp->hdrs[i].name, name) == 0)
            return resp->hdrs[i].value;
    return NULL;
}

static int set_content_type(cg_http_resp *resp, const char *content_type)
{
    if (!content_type)
        return 0;
    if (has_crlf(content_type))
        return CG_EINVAL;
    resp->content_type = strdup(content_type);
    return resp->content_type ? 0 : CG_ENOMEM;
}

int cg_http_resp_body_take(cg_http_resp *resp, void *p, size_t n, const char *content_type)
{
    resp_drop_body(resp);
    resp->body_kind = BODY_MEM;
    resp->mem = p;
    resp->mem_len = n;
    int rc = set_content_type(resp, content_type);
    if (rc)
        resp_drop_body(resp);
    return rc;
}

int cg_http_resp_body_copy(cg_http_resp *resp, const void *p, size_t n, const char *content_type)
{
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return CG_ENOMEM;
    if (n)
        memcpy(copy, p, n);
    return cg_http_resp_body_take(resp, copy, n, content_type);
}

int cg_http_resp_body_fd(cg_http_resp *resp, int fd, uint64_t off, uint64_t len,
                         const char *content_type)
{
    resp_drop_body(resp);
    if (fd < 0 || off > INT64_MAX || len > INT64_MAX - off) {
        if (fd >= 0)
            close(fd);
        return CG_EINVAL;
    }
    resp->body_kind = BODY_FD;
    resp->fd = fd;
    resp->fd_off = off;
    resp->fd_len = len;
    int rc = set_content_type(resp, content_type);
    if (rc)
        resp_drop_body(resp);
    return rc;
}

static uint64_t body_size(const cg_http_resp *resp)
{
    return resp->body_kind == BODY_FD ? resp->fd_len : resp->mem_len;
}

/* If-Range (RFC 9110 13.1.5): a range applies only while the validator the
 * client holds still names this representation. */
static bool if_range_ok(const cg_http_req *req, const cg_http_resp *resp)
{
    const char *ir = cg_http_req_header(req, "If-Range");
    if (!ir)
        return true;
    const char *etag = resp_find_header(resp, "ETag");
    const char *lm = resp_find_header(resp, "Last-Modified");
    return (etag && strcmp(ir, etag) == 0 && strncmp(etag, "W/", 2) != 0) ||
           (lm && strcmp(ir, lm) == 0);
}

static void apply_range(const cg_http_req *req, cg_http_resp *resp)
{
    if (resp->status != 200 || resp->body_kind == BODY_NONE ||
        (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0))
        return;
    cg_http_resp_header(resp, "Accept-Ranges", "bytes");
    const char *range = cg_http_req_header(req, "Range");
    /* Range applies to GET only (RFC 9110 14.2); HEAD shows the full size. */
    if (!range || strcmp(req->method, "GET") != 0 || !if_range_ok(req, resp))
        return;
    uint64_t size = body_size(resp), start, len;
    char cr[96];
    int rc = cg_http_range_parse(range, size, &start, &len);
    if (rc == CG_ERANGE) {
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
        cg_http_resp_header(resp, "Content-Range", cr);
        cg_http_problem(resp, 416, NULL,
                        "The range \"%.64s\" starts beyond the end of this %llu-byte resource; "
                        "request bytes 0-%llu or fewer.",
                        range, (unsigned long long)size, (unsigned long long)(size ? size - 1 : 0));
        return;
    }
    if (rc)
        return; /* malformed or multiple ranges: send the whole body */
    snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
             (unsigned long long)(start + len - 1), (unsigned long long)size);
    cg_http_resp_header(resp, "Content-Range", cr);
    resp->status = 206;
    if (resp->body_kind == BODY_FD) {
        resp->fd_off += start;
        resp->fd_len = len;
    } else {
        memmove(resp->mem, resp->mem + start, len);
        resp->mem_len = len;
    }
}

static void free_mem_body(void *p)
{
    free(p);
}

/* Hands resp to MHD (consuming its body) and counts the request. */
static enum MHD_Result respond(cg_http_server *srv, cg_http_req *req, cg_http_resp *resp)
{
    struct MHD_Response *mr = NULL;
    if (resp->body_kind == BODY_FD) {
        mr = MHD_create_response_from_fd_at_offset64(resp->fd_len, resp->fd, resp->fd_off);
        if (mr)
            resp->fd = -1; /* MHD closes it */
    } else if (resp->body_kind == BODY_MEM) {
        mr = MHD_create_response_from_buffer_with_free_callback(resp->mem_len, resp->mem,
                                                                free_mem_body);
        if (mr)
            resp->mem = NULL; /* MHD frees it */
    } else {
        mr = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    }
    if (!mr) {
        resp_clear(resp);
        return MHD_NO; /* out of memory: MHD closes the connection */
    }
    for (size_t i = 0; i < resp->n_hdrs; i++)
        MHD_add_response_header(mr, resp->hdrs[i].name, resp->hdrs[i].value);
    if (resp->content_type)
        MHD_add_response_header(mr, "Content-Type", resp->content_type);
    MHD_add_response_header(mr, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(mr, "Access-Control-Expose-Headers", srv->expose_headers);
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);

    char code[16];
    snprintf(code, sizeof(code), "%d", resp->status);
    cg_metric *series = NULL;
    if (cg_metric_labels(srv->requests, &series, req->route_name, code, NULL) == 0)
        cg_metric_inc(series);
    cg_debug("http", "%s %s %.200s -> %d", req->remote_ip, req->method, req->raw, resp->status);
    resp_clear(resp);
    req->state = REQ_DONE;
    return ret;
}

/* Decides the answer before the body is read (404, 405, 400, 414). */
static void set_early(cg_http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_early(cg_http_req *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_http_problemv(&req->early, status, NULL, fmt, ap);
    va_end(ap);
    req->has_early = true;
}

/* ---- request accessors ---- */

const char *cg_http_req_method(const cg_http_req *req)
{
    return req->method;
}

const char *cg_http_req_path(const cg_http_req *req)
{
    return req->path;
}

const char *cg_http_req_route(const cg_http_req *req)
{
    return req->route_name;
}

const char *cg_http_req_capture(const cg_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_caps; i++)
        if (strcmp(req->cap_names[i], name) == 0)
            return req->cap_values[i];
    return NULL;
}

const char *cg_http_req_query(cg_http_req *req, const char *name)
{
    if (!req->query)
        return NULL;
    size_t cap = strlen(req->query) + 1;
    char *tmp = malloc(cap);
    if (!tmp)
        return NULL;
    size_t n;
    const char *v = NULL;
    if (cg_http_query_get(req->query, name, tmp, cap, &n) == 0)
        v = arena_dup(req, tmp, n);
    free(tmp);
    return v;
}

const char *cg_http_req_header(const cg_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *cg_http_req_body(const cg_http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return (const uint8_t *)cg_dbuf_str(&req->body);
}

const struct sockaddr *cg_http_req_remote(const cg_http_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

const char *cg_http_req_remote_ip(const cg_http_req *req)
{
    return req->remote_ip;
}

/* ---- request processing ---- */

/* Methods of every route matching segs, in table order, with HEAD after
 * GET and OPTIONS last: the Allow header. */
static void allowed_methods(const cg_http_server *srv, char *const *segs, size_t n, char *out,
                            size_t cap)
{
    const char *m[MAX_METHODS];
    size_t nm = 0;
    for (size_t i = 0; i < srv->n_routes; i++) {
        const route_entry *e = &srv->routes[i];
        if (!match_route(e, segs, n, NULL))
            continue;
        const char *add[2] = {e->r->method, strcmp(e->r->method, "GET") == 0 ? "HEAD" : NULL};
        for (size_t a = 0; a < 2 && add[a]; a++) {
            if (strcmp(add[a], "OPTIONS") == 0)
                continue;
            size_t j = 0;
            while (j < nm && strcmp(m[j], add[a]) != 0)
                j++;
            if (j == nm && nm < MAX_METHODS)
                m[nm++] = add[a];
        }
    }
    cg_wr w;
    cg_wr_init(&w, out, cap - 1);
    for (size_t j = 0; j < nm; j++) {
        if (j)
            cg_wr_bytes(&w, ", ", 2);
        cg_wr_bytes(&w, m[j], strlen(m[j]));
    }
    if (nm)
        cg_wr_bytes(&w, ", ", 2);
    cg_wr_bytes(&w, "OPTIONS", 7);
    out[cg_wr_err(&w) ? 0 : cg_wr_len(&w)] = '\0';
}

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void add_preflight(cg_http_server *srv, cg_http_resp *resp, const char *allow)
{
    cg_http_resp_header(resp, "Allow", allow);
    cg_http_resp_header(resp, "Access-Control-Allow-Methods", allow);
    cg_http_resp_header(resp, "Access-Control-Allow-Headers", srv->allow_headers);
    cg_http_resp_header(resp, "Access-Control-Max-Age", CORS_MAX_AGE);
}

/* Splits and decodes the path into segs (allocated in the request arena).
 * Returns 0, CG_EPROTO (400), CG_ELIMIT (too deep: 404) or CG_ENOMEM. */
static int split_path(cg_http_req *req, const char *raw, size_t raw_len, char **segs, size_t *n)
{
    char *buf = malloc(raw_len + 1);
    cg_dbuf path;
    cg_dbuf_init(&path, raw_len + 2);
    int rc = buf ? 0 : CG_ENOMEM;
    const char *p = raw + 1; /* after the leading "/" */
    const char *end = raw + raw_len;
    *n = 0;
    while (rc == 0) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
        size_t dlen;
        rc = cg_http_pct_decode(p, len, false, buf, raw_len + 1, &dlen);
        if (rc == 0 && (memchr(buf, '/', dlen) || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0))
            rc = CG_EPROTO;
        if (rc == 0 && *n == MAX_SEGS)
            rc = CG_ELIMIT;
        if (rc == 0) {
            segs[*n] = arena_dup(req, buf, dlen);
            rc = segs[*n] ? 0 : CG_ENOMEM;
            (*n)++;
            cg_dbuf_add(&path, "/", 1);
            cg_dbuf_add(&path, buf, dlen);
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    if (rc == 0) {
        req->path = arena_dup(req, cg_dbuf_str(&path), path.len);
        if (!req->path || cg_dbuf_err(&path))
            rc = CG_ENOMEM;
    }
    cg_dbuf_free(&path);
    free(buf);
    return rc;
}

static bool expects_continue(const cg_http_req *req)
{
    const char *expect = cg_http_req_header(req, "Expect");
    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* Content-Length as a number: 0 if absent, UINT64_MAX if absurd (MHD has
 * already refused a malformed one). */
static uint64_t content_length(const cg_http_req *req)
{
    const char *cl = cg_http_req_header(req, "Content-Length");
    uint64_t v = 0;
    bool any;
    if (cl) {
        cg_rd r;
        cg_rd_init(&r, cl, strlen(cl));
        if (cg_http_rd_digits(&r, &v, &any))
            v = UINT64_MAX;
    }
    return v;
}

/* Routes the request; on a refusal fills req->early. Returns 0 or
 * CG_ENOMEM. */
static int route_request(cg_http_server *srv, cg_http_req *req)
{
    req->route_name = "unmatched";
    req->path = "";
    size_t raw_len = strlen(req->raw);
    if (raw_len > MAX_URL) {
        set_early(req, 414,
                  "The URL is %zu bytes long; clipgate accepts at most %d. Shorten the path or "
                  "query.",
                  raw_len, MAX_URL);
        return 0;
    }
    char *q = strchr(req->raw, '?');
    size_t path_len = q ? (size_t)(q - req->raw) : raw_len;
    if (q)
        req->query = q + 1;
    char *segs[MAX_SEGS];
    size_t n_segs = 0;
    int rc = req->raw[0] == '/' ? split_path(req, req->raw, path_len, segs, &n_segs) : CG_EPROTO;
    if (rc == CG_ENOMEM)
        return rc;
    if (rc == CG_EPROTO || (rc == 0 && req->query && !query_valid(req->query))) {
        req->route_name = "invalid";
        set_early(req, 400, "%s",
                  "The URL is malformed: it must be an absolute path with valid percent-encoding, "
                  "without \".\" or \"..\" segments, encoded slashes or NUL bytes.");
        return 0;
    }
    /* Most specific route with this method; any match at all for 405. */
    const route_entry *best = NULL, *any = NULL;
    for (size_t i = 0; rc == 0 && i < srv->n_routes; i++) {
        const route_entry *e = &srv->routes[i];
        if (!match_route(e, segs, n_segs, NULL))
            continue;
        if (!any)
            any = e;
        if (method_matches(e->r->method, req->method) && (!best || e->literals > best->literals))
            best = e;
    }
    if (!any) {
        set_early(req, 404, "Nothing is served at \"%.200s\"; check the URL for typos.", req->path);
        return 0;
    }
    allowed_methods(srv, segs, n_segs, req->allow, sizeof(req->allow));
    req->route_name = (best ? best : any)->r->name;
    /* The body limit holds for every routed path, whatever the method. */
    if (content_length(req) > srv->max_body) {
        req->too_large = true;
        return 0;
    }
    if (!best && strcmp(req->method, "OPTIONS") == 0) {
        cg_http_resp_status(&req->early, 204);
        add_preflight(srv, &req->early, req->allow);
        req->has_early = true;
        return 0;
    }
    if (!best) {
        cg_http_resp_header(&req->early, "Allow", req->allow);
        set_early(req, 405, "%s is not allowed on \"%.200s\"; use %s.", req->method, req->path,
                  req->allow);
        return 0;
    }
    if (!match_route(best, segs, n_segs, req))
        return CG_ENOMEM; /* the captures did not fit */
    req->route = best;
    return 0;
}

static enum MHD_Result respond_too_large(cg_http_server *srv, cg_http_req *req, uint64_t size)
{
    cg_http_resp resp;
    resp_init(&resp, 413);
    cg_http_problem(&resp, 413, NULL,
                    "The request body is %llu bytes; the limit is %llu (--max-body). Send a "
                    "smaller body.",
                    (unsigned long long)size, (unsigned long long)srv->max_body);
    return respond(srv, req, &resp);
}

/* First call, headers in. An answer decided already is sent at the last
 * call, after any body was read and dropped: answering at the first call
 * makes MHD close the connection (no keep-alive for preflights), and
 * closing with unread body data makes the kernel send a reset that can
 * destroy the answer before the client reads it. The exception is a client
 * waiting for "100 Continue": it sends nothing more, so refuse it now.
 * Returns true if *ret is final. */
static bool begin_request(cg_http_server *srv, cg_http_req *req, enum MHD_Result *ret)
{
    if (route_request(srv, req)) {
        *ret = MHD_NO;
        return true;
    }
    if (!expects_continue(req))
        return false;
    if (req->has_early) {
        req->has_early = false;
        *ret = respond(srv, req, &req->early);
        return true;
    }
    if (req->too_large) {
        *ret = respond_too_large(srv, req, content_length(req));
        return true;
    }
    return false;
}

static enum MHD_Result run_handler(cg_http_server *srv, cg_http_req *req)
{
    bool options = strcmp(req->method, "OPTIONS") == 0;
    cg_http_resp resp;
    resp_init(&resp, options ? 204 : 200);
    int rc = req->route->r->handler(req, &resp, req->route->ctx);
    if (rc < 0 && resp.status < 400) {
        cg_error("http", "%s %s: handler %s failed: %s", req->method, req->path, req->route_name,
                 cg_strerror(rc));
        resp_clear(&resp);
        resp_init(&resp, 500);
        cg_http_problem(&resp, 500, NULL,
                        "The server failed while handling this request (%s); try again, and "
                        "report it if it keeps happening.",
                        cg_strerror(rc));
    }
    if (options)
        add_preflight(srv, &resp, req->allow);
    else
        apply_range(req, &resp);
    return respond(srv, req, &resp);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    cg_http_server *srv = cls;
    cg_http_req *req = *con_cls;
    if (!req)
        return MHD_NO; /* the URI callback could not allocate */
    if (req->state == REQ_NEW) {
        req->state = REQ_BODY;
        req->conn = conn;
        req->method = method;
        const struct sockaddr *sa = cg_http_req_remote(req);
        if (sa && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                      req->remote_ip, sizeof(req->remote_ip));
        else if (sa && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      req->remote_ip, sizeof(req->remote_ip));
        enum MHD_Result ret;
        if (begin_request(srv, req, &ret))
            return ret;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        req->body_seen += n;
        if (req->state != REQ_BODY || req->too_large || req->has_early)
            return MHD_YES;
        if (req->body_seen > srv->max_body) {
            req->too_large = true;
            cg_dbuf_free(&req->body);
            return MHD_YES;
        }
        cg_dbuf_add(&req->body, upload_data, n);
        return cg_dbuf_err(&req->body) ? MHD_NO : MHD_YES;
    }
    if (req->state != REQ_BODY)
        return MHD_YES;
    /* Too large wins over an early 405 or preflight: the limit holds for
     * every routed path (a chunked body is only measured here). */
    if (req->too_large)
        return respond_too_large(srv, req, req->body_seen);
    if (req->has_early) {
        req->has_early = false;
        return respond(srv, req, &req->early);
    }
    return run_handler(srv, req);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    cg_http_server *srv = cls;
    cg_http_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->srv = srv;
    req->raw = strdup(uri ? uri : "");
    if (!req->raw) {
        free(req);
        return NULL;
    }
    /* +1 for the NUL cg_dbuf keeps, so a body of exactly max-body fits. */
    cg_dbuf_init(&req->body, srv->max_body + 1);
    resp_init(&req->early, 200);
    return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    cg_http_req *req = *con_cls;
    if (!req)
        return;
    while (req->arena) {
        arena_str *next = req->arena->next;
        free(req->arena);
        req->arena = next;
    }
    cg_dbuf_free(&req->body);
    resp_clear(&req->early);
    free(req->raw);
    free(req);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    cg_http_server *srv = cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    pthread_mutex_lock(&srv->err_lock);
    memcpy(srv->err, line, n + 1);
    pthread_mutex_unlock(&srv->err_lock);
    cg_warn("http", "libmicrohttpd: %s", line);
}

/* ---- built-in routes ---- */

static int handle_healthz(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";
    cg_http_resp_header(resp, "Cache-Control", "no-store");
    return cg_http_resp_body_copy(resp, body, sizeof(body) - 1, "application/json");
}

static int handle_metrics(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_dbuf d;
    cg_dbuf_init(&d, METRICS_MAX);
    int rc = cg_metrics_render(&d);
    if (rc) {
        cg_dbuf_free(&d);
        return rc;
    }
    size_t len;
    char *text = cg_dbuf_take(&d, &len);
    if (!text)
        return CG_ENOMEM;
    cg_http_resp_header(resp, "Cache-Control", "no-store");
    return cg_http_resp_body_take(resp, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

static const cg_http_route builtin_routes[] = {
    {.method = "GET", .pattern = "/healthz", .handler = handle_healthz, .name = "healthz"},
    {.method = "GET", .pattern = "/metrics", .handler = handle_metrics, .name = "metrics"},
};

/* ---- server ---- */

static int read_pem(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return CG_EIO;
    cg_dbuf d;
    cg_dbuf_init(&d, PEM_MAX);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cg_dbuf_add(&d, chunk, n);
    int bad = ferror(f) || cg_dbuf_err(&d);
    fclose(f);
    if (bad) {
        cg_dbuf_free(&d);
        return CG_EIO;
    }
    *out = cg_dbuf_take(&d, NULL);
    return *out ? 0 : CG_ENOMEM;
}

int cg_http_server_new(cg_http_server **out, const cg_config *cfg)
{
    if (!out || !cfg || cfg->http_port < 0 || cfg->http_port > 65535)
        return CG_EINVAL;
    cg_http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return CG_ENOMEM;
    pthread_mutex_init(&srv->err_lock, NULL);
    int rc = CG_ENOMEM;
    srv->port = cfg->http_port;
    srv->max_body = cfg->max_body;
    /* Every HLS viewer and API client holds a connection (and a thread)
     * while active; idle ones time out. */
    uint64_t limit = (uint64_t)(cfg->max_viewers > 0 ? cfg->max_viewers : 0) +
                     (uint64_t)(cfg->max_sessions > 0 ? cfg->max_sessions : 0) + 64;
    srv->conn_limit = limit > 4096 ? 4096 : (unsigned)limit;
    srv->bind = strdup(cfg->bind ? cfg->bind : "0.0.0.0");
    srv->expose_headers =
        join(cors_expose_headers, sizeof(cors_expose_headers) / sizeof(cors_expose_headers[0]));
    srv->allow_headers =
        join(cors_allow_headers, sizeof(cors_allow_headers) / sizeof(cors_allow_headers[0]));
    if (!srv->bind || !srv->expose_headers || !srv->allow_headers)
        goto fail;
    if (cfg->tls_cert || cfg->tls_key) {
        rc = CG_EINVAL;
        if (!cfg->tls_cert || !cfg->tls_key)
            goto fail;
        if ((rc = read_pem(cfg->tls_cert, &srv->tls_cert)) ||
            (rc = read_pem(cfg->tls_key, &srv->tls_key)))
            goto fail;
    }
    rc = cg_metrics_counter(&srv->requests, "clipgate_http_requests_total",
                            "HTTP requests answered, by route and status code.", "route,code");
    if (rc)
        goto fail;
    rc = cg_http_server_add_routes(srv, builtin_routes,
                                   sizeof(builtin_routes) / sizeof(builtin_routes[0]), srv);
    if (rc)
        goto fail;
    *out = srv;
    return 0;
fail:
    cg_http_server_free(srv);
    return rc;
}

int cg_http_server_add_routes(cg_http_server *srv, const cg_http_route *routes, size_t n, void *ctx)
{
    if (!srv || (!routes && n))
        return CG_EINVAL;
    if (srv->mhd)
        return CG_ESTATE;
    if (srv->n_routes + n > srv->cap_routes) {
        size_t cap = srv->cap_routes ? srv->cap_routes : 16;
        while (cap < srv->n_routes + n)
            cap *= 2;
        route_entry *nr = realloc(srv->routes, cap * sizeof(*nr));
        if (!nr)
            return CG_ENOMEM;
        srv->routes = nr;
        srv->cap_routes = cap;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = compile_route(&srv->routes[srv->n_routes + i], &routes[i], ctx);
        if (rc) {
            while (i--)
                free_route(&srv->routes[srv->n_routes + i]);
            return rc;
        }
    }
    srv->n_routes += n;
    return 0;
}

int cg_http_server_start(cg_http_server *srv)
{
    if (!srv)
        return CG_EINVAL;
    if (srv->mhd)
        return CG_ESTATE;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, srv->bind, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)srv->port);
    } else if (inet_pton(AF_INET6, srv->bind, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)srv->port);
        flags |= strcmp(srv->bind, "::") == 0 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        snprintf(srv->err, sizeof(srv->err), "\"%s\" is not an IP address", srv->bind);
        return CG_EINVAL;
    }
    if (srv->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(srv->err, sizeof(srv->err), "libmicrohttpd was built without TLS");
            return CG_EUNSUPP;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->mhd = MHD_start_daemon(
        /* The logger comes first so that errors in later options reach it. */
        flags, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
        srv->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_ARRAY,
        srv->tls_cert ? tls_opts : &tls_opts[2], MHD_OPTION_END);
    if (!srv->mhd) {
        pthread_mutex_lock(&srv->err_lock);
        /* MHD names port 0 (it was given a socket address): keep its reason. */
        const char *reason = strstr(srv->err, "Failed to bind") ? strrchr(srv->err, ':') : NULL;
        if (reason) {
            char tmp[sizeof(srv->err)];
            snprintf(tmp, sizeof(tmp), "cannot bind:%s", reason + 1);
            memcpy(srv->err, tmp, sizeof(tmp));
        } else if (!srv->err[0]) {
            snprintf(srv->err, sizeof(srv->err), "libmicrohttpd did not start");
        }
        pthread_mutex_unlock(&srv->err_lock);
        return CG_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->bound_port = di ? di->port : (uint16_t)srv->port;
    return 0;
}

uint16_t cg_http_server_port(const cg_http_server *srv)
{
    return srv && srv->mhd ? srv->bound_port : 0;
}

const char *cg_http_server_error(const cg_http_server *srv)
{
    return srv ? srv->err : "";
}

void cg_http_server_stop(cg_http_server *srv)
{
    if (!srv || !srv->mhd)
        return;
    MHD_stop_daemon(srv->mhd);
    srv->mhd = NULL;
    srv->bound_port = 0;
}

void cg_http_server_free(cg_http_server *srv)
{
    if (!srv)
        return;
    cg_http_server_stop(srv);
    for (size_t i = 0; i < srv->n_routes; i++)
        free_route(&srv->routes[i]);
    free(srv->routes);
    free(srv->bind);
    free(srv->expose_headers);
    free(srv->allow_headers);
    free(srv->tls_cert);
    free(srv->tls_key);
    pthread_mutex_destroy(&srv->err_lock);
    free(srv);
}
