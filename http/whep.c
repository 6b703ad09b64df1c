/* WHEP endpoint (draft-ietf-wish-whep-03) on the HTTP threads: validates
 * the request, parses the SDP offer here, asks the media thread what the
 * stream's publisher sends, negotiates, then creates the viewer on the
 * media thread and writes the answer.
 *
 *   OPTIONS /whep/{stream}            204, Accept-Post: application/sdp
 *   POST    /whep/{stream}            201 + answer, Location, ETag, Link
 *   GET     /whep/{stream}/{session}  204 while the session exists
 *   PATCH   /whep/{stream}/{session}  trickle 204, ICE restart 200
 *   DELETE  /whep/{stream}/{session}  200
 * The session URL's handlers are WHIP's (http/session.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/random.h"
#include "egress/viewer.h"
#include "http/problem.h"
#include "http/services.h"
#include "ingest/media.h"
#include "rtc/dtls.h"
#include "rtc/sdp.h"

static int check_auth(cg_http_req *req, cg_http_resp *resp, const char *token)
{
    if (cg_http_bearer_ok(req, token))
        return 1;
    cg_http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"clipgate\"");
    cg_http_problem(resp, 401, "Unauthorized",
                    "Playback needs a token. Send the token clipgate was started with "
                    "(--play-token) as \"Authorization: Bearer <token>\".");
    return 0;
}

static int not_live(cg_http_resp *resp, const char *stream)
{
    cg_http_resp_header(resp, "Retry-After", "5");
    return cg_http_problem(resp, 409, "Stream not live",
                           "Nobody publishes stream \"%s\" now. Retry when it is live (POST "
                           "/whip/%s starts it).",
                           stream, stream);
}

typedef struct caps_call {
    const char *stream;
    int has_video, has_audio;
    uint32_t plid;
    int rc;
} caps_call;

static void do_caps(cg_media *m, void *arg)
{
    caps_call *c = arg;
    c->rc = cg_viewer_stream_caps(m, c->stream, &c->has_video, &c->has_audio, &c->plid);
}

typedef struct create_call {
    cg_viewer_params params;
    cg_viewer_created created;
    int rc;
} create_call;

static void do_create(cg_media *m, void *arg)
{
    create_call *c = arg;
    c->rc = cg_viewer_create(m, &c->params, &c->created);
}

static int whep_post(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    const char *stream = cg_http_req_capture(req, "stream");
    if (!check_auth(req, resp, svc->cfg->play_token))
        return 0;
    if (!cg_http_stream_ok(resp, stream))
        return 0;
    cg_sdp *offer;
    int rc = cg_http_read_offer(req, resp, "WHEP", &offer);
    if (!offer)
        return rc;
    char why[512];
    cg_sdp_choice *choice = calloc(1, sizeof(*choice));
    create_call *c = calloc(1, sizeof(*c));
    if (!choice || !c) {
        rc = cg_http_problem(resp, 500, "Out of memory", "Try again.");
        goto done;
    }
    caps_call caps = {.stream = stream};
    rc = cg_media_call(svc->media, do_caps, &caps);
    if (rc == 0)
        rc = caps.rc;
    if (rc == CG_ENOTFOUND) {
        rc = not_live(resp, stream);
        goto done;
    }
    if (rc)
        goto done;
    rc = cg_sdp_negotiate_play(offer, caps.has_video, caps.has_audio, caps.plid, choice, why,
                               sizeof(why));
    if (rc) {
        rc = cg_http_problem(resp, 422, "Offer not acceptable", "%s", why);
        goto done;
    }
    c->params.stream = stream;
    c->params.remote_ufrag = choice->remote_ufrag;
    c->params.remote_pwd = choice->remote_pwd;
    c->params.remote_fp_alg = "sha-256";
    c->params.remote_fp = choice->remote_fp;
    c->params.dtls_role = choice->dtls_client ? CG_DTLS_CLIENT : CG_DTLS_SERVER;
    c->params.video_pt = choice->video >= 0 ? choice->media[choice->video].pt : -1;
    c->params.audio_pt = choice->audio >= 0 ? choice->media[choice->audio].pt : -1;
    c->params.video_rtx_pt = choice->video >= 0 ? choice->media[choice->video].rtx_pt : -1;
    rc = cg_media_call(svc->media, do_create, c);
    if (rc == 0)
        rc = c->rc;
    if (rc == CG_ENOTFOUND) {
        rc = not_live(resp, stream);
        goto done;
    }
    if (rc == CG_ELIMIT && c->created.limit) {
        cg_http_resp_header(resp, "Retry-After", "5");
        rc = cg_http_problem(resp, 503, "Too many viewers",
                             "%s %zu is reached: stream \"%s\" has as many WebRTC viewers as "
                             "clipgate is set to take; retry later or watch over HLS "
                             "(/live/%s/index.m3u8).",
                             c->created.limit, c->created.limit_value, stream, stream);
        goto done;
    }
    if (rc == CG_ELIMIT || rc == CG_EFULL) {
        cg_http_resp_header(resp, "Retry-After", "5");
        rc = cg_http_problem(resp, 503, "Too many viewers",
                             "Stream \"%s\" has as many WebRTC viewers as it can take; retry "
                             "later or watch over HLS (/live/%s/index.m3u8).",
                             stream, stream);
        goto done;
    }
    if (rc) {
        rc = cg_http_problem(resp, 500, "Session setup failed", "Could not create the session: %s.",
                             cg_strerror(rc));
        goto done;
    }
    if (choice->video >= 0) {
        choice->media[choice->video].send_ssrc = c->created.video_ssrc;
        choice->media[choice->video].send_rtx_ssrc = c->created.video_rtx_ssrc;
    }
    if (choice->audio >= 0)
        choice->media[choice->audio].send_ssrc = c->created.audio_ssrc;
    char loc[256];
    snprintf(loc, sizeof(loc), "/whep/%s/%s", stream, c->created.id);
    rc = cg_http_send_answer(resp, svc, offer, choice, c->created.ufrag, c->created.pwd,
                             CG_SDP_SENDONLY, loc, c->created.etag);
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
    cg_viewer *v = cg_viewer_find(m, id);
    return v && strcmp(cg_viewer_stream(v), stream) == 0 ? v : NULL;
}

static const char *session_etag(const void *s)
{
    return cg_viewer_etag(s);
}
static const char *session_remote_ufrag(const void *s)
{
    return cg_viewer_remote_ufrag(s);
}
static void session_destroy(void *s)
{
    cg_viewer_destroy(s);
}

static int session_restart(void *s, const char *ufrag, const char *pwd,
                           cg_http_session_restart *out)
{
    cg_viewer_created c;
    int rc = cg_viewer_ice_restart(s, ufrag, pwd, &c);
    if (rc == 0) {
        memcpy(out->ufrag, c.ufrag, sizeof(out->ufrag));
        memcpy(out->pwd, c.pwd, sizeof(out->pwd));
        memcpy(out->etag, c.etag, sizeof(out->etag));
    }
    return rc;
}

static const cg_http_session_ops whep_session_ops = {
    .noun = "viewer",
    .verb = "Play",
    .prefix = "/whep",
    .find = find_session,
    .etag = session_etag,
    .remote_ufrag = session_remote_ufrag,
    .ice_restart = session_restart,
    .destroy = session_destroy,
};

static int whep_session_get(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->play_token))
        return 0;
    return cg_http_session_get(req, resp, svc, &whep_session_ops);
}

static int whep_patch(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->play_token))
        return 0;
    return cg_http_session_patch(req, resp, svc, &whep_session_ops);
}

static int whep_delete(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    if (!check_auth(req, resp, svc->cfg->play_token))
        return 0;
    return cg_http_session_delete(req, resp, svc, &whep_session_ops);
}

static const cg_http_route whep_routes[] = {
    {.method = "POST", .pattern = "/whep/{stream}", .handler = whep_post, .name = "whep"},
    {.method = "OPTIONS",
     .pattern = "/whep/{stream}",
     .handler = cg_http_offer_options,
     .name = "whep"},
    {.method = "GET",
     .pattern = "/whep/{stream}/{session}",
     .handler = whep_session_get,
     .name = "whep_session"},
    {.method = "PATCH",
     .pattern = "/whep/{stream}/{session}",
     .handler = whep_patch,
     .name = "whep_session"},
    {.method = "DELETE",
     .pattern = "/whep/{stream}/{session}",
     .handler = whep_delete,
     .name = "whep_session"},
};

int cg_whep_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, whep_routes, sizeof(whep_routes) / sizeof(whep_routes[0]),
                                     svc);
}
