/* Fuzz target for the STUN parser, its integrity checks, the builders fed
 * with parsed fields, and the ICE-lite agent. Seeds in fuzz/corpus/stun/:
 * RFC 5769 vectors, aioice-captured checks (tests/fixtures/stun/) and
 * truncated/damaged variants. Credentials match those seeds so valid
 * messages reach the deep paths (answers, nomination, 487). Whatever the
 * agent answers must itself parse and verify: otherwise abort. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/demux.h"
#include "rtc/ice.h"
#include "rtc/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rfc_pwd[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const char lite_pwd[] = "CgLitePassword0123456789";

static void run_agent(cg_ice *ice, const char *pwd, const uint8_t *data, size_t size)
{
    struct sockaddr_storage from[2];
    memset(from, 0, sizeof(from));
    struct sockaddr_in *sin = (struct sockaddr_in *)&from[0];
    sin->sin_family = AF_INET;
    sin->sin_port = htons(5000);
    sin->sin_addr.s_addr = htonl(0x7f000001);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&from[1];
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(5001);
    sin6->sin6_addr.s6_addr[15] = 1;

    for (int i = 0; i < 2; i++) {
        uint8_t out[1024];
        size_t len = 0;
        unsigned ev = 0;
        int rc = cg_ice_handle(ice, data, size, &from[i], 1000 + (uint64_t)i, out, sizeof(out),
                               &len, &ev);
        if (rc != 0) {
            if (len != 0 || ev != 0)
                abort();
            continue;
        }
        cg_stun_msg r;
        if (len == 0 || cg_stun_parse(&r, out, len) != 0 ||
            cg_stun_check_integrity(&r, out, len, pwd, strlen(pwd)) != 0 ||
            cg_stun_check_fingerprint(&r, out, len) != 0)
            abort();
        if ((ev & CG_ICE_EV_REJECTED) == 0 && !cg_ice_addr_ok(ice, &from[i]))
            abort();
    }
    struct sockaddr_storage sel;
    cg_ice_selected(ice, &sel);
    (void)cg_ice_consent_deadline(ice);
}

static void rebuild(const cg_stun_msg *m)
{
    uint8_t out[1024];
    size_t len;
    char user[514];
    const char *u = NULL;
    if (m->username && m->username_len < sizeof(user) &&
        !memchr(m->username, '\0', m->username_len)) {
        memcpy(user, m->username, m->username_len);
        user[m->username_len] = '\0';
        u = user;
    }
    int controlling = m->has_controlling ? 1 : m->has_controlled ? 0 : -1;
    if (cg_stun_build_binding_request(out, sizeof(out), &len, m->txid, u, m->priority,
                                      m->use_candidate, controlling, m->tiebreaker, lite_pwd,
                                      strlen(lite_pwd)) == 0) {
        cg_stun_msg b;
        if (cg_stun_parse(&b, out, len) != 0 || b.priority != m->priority ||
            b.use_candidate != m->use_candidate ||
            cg_stun_check_integrity(&b, out, len, lite_pwd, strlen(lite_pwd)) != 0)
            abort();
    }
    if (m->has_xor_mapped)
        cg_stun_build_binding_success(out, sizeof(out), &len, m->txid, &m->xor_mapped, rfc_pwd,
                                      strlen(rfc_pwd));
    if (m->has_error)
        cg_stun_build_error(out, sizeof(out), &len, m->txid, m->error_code, "x", NULL, 0);
    size_t k = m->n_unknown < CG_STUN_MAX_UNKNOWN ? m->n_unknown : CG_STUN_MAX_UNKNOWN;
    cg_stun_build_unknown_attributes(out, sizeof(out), &len, m->txid, m->unknown, k, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_demux_classify(data, size);

    cg_stun_msg m;
    if (cg_stun_parse(&m, data, size) == 0) {
        cg_stun_check_integrity(&m, data, size, rfc_pwd, strlen(rfc_pwd));
        cg_stun_check_integrity(&m, data, size, lite_pwd, strlen(lite_pwd));
        cg_stun_check_fingerprint(&m, data, size);
        char lfrag[64];
        cg_stun_username_local(&m, lfrag, sizeof(lfrag));
        rebuild(&m);
    }

    /* The seeds' credentials: aioice's checks with the remote ufrag known,
     * FFmpeg's without, and the RFC 5769 request (an ICE-CONTROLLED one). */
    cg_ice *ice = NULL;
    if (cg_ice_new(&ice, "CgLite01", lite_pwd, "aio1", "aioicePeerPassword0123", 1000000, 0) == 0) {
        run_agent(ice, lite_pwd, data, size);
        cg_ice_free(ice);
    }
    if (cg_ice_new(&ice, "CgLite01", lite_pwd, NULL, NULL, 1000000, 0) == 0) {
        run_agent(ice, lite_pwd, data, size);
        cg_ice_free(ice);
    }
    if (cg_ice_new(&ice, "evtj", rfc_pwd, "h6vY", NULL, 1000000, 0) == 0) {
        run_agent(ice, rfc_pwd, data, size);
        cg_ice_free(ice);
    }
    return 0;
}
