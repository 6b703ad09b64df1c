/* WHIP endpoint (RFC 9725) on the HTTP threads: validates the request,
 * parses and negotiates the SDP offer here (no media-thread time spent on
 * text), then creates the session on the media thread through
 * cg_media_call and writes the answer.
 *
 *   OPTIONS /whip/{stream}            204, Accept-Post: application/sdp
 *   POST    /whip/{stream}            201 + answer, Location, ETag, Link
 *   GET     /whip/{stream}/{session}  204 while the session exists
 *   PATCH   /whip/{stream}/{session}  trickle 204, ICE restart 200
 *   DELETE  /whip/{stream}/{session}  200 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/random.h"
#include "http/problem.h"
#include "http/services.h"
#include "ingest/media.h"
#include "ingest/whip.h"
#include "rtc/dtls.h"
#include "rtc/sdp.h"

static int check_auth(cg_http_req *req, cg_http_resp *resp, const char *token)
{
    if (cg_http_bearer_ok(req, token))
        return 1;
    cg_http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"clipgate\"");
    if (cg_http_req_header(req, "Authorization"))
        cg_http_problem(resp, 401, "Unauthorized",
                        "The bearer token is wrong. Send the token clipgate was started with "
                        "(--publish-token) as \"Authorization: Bearer <token>\".");
    else
        cg_http_problem(resp, 401, "Unauthorized",
                        "Publishing needs a token. Send \"Authorization: Bearer <token>\" "
                        "(in OBS: Settings > Stream > Bearer Token).");
    return 0;
}

/* --- POST ------------------------------------------------------------------------ */

typedef struct create_call {
    cg_whip_params params;
    cg_whip_created created;
    int rc;
} create_call;

static void do_create(cg_media *m, void *arg)
{
    create_call *c = arg;
    c->rc = cg_whip_create(m, &c->params, &c->created);
}

static void fill_track(cg_whip_track_params *t, const cg_sdp_track *s, int codec, char *sprop,
                       size_t sprop_cap)
{
    t->present = 1;
    t->codec = codec;
    t->pt = (uint8_t)s->pt;
    t->rtx_pt = s->rtx_pt;
    t->nack = (s->fb & CG_SDP_FB_NACK) != 0;
    t->pli = (s->fb & CG_SDP_FB_PLI) != 0;
    t->fir = (s->fb & CG_SDP_FB_FIR) != 0;
    const char *v;
    size_t n;
    if (sprop && cg_sdp_fmtp_param(s->fmtp, "sprop-parameter-sets", &v, &n) == 0 && n < sprop_cap) {
        memcpy(sprop, v, n);
        sprop[n] = '\0';
        t->sprop = sprop;
    }
}

static int whip_post(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *stream = cg_http_req_capture(req, "stream");
    if (!check_auth(req, resp, svc->cfg->publish_token) || !cg_http_stream_ok(resp, stream))
        return 0;
    cg_sdp *offer;
    int rc = cg_http_read_offer(req, resp, "WHIP", &offer);
    if (!offer)
        return rc;
    char why[512];
    cg_sdp_choice *choice = calloc(1, sizeof(*choice));
    create_call *c = calloc(1, sizeof(*c));
    if (!choice || !c) {
        rc = cg_http_problem(resp, 500, "Out of memory", "Try again.");
        goto done;
    }
    rc = cg_sdp_negotiate_publish(offer, choice, why, sizeof(why));
    if (rc) {
        rc = cg_http_problem(resp, 422, "Offer not acceptable", "%s", why);
        goto done;
    }
    char sprop[512] = "";
    c->params.stream = stream;
    c->params.remote_ufrag = choice->remote_ufrag;
    c->params.remote_pwd = choice->remote_pwd;
    c->params.remote_fp_alg = "sha-256";
    c->params.remote_fp = choice->remote_fp;
    c->params.dtls_role = choice->dtls_client ? CG_DTLS_CLIENT : CG_DTLS_SERVER;
    c->params.user_agent = cg_http_req_header(req, "User-Agent");
    c->params.video.rtx_pt = c->params.audio.rtx_pt = -1;
    if (choice->video >= 0)
        fill_track(&c->params.video, &choice->media[choice->video], CG_CODEC_H264, sprop,
                   sizeof(sprop));
    if (choice->audio >= 0)
        fill_track(&c->params.audio, &choice->media[choice->audio], CG_CODEC_OPUS, NULL, 0);
    rc = cg_media_call(svc->media, do_create, c);
    if (rc == 0)
        rc = c->rc;
    if (rc == CG_EEXIST) {
        rc = cg_http_problem(resp, 409, "Stream already live",
                             "Stream \"%s\" already has a publisher. Stop it first (DELETE its "
                             "session URL) or publish under another name.",
                             stream);
        goto done;
    }
    if (rc == CG_ELIMIT || rc == CG_EFULL) {
        cg_http_resp_header(resp, "Retry-After", "5");
        rc = cg_http_problem(resp, 503, "Too many sessions",
                             "The configured limit of %d publishing sessions is reached; retry "
                             "later or raise --max-sessions.",
                             svc->cfg->max_sessions);
        goto done;
    }
    if (rc) {
        rc = cg_http_problem(resp, 500, "Session setup failed", "Could not create the session: %s.",
                             cg_strerror(rc));
        goto done;
    }
    char loc[256];
    snprintf(loc, sizeof(loc), "/whip/%s/%s", stream, c->created.id);
    rc = cg_http_send_answer(resp, svc, offer, choice, c->created.ufrag, c->created.pwd,
                             CG_SDP_RECVONLY, loc, c->created.etag);
done:
    if (rc && cg_http_resp_get_status(resp) < 400)
        cg_http_problem(resp, 500, "Internal error", "%s", cg_strerror(rc));
    cg_sdp_free(offer);
    free(choice);
    free(c);
    return 0;
}

