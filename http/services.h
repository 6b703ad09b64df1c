/* What HTTP handlers reach: the configuration and the subsystems, passed as
 * the routes' ctx. Every pointer is owned by main and outlives the server. */
#ifndef CG_HTTP_SERVICES_H
#define CG_HTTP_SERVICES_H

#include "core/config.h"
#include "http/server.h"
#include "rtc/sdp.h"

struct cg_media;
struct cg_recorder;
struct cg_clip_store;

typedef struct cg_services {
    const cg_config *cfg;
    struct cg_media *media;
    struct cg_recorder *recorder; /* broadcasts: live, recorded, their files */
    struct cg_clip_store *clips;  /* persisted clips */
} cg_services;

/* Route tables of each HTTP area; each returns cg_http_server_add_routes'
 * result. */
int cg_whip_routes_add(cg_http_server *srv, cg_services *svc);
int cg_whep_routes_add(cg_http_server *srv, cg_services *svc);
int cg_api_routes_add(cg_http_server *srv, cg_services *svc);
int cg_hls_routes_add(cg_http_server *srv, cg_services *svc);
int cg_recordings_routes_add(cg_http_server *srv, cg_services *svc);
int cg_clips_routes_add(cg_http_server *srv, cg_services *svc);
int cg_ui_routes_add(cg_http_server *srv, cg_services *svc);

/* The "broadcast" object of a stream's JSON (GET /api/v1/streams): its live
 * broadcast's id, state, segments and packaging counters. Gives a new
 * reference, or NULL when the stream has no live broadcast. stream is
 * borrowed. Any HTTP thread. */
struct json_t;
struct json_t *cg_recordings_stream_json(cg_services *svc, const char *stream);

/* Serves a stored object as the response body, with an ETag from its size
 * and mtime and the given Cache-Control: through its file descriptor when
 * the backend has one (Range then works on it), else read into memory (up
 * to 256 MiB). Takes o: closed in every case. Returns 0, CG_EIO, CG_ENOMEM
 * or CG_ENOSPC (too large without an fd). */
struct cg_storage_obj;
int cg_http_resp_body_object(cg_http_resp *resp, struct cg_storage_obj *o, const char *type,
                             const char *cache_control);

/* Writes the 201 answer to a WHIP or WHEP offer: builds our SDP answer
 * (direction dir: RECVONLY for WHIP, SENDONLY for WHEP) and sets
 * Accept-Patch (trickle-ice-sdpfrag), Location, ETag, one Link header per
 * --ice-server and the application/sdp body.
 * On failure the response is a 500 problem. Returns 0 or a CG_E* code. */
int cg_http_send_answer(cg_http_resp *resp, const cg_services *svc, const cg_sdp *offer,
                        const cg_sdp_choice *choice, const char *ufrag, const char *pwd,
                        enum cg_sdp_dir dir, const char *location, const char *etag);

/* The session URL of WHIP and WHEP ({stream} and {session} captures):
 * what differs between them. Functions run on the media thread; s is what
 * find returned. */
typedef struct cg_http_session_restart {
    char ufrag[9], pwd[25], etag[40]; /* our new credentials and ETag */
} cg_http_session_restart;

typedef struct cg_http_session_ops {
    const char *noun;   /* "publishing session", "viewer" (for the 404) */
    const char *verb;   /* "Publish", "Play" */
    const char *prefix; /* "/whip", "/whep" */
    /* The session with this id on this stream, or NULL. */
    void *(*find)(struct cg_media *m, const char *stream, const char *id);
    const char *(*etag)(const void *s);
    const char *(*remote_ufrag)(const void *s); /* the peer's current ICE ufrag */
    int (*ice_restart)(void *s, const char *remote_ufrag, const char *remote_pwd,
                       cg_http_session_restart *out);
    void (*destroy)(void *s);
} cg_http_session_ops;

/* GET (204 + ETag while it exists), PATCH (trickle 204; ICE restart 200
 * with If-Match, new credentials and ETag; 412/428 on a missing or stale
 * If-Match; 415/400 for a bad body) and DELETE (200) on a session URL; 404
 * problem when there is no such session. The caller checks the token
 * first. ops borrowed. Return 0 or a CG_E* code (the server answers 500). */
int cg_http_session_get(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                        const cg_http_session_ops *ops);
int cg_http_session_patch(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                          const cg_http_session_ops *ops);
int cg_http_session_delete(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                           const cg_http_session_ops *ops);

/* Shared checks for handlers. */
/* 1 when the request carries "Authorization: Bearer <token>" (constant-time
 * compare); always 1 when token is NULL. */
int cg_http_bearer_ok(const cg_http_req *req, const char *token);
/* 1 when the Content-Type's media type (before any ';') equals type,
 * case-insensitively. */
int cg_http_content_type_is(const cg_http_req *req, const char *type);
/* 1 when stream is a valid stream name; else 0 with a 400 problem in resp. */
int cg_http_stream_ok(cg_http_resp *resp, const char *stream);
/* Parses the SDP offer of a WHIP or WHEP POST into *offer, given to the
 * caller (cg_sdp_free). *offer stays NULL when the content type is not
 * application/sdp (415; proto names the protocol in the detail), the body
 * is empty or the SDP does not parse (400): resp then holds the problem and
 * the return value is cg_http_problem's (0 or CG_ENOMEM). */
int cg_http_read_offer(cg_http_req *req, cg_http_resp *resp, const char *proto, cg_sdp **offer);
/* The 404 problem for a broadcast id that names no recording (any more).
 * Returns cg_http_problem's value. */
int cg_http_no_recording(cg_http_resp *resp, const char *id);
/* OPTIONS on a WHIP or WHEP endpoint: 204, Accept-Post: application/sdp. */
int cg_http_offer_options(cg_http_req *req, cg_http_resp *resp, void *ctx);

#endif
