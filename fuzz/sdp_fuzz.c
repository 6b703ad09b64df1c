/* Fuzz target for the SDP offer parser, the WHIP negotiation and the answer
 * builder, chained as the WHIP handler chains them.
 *
 * Input: SDP text as a client would POST it. Seeds in fuzz/corpus/sdp/: the
 * offers of tests/fixtures/sdp/ (aiortc, Chromium, webrtcbin captures; OBS
 * and FFmpeg shapes; the malformed cases).
 *
 * Invariants (abort otherwise): a refusal always comes with a sentence;
 * every view of a parsed offer holds NUL-terminated strings; an answer we
 * build from any accepted offer parses with our own parser, has as many
 * m= sections as the offer and keeps ice-lite. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const cg_sdp *s)
{
    size_t sum = 0;
    for (size_t i = 0; i < cg_sdp_media_count(s); i++) {
        const cg_sdp_media *m = cg_sdp_media_at(s, i);
        sum += strlen(m->media) + strlen(m->proto) + strlen(m->fmt0);
        for (size_t k = 0; k < m->n_codecs; k++) {
            const char *v;
            size_t n;
            sum += strlen(m->codecs[k].name);
            if (cg_sdp_fmtp_param(m->codecs[k].fmtp, "apt", &v, &n) == 0)
                sum += n;
        }
        for (size_t k = 0; k < m->n_ssrc; k++)
            sum += strlen(m->ssrc[k].cname) + strlen(m->ssrc[k].msid);
        for (size_t k = 0; k < m->tp.n_fp; k++)
            sum += strlen(m->tp.fp[k].alg) + strlen(m->tp.fp[k].hex);
    }
    if (sum == SIZE_MAX)
        abort(); /* keeps the reads from being optimised away */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    cg_sdp *offer = NULL;
    int rc = cg_sdp_parse(&offer, (const char *)data, size, why, sizeof(why));
    if (rc) {
        if (rc != CG_EPROTO || !why[0])
            abort();
        return 0;
    }
    walk(offer);
    cg_sdp_choice *ch = malloc(sizeof(*ch));
    if (!ch)
        abort();
    rc = cg_sdp_negotiate_publish(offer, ch, why, sizeof(why));
    if (rc && (rc != CG_EUNSUPP || !why[0]))
        abort();
    if (rc == 0) {
        static const char *const addrs[] = {"192.0.2.1", "2001:db8::1"};
        cg_sdp_local l = {
            .ice_ufrag = "fuzzUfrag",
            .ice_pwd = "fuzzPasswordFuzzPassword",
            .fp_alg = "sha-256",
            .fp_hex = "AB:CD",
            .addrs = addrs,
            .n_addrs = 2,
            .port = 8189,
            .sess_id = 1,
            .sess_version = 1,
            .dir = CG_SDP_RECVONLY,
        };
        cg_dbuf d;
        cg_dbuf_init(&d, 256 * 1024);
        if (cg_sdp_build_answer(offer, ch, &l, &d) != 0)
            abort();
        cg_sdp *answer = NULL;
        if (cg_sdp_parse(&answer, d.p, d.len, why, sizeof(why)) != 0)
            abort();
        if (cg_sdp_media_count(answer) != cg_sdp_media_count(offer) ||
            !cg_sdp_session_of(answer)->ice_lite)
            abort();
        walk(answer);
        cg_sdp_free(answer);
        cg_dbuf_free(&d);
    }
    free(ch);
    cg_sdp_free(offer);
    return 0;
}
