/* HTTP server: libmicrohttpd behind a const routing table.
 *
 * Routes are { method, pattern, handler, name } entries. A pattern is a path
 * whose segments are literals or captures: "{stream}" takes one whole
 * segment, "{id}.mp4" a segment with a literal prefix and/or suffix. Paths
 * are matched segment by segment after percent-decoding; a segment that
 * decodes to "." or "..", or contains "/" or NUL, is refused with 400 before
 * any handler runs, so a capture can be used as a file name component.
 * When several patterns match, the one with the most literal segments wins.
 *
 * The server answers on its own, without calling a handler:
 *   - unknown path: 404; known path, wrong method: 405 with Allow;
 *   - OPTIONS on a routed path: 204 CORS preflight, unless a route gives an
 *     OPTIONS handler for that pattern (WHIP's Accept-Post), in which case
 *     the handler runs and the preflight headers are added to its response;
 *   - body over max-body on any routed path: 413 (checked before the
 *     method), the handler is not called; URL over 8 KiB: 414; malformed
 *     path or query encoding: 400. Bodies are read and dropped before such
 *     an answer, except for a client waiting on "Expect: 100-continue".
 * Every response carries Access-Control-Allow-Origin: * and
 * Access-Control-Expose-Headers (the cors_expose_headers table in
 * server.c; add headers there as routes gain them); every error is
 * application/problem+json (http/problem.h). Each request is counted in
 * clipgate_http_requests_total{route,code} (route "unmatched" for 404s,
 * "invalid" for malformed URLs). GET and HEAD responses with a
 * body and status 200 honour a single "Range: bytes=" range (206 with
 * Content-Range, or 416; If-Range is compared with the ETag or
 * Last-Modified the handler set) and advertise Accept-Ranges: bytes.
 *
 * Threads: libmicrohttpd runs one thread per connection (plus its listening
 * thread), bounded by a connection limit derived from max-viewers and
 * max-sessions. Handlers may block for seconds (waiting on the media loop,
 * cutting a clip): with a thread per connection a slow handler stalls only
 * its own client, where a small thread pool would stall every connection
 * that shares the busy worker. Handlers therefore run concurrently on many
 * threads and must only touch shared state through thread-safe calls. */
#ifndef CG_HTTP_SERVER_H
#define CG_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/config.h"

typedef struct cg_http_server cg_http_server;
typedef struct cg_http_req cg_http_req;
typedef struct cg_http_resp cg_http_resp;

/* Runs on a libmicrohttpd connection thread once the whole request (body
 * included) is in. The response starts as 200 with no body (204 for
 * OPTIONS). Return 0 to send resp as built; a negative CG_E* code sends
 * resp if the handler already made it an error (status >= 400), else a
 * 500 problem. req and resp are borrowed for the call only. */
typedef int (*cg_http_handler)(cg_http_req *req, cg_http_resp *resp, void *ctx);

typedef struct cg_http_route {
    const char *method;  /* "GET" (also serves HEAD), "POST", ..., "OPTIONS" */
    const char *pattern; /* "/live/{stream}/index.m3u8", "/clips/{id}.mp4" */
    cg_http_handler handler;
    const char *name; /* metrics label: "live_playlist" */
} cg_http_route;

/* Creates a stopped server from cfg (http-port, bind, max-body,
 * max-viewers/max-sessions, tls-cert/tls-key). cfg is borrowed for the call
 * only; the PEM files are read here. http_port 0 picks a free port (tests).
 * Registers GET /healthz and GET /metrics. Gives the server.
 * Returns 0, CG_EINVAL, CG_EIO (TLS file unreadable) or CG_ENOMEM. */
int cg_http_server_new(cg_http_server **out, const cg_config *cfg);

/* Adds n routes before cg_http_server_start(). The table and ctx are
 * borrowed and must outlive the server (use static const tables); ctx is
 * passed to each handler. Returns 0, CG_EINVAL (bad pattern, method or
 * NULL handler), CG_ESTATE (already started) or CG_ENOMEM. */
int cg_http_server_add_routes(cg_http_server *srv, const cg_http_route *routes, size_t n,
                              void *ctx);

/* Binds and starts serving. Returns 0, CG_ESTATE (already started) or
 * CG_EIO (bind failed, TLS rejected: see cg_http_server_error()). */
