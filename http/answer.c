/* The 201 answer shared by WHIP and WHEP: our side of the SDP (ICE-lite
 * credentials, certificate fingerprint, host candidates, one UDP port) and
 * the response headers both protocols send. */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/random.h"
#include "http/problem.h"
#include "http/services.h"
#include "ingest/media.h"

#define ANSWER_MAX (32 * 1024)

int cg_http_send_answer(cg_http_resp *resp, const cg_services *svc, const cg_sdp *offer,
                        const cg_sdp_choice *choice, const char *ufrag, const char *pwd,
                        enum cg_sdp_dir dir, const char *location, const char *etag)
{
    /* The session URL takes trickle and ICE restart PATCHes (RFC 9725). */
    cg_http_resp_header(resp, "Accept-Patch", "application/trickle-ice-sdpfrag");
    cg_sdp_local local = {
        .ice_ufrag = ufrag,
        .ice_pwd = pwd,
        .fp_alg = "sha-256",
        .fp_hex = cg_media_fingerprint(svc->media),
        .setup = CG_SDP_SETUP_NONE,
        .addrs = (const char *const *)svc->cfg->public_ip.v,
        .n_addrs = svc->cfg->public_ip.n,
        .port = cg_media_port(svc->media),
        .sess_id = ((uint64_t)cg_random_u32() << 20) | 1,
        .sess_version = 2,
        .dir = dir,
    };
    cg_dbuf answer;
    cg_dbuf_init(&answer, ANSWER_MAX);
    int rc = cg_sdp_build_answer(offer, choice, &local, &answer);
    if (rc) {
        cg_dbuf_free(&answer);
        return cg_http_problem(resp, 500, "Answer failed", "Could not write the SDP answer: %s.",
                               cg_strerror(rc));
    }
    cg_http_resp_status(resp, 201);
    cg_http_resp_header(resp, "Location", location);
    cg_http_resp_header(resp, "ETag", etag);
    /* One Link line per ICE server: OBS parses exactly that shape. */
    for (size_t i = 0; i < svc->cfg->ice_server.n; i++) {
        char v[600];
        snprintf(v, sizeof(v), "<%s>; rel=\"ice-server\"", svc->cfg->ice_server.v[i]);
        cg_http_resp_header(resp, "Link", v);
    }
    size_t alen;
    char *text = cg_dbuf_take(&answer, &alen);
    return cg_http_resp_body_take(resp, text, alen, "application/sdp");
}
