/* The session URL shared by WHIP and WHEP (RFC 9725 §4.3-4.4,
 * draft-ietf-wish-whep): GET says whether the session exists, PATCH trickles
 * (204) or restarts ICE (200 with new credentials, If-Match required), and
 * DELETE ends it. What differs between the two protocols (how a session is
 * found, restarted and ended, and the words of the 404) comes from a
 * cg_http_session_ops table. The session state lives on the media thread:
 * one cg_media_call per request. */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/problem.h"
#include "http/services.h"
#include "ingest/media.h"
#include "rtc/sdp.h"
#include "rtc/sdpfrag.h"

enum session_op { OP_EXISTS, OP_DELETE, OP_PATCH };

typedef struct session_call {
    const cg_http_session_ops *ops;
    const char *stream;
    const char *id;
    enum session_op op;
    const char *if_match;
    const char *remote_ufrag, *remote_pwd;
    cg_http_session_restart created;
    char etag[40];
    int restart;
    int rc;
} session_call;

static void do_session(cg_media *m, void *arg)
{
    session_call *c = arg;
    void *s = c->ops->find(m, c->stream, c->id);
    if (!s) {
        c->rc = CG_ENOTFOUND;
        return;
    }
    snprintf(c->etag, sizeof(c->etag), "%s", c->ops->etag(s));
    if (c->if_match && strcmp(c->if_match, "*") != 0 && strcmp(c->if_match, c->etag) != 0) {
        c->rc = CG_ESTATE;
        return;
    }
    c->rc = 0;
    if (c->op == OP_DELETE) {
        c->ops->destroy(s);
    } else if (c->op == OP_PATCH) {
        /* RFC 9725 §4.4: a fragment carrying the current ufrag is a trickle;
         * a new ufrag and pwd ask for an ICE restart, which needs If-Match. */
        c->restart = c->remote_ufrag && c->remote_ufrag[0] && c->remote_pwd && c->remote_pwd[0] &&
                     strcmp(c->remote_ufrag, c->ops->remote_ufrag(s)) != 0;
        if (c->restart && !c->if_match)
            c->rc = CG_EINVAL;
        else if (c->restart)
            c->rc = c->ops->ice_restart(s, c->remote_ufrag, c->remote_pwd, &c->created);
    }
}

static int run_session(cg_services *svc, session_call *c, cg_http_resp *resp)
{
    int rc = cg_media_call(svc->media, do_session, c);
    if (rc == 0)
        rc = c->rc;
    /* The error code is returned even after a problem is written: callers
     * answer 200/204 only on 0. */
    if (rc == CG_ENOTFOUND)
        cg_http_problem(resp, 404, "No such session",
                        "There is no %s at this URL on stream \"%s\"; it ended or never "
                        "existed. %s again with POST %s/%s.",
                        c->ops->noun, c->stream, c->ops->verb, c->ops->prefix, c->stream);
    else if (rc == CG_EINVAL)
        cg_http_problem(resp, 428, "Precondition Required",
                        "An ICE restart must carry \"If-Match: *\" or the session's ETag.");
    else if (rc == CG_ESTATE)
        cg_http_problem(resp, 412, "Precondition Failed",
                        "If-Match does not match the session's current ETag %s: fetch the "
                        "current state or restart ICE without a stale ETag.",
                        c->etag);
    return rc;
}

/* A handler's result: errors already answered with a problem are done. */
static int finish(cg_http_resp *resp, int rc)
{
    return rc < 0 && cg_http_resp_get_status(resp) < 400 ? rc : 0;
}

int cg_http_session_get(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                        const cg_http_session_ops *ops)
{
    session_call c = {.ops = ops,
                      .stream = cg_http_req_capture(req, "stream"),
                      .id = cg_http_req_capture(req, "session"),
                      .op = OP_EXISTS};
    int rc = run_session(svc, &c, resp);
    if (rc == 0) {
        cg_http_resp_status(resp, 204);
        cg_http_resp_header(resp, "ETag", c.etag);
    }
    return finish(resp, rc);
}

int cg_http_session_delete(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                           const cg_http_session_ops *ops)
{
    session_call c = {.ops = ops,
                      .stream = cg_http_req_capture(req, "stream"),
                      .id = cg_http_req_capture(req, "session"),
                      .op = OP_DELETE};
    int rc = run_session(svc, &c, resp);
    if (rc == 0)
        cg_http_resp_status(resp, 200);
    return finish(resp, rc);
}

int cg_http_session_patch(cg_http_req *req, cg_http_resp *resp, cg_services *svc,
                          const cg_http_session_ops *ops)
{
    if (!cg_http_content_type_is(req, "application/trickle-ice-sdpfrag"))
        return cg_http_problem(resp, 415, "Unsupported Media Type",
                               "PATCH bodies must be \"application/trickle-ice-sdpfrag\" "
                               "(RFC 8840).");
    size_t len;
    const uint8_t *body = cg_http_req_body(req, &len);
    char why[256];
    cg_sdpfrag frag;
    int rc = cg_sdpfrag_parse((const char *)body, len, &frag, why, sizeof(why));
    if (rc)
        return cg_http_problem(resp, 400, "Malformed SDP fragment", "%s",
                               *why ? why : cg_strerror(rc));
    session_call c = {.ops = ops,
                      .stream = cg_http_req_capture(req, "stream"),
                      .id = cg_http_req_capture(req, "session"),
                      .if_match = cg_http_req_header(req, "If-Match"),
                      .op = OP_PATCH,
                      .remote_ufrag = frag.ice_ufrag,
                      .remote_pwd = frag.ice_pwd};
    rc = run_session(svc, &c, resp);
    if (rc)
        return finish(resp, rc);
    if (!c.restart) {
        /* ICE-lite learns the peer's addresses from its checks
         * (peer-reflexive), so trickled candidates need no action. */
        cg_http_resp_status(resp, 204);
        return 0;
    }
    cg_dbuf out;
    cg_dbuf_init(&out, 8192);
    cg_dbuf_printf(&out, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", c.created.ufrag, c.created.pwd);
    cg_sdp_write_host_candidates(&out, (const char *const *)svc->cfg->public_ip.v,
                                 svc->cfg->public_ip.n, cg_media_port(svc->media));
    if (cg_dbuf_err(&out)) {
        cg_dbuf_free(&out);
        return CG_ENOMEM;
    }
    cg_http_resp_status(resp, 200);
    cg_http_resp_header(resp, "ETag", c.created.etag);
    size_t n;
    char *text = cg_dbuf_take(&out, &n);
    return cg_http_resp_body_take(resp, text, n, "application/trickle-ice-sdpfrag");
}