/* --- session URL ----------------------------------------------------------------- */

static void *find_session(cg_media *m, const char *stream, const char *id)
{
    cg_whip *w = cg_whip_find(m, id);
    return w && strcmp(cg_whip_stream(w), stream) == 0 ? w : NULL;
}

static const char *session_etag(const void *s)
{
    return cg_whip_etag(s);
}
static const char *session_remote_ufrag(const void *s)
{
    return cg_whip_remote_ufrag(s);
}
static void session_destroy(void *s)
{
    cg_whip_destroy(s);
}

static int session_restart(void *s, const char *ufrag, const char *pwd,
                           cg_http_session_restart *out)
{
    cg_whip_created c;
    int rc = cg_whip_ice_restart(s, ufrag, pwd, &c);
    if (rc == 0) {
        memcpy(out->ufrag, c.ufrag, sizeof(out->ufrag));
        memcpy(out->pwd, c.pwd, sizeof(out->pwd));
        memcpy(out->etag, c.etag, sizeof(out->etag));
    }
    return rc;
}

static const cg_http_session_ops whip_session_ops = {
    .noun = "publishing session",
    .verb = "Publish",
    .prefix = "/whip",
    .find = find_session,
    .etag = session_etag,
    .remote_ufrag = session_remote_ufrag,
    .ice_restart = session_restart,
    .destroy = session_destroy,
};

static int whip_session_get(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->publish_token))
        return 0;
    return cg_http_session_get(req, resp, svc, &whip_session_ops);
}

static int whip_delete(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->publish_token))
        return 0;
    return cg_http_session_delete(req, resp, svc, &whip_session_ops);
}

static int whip_patch(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->publish_token))
        return 0;
    return cg_http_session_patch(req, resp, svc, &whip_session_ops);
}

/* OBS shows only the status code of a refusal, so the operator's log says
 * which stream was refused and how; the client gets the full sentence. */
static void log_refusal(cg_http_req *req, cg_http_resp *resp)
{
    int status = cg_http_resp_get_status(resp);
    if (status < 400)
        return;
    /* Only a valid name goes into the log: a capture may hold any byte. */
    const char *stream = cg_http_req_capture(req, "stream");
    if (!stream || !cg_stream_name_valid(stream))
        stream = "whip";
    cg_warn(stream, "%s from %s refused: %d %s (route %s)", cg_http_req_method(req),
            cg_http_req_remote_ip(req), status, cg_http_reason(status), cg_http_req_route(req));
}

#define LOGGED(fn)                                                                                 \
    static int fn##_logged(cg_http_req *req, cg_http_resp *resp, void *ctx)                        \
    {                                                                                              \
        int rc = fn(req, resp, ctx);                                                               \
        log_refusal(req, resp);                                                                    \
        return rc;                                                                                 \
    }
LOGGED(whip_post)
LOGGED(whip_session_get)
LOGGED(whip_patch)
LOGGED(whip_delete)

static const cg_http_route whip_routes[] = {
    {.method = "POST", .pattern = "/whip/{stream}", .handler = whip_post_logged, .name = "whip"},
    {.method = "OPTIONS",
     .pattern = "/whip/{stream}",
     .handler = cg_http_offer_options,
     .name = "whip"},
    {.method = "GET",
     .pattern = "/whip/{stream}/{session}",
     .handler = whip_session_get_logged,
     .name = "whip_session"},
    {.method = "PATCH",
     .pattern = "/whip/{stream}/{session}",
     .handler = whip_patch_logged,
     .name = "whip_session"},
    {.method = "DELETE",
     .pattern = "/whip/{stream}/{session}",
     .handler = whip_delete_logged,
     .name = "whip_session"},
};

int cg_whip_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, whip_routes, sizeof(whip_routes) / sizeof(whip_routes[0]),
                                     svc);
}