int cg_http_server_start(cg_http_server *srv);
/* The port actually bound (useful with http_port 0); 0 if not started. */
uint16_t cg_http_server_port(const cg_http_server *srv);
/* Last error reported by libmicrohttpd, "" if none. Borrowed; valid until
 * the next call into the server. */
const char *cg_http_server_error(const cg_http_server *srv);
/* Closes the listening socket and every connection, waiting for running
 * handlers to return. Idempotent. */
void cg_http_server_stop(cg_http_server *srv);
/* Stops if needed and frees. Accepts NULL. */
void cg_http_server_free(cg_http_server *srv);

/* ---- request (all strings borrowed, valid until the handler returns) ---- */

/* "GET", "POST", ... as received (HEAD stays HEAD). */
const char *cg_http_req_method(const cg_http_req *req);
/* Percent-decoded path without the query, e.g. "/live/my stream/index.m3u8". */
const char *cg_http_req_path(const cg_http_req *req);
/* The matched route's name ("live_playlist"). */
const char *cg_http_req_route(const cg_http_req *req);
/* Decoded value of the capture {name}, or NULL if the pattern has none. */
const char *cg_http_req_capture(const cg_http_req *req, const char *name);
/* Decoded value of query parameter name (first occurrence; "+" is a space),
 * "" if present without a value, NULL if absent. */
const char *cg_http_req_query(cg_http_req *req, const char *name);
/* Value of the first header called name (case-insensitive), or NULL. */
const char *cg_http_req_header(const cg_http_req *req, const char *name);
/* Request body (NUL-terminated for convenience; len excludes the NUL);
 * never NULL, len 0 when there is none. */
const uint8_t *cg_http_req_body(const cg_http_req *req, size_t *len);
/* Peer address (sockaddr_in or sockaddr_in6), and as text ("127.0.0.1"). */
const struct sockaddr *cg_http_req_remote(const cg_http_req *req);
const char *cg_http_req_remote_ip(const cg_http_req *req);

/* ---- response ---- */

void cg_http_resp_status(cg_http_resp *resp, int status);
int cg_http_resp_get_status(const cg_http_resp *resp);
/* Appends a header; the same name may be added several times (WHIP sends
 * one Link line per ICE server). name and value are copied. Returns 0,
 * CG_EINVAL (empty name, CR or LF in either: header injection) or
 * CG_ENOMEM. */
int cg_http_resp_header(cg_http_resp *resp, const char *name, const char *value);
/* Replaces the body with a copy of n bytes; content_type may be NULL.
 * Returns 0 or CG_ENOMEM. */
int cg_http_resp_body_copy(cg_http_resp *resp, const void *p, size_t n, const char *content_type);
/* Replaces the body with p, which must come from malloc: takes p, even on
 * error. Returns 0 or CG_ENOMEM. */
int cg_http_resp_body_take(cg_http_resp *resp, void *p, size_t n, const char *content_type);
/* Replaces the body with len bytes of fd from offset off (segments,
 * clips): takes fd, which is closed when the response is done or on error.
 * Returns 0 or CG_ENOMEM. */
int cg_http_resp_body_fd(cg_http_resp *resp, int fd, uint64_t off, uint64_t len,
                         const char *content_type);

/* ---- parsers, exposed for unit tests and fuzzing ---- */

/* Percent-decodes in[0..len) into out (cap bytes, NUL-terminated), with "+"
 * as a space when plus_space. Returns 0, CG_EPROTO (bad escape, or a
 * decoded NUL) or CG_ENOSPC (cap < len + 1). */
int cg_http_pct_decode(const char *in, size_t len, bool plus_space, char *out, size_t cap,
                       size_t *outlen);
/* Finds name in a raw query string ("a=1&b=x%20y", without "?") and
 * decodes its first value into out. Returns 0, CG_ENOTFOUND, CG_EPROTO
 * (that pair's encoding is bad) or CG_ENOSPC. */
int cg_http_query_get(const char *query, const char *name, char *out, size_t cap, size_t *outlen);
/* Reads decimal digits at r into *v (*any: at least one digit). Returns 0,
 * or CG_EPROTO on overflow. */
int cg_http_rd_digits(cg_rd *r, uint64_t *v, bool *any);
/* Parses a Range header against a body of size bytes (RFC 9110 14.2).
 * Returns 0 with the range in *start and *len, CG_ERANGE (unsatisfiable: 416),
 * CG_EUNSUPP (several ranges or another unit: serve the whole body) or
 * CG_EPROTO (malformed: ignore the header). */
int cg_http_range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len);

#endif
