/* Fuzz target for the trickle / ICE restart fragment parser (RFC 8840) and
 * the candidate grammar it shares with the SDP parser.
 *
 * Input: a PATCH body. Seeds in fuzz/corpus/sdpfrag/: a fragment built from
 * Chromium's onicecandidate events, RFC 9725's trickle and restart
 * examples, and malformed fragments.
 *
 * Invariants (abort otherwise): a refusal comes with a sentence; parsed
 * strings are NUL-terminated within their arrays; a restart answer built
 * with the fragment's credentials parses back to the same credentials. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/sdp.h"
#include "rtc/sdpfrag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    cg_sdpfrag *f = malloc(sizeof(*f));
    cg_sdp_candidate c;
    if (!f)
        abort();
    /* The whole input as one candidate value, too. */
    cg_sdp_candidate_parse((const char *)data, size, &c, NULL);
    int rc = cg_sdpfrag_parse((const char *)data, size, f, why, sizeof(why));
    if (rc) {
        if (rc != CG_EPROTO || !why[0])
            abort();
        free(f);
        return 0;
    }
    for (size_t i = 0; i < f->n_cand; i++)
        if (memchr(f->cand[i].mid, 0, sizeof(f->cand[i].mid)) == NULL ||
            memchr(f->cand[i].cand.address, 0, sizeof(f->cand[i].cand.address)) == NULL)
            abort();
    if (f->ice_ufrag[0]) {
        cg_sdp_choice *ch = calloc(1, sizeof(*ch));
        static const char *const addrs[] = {"192.0.2.1"};
        if (!ch)
            abort();
        ch->n_media = 1;
        ch->bundle = true;
        ch->bundle_tag = 0;
        ch->media[0].accepted = true;
        ch->media[0].kind = CG_SDP_VIDEO;
        memcpy(ch->media[0].mid, "0", 2);
        cg_dbuf d;
        cg_dbuf_init(&d, 16 * 1024);
        if (cg_sdpfrag_build_restart_answer(ch, f->ice_ufrag, f->ice_pwd, addrs, 1, 8189, &d))
            abort();
        cg_sdpfrag *back = malloc(sizeof(*back));
        if (!back || cg_sdpfrag_parse(d.p, d.len, back, why, sizeof(why)) != 0 ||
            strcmp(back->ice_ufrag, f->ice_ufrag) != 0 || strcmp(back->ice_pwd, f->ice_pwd) != 0 ||
            back->n_cand != 1)
            abort();
        free(back);
        cg_dbuf_free(&d);
        free(ch);
    }
    free(f);
    return 0;
}
