/* ICE-lite agent: answers to real aioice checks (captured by
 * tests/fixtures/stun/make_fixtures.py) must equal what aioice itself would
 * send, plus the agent's state rules: address learning, nomination, consent,
 * restart, role conflict and rejection of bad credentials. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/ice.h"
#include "rtc/stun.h"
#include "cg_test.h"

#define LITE_UFRAG "CgLite01"
#define LITE_PWD "CgLitePassword0123456789"
#define PEER_UFRAG "aio1"
#define PEER_PWD "aioicePeerPassword0123"
#define SEC 1000000ull
#define CONSENT (30 * SEC)

static struct sockaddr_storage addr_v4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    inet_pton(AF_INET, ip, &sin->sin_addr);
    return ss;
}

static struct sockaddr_storage addr_v6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &sin6->sin6_addr);
    return ss;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(a, b, sizeof(struct sockaddr_in)) == 0;
    return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

static uint8_t *load(const char *name, size_t *n)
{
    char path[256];
    snprintf(path, sizeof(path), "tests/fixtures/stun/%s", name);
    uint8_t *p = (uint8_t *)cg_test_read_file(path, n);
    if (!p)
        fprintf(stderr, "missing fixture %s\n", path);
    return p;
}

static cg_ice *new_agent(const char *ru, const char *rp, uint64_t now)
{
    cg_ice *ice = NULL;
    CHECK_INT(cg_ice_new(&ice, LITE_UFRAG, LITE_PWD, ru, rp, CONSENT, now), 0);
    return ice;
}

/* A check as a peer would send it; txid varies with seed. */
static size_t make_check(uint8_t *buf, size_t cap, unsigned seed, const char *username,
                         int use_candidate, int controlling, const char *pwd)
{
    uint8_t txid[12];
    for (int i = 0; i < 12; i++)
        txid[i] = (uint8_t)(seed * 31u + (unsigned)i);
    size_t len = 0;
    CHECK_INT(cg_stun_build_binding_request(buf, cap, &len, txid, username, 0x6effffff,
                                            use_candidate, controlling, 0x1122334455667788ull, pwd,
                                            pwd ? strlen(pwd) : 0),
              0);
    return len;
}

/* Parses and verifies an answer the agent wrote for request txid. */
static void check_answer(const uint8_t *out, size_t len, const uint8_t *req, uint16_t type,
                         const struct sockaddr_storage *mapped, uint16_t error, const char *pwd)
{
    cg_stun_msg m, r;
    CHECK_INT(cg_stun_parse(&m, out, len), 0);
    CHECK_INT(cg_stun_parse(&r, req, 20 + cg_load_u16(req + 2)), 0);
    CHECK_INT(m.type, type);
    CHECK_MEM(m.txid, r.txid, 12);
    CHECK_INT(cg_stun_check_integrity(&m, out, len, pwd, strlen(pwd)), 0);
    CHECK_INT(cg_stun_check_fingerprint(&m, out, len), 0);
    if (mapped)
        CHECK(m.has_xor_mapped && same_addr(&m.xor_mapped, mapped));
    if (error)
        CHECK_INT(m.error_code, error);
}

static void test_aioice_session(void)
{
    size_t n1 = 0, n2 = 0, n3 = 0, r1 = 0, r2 = 0, r3 = 0;
    uint8_t *check = load("aioice_check.bin", &n1);
    uint8_t *nominate = load("aioice_nominate.bin", &n2);
    uint8_t *controlled = load("aioice_controlled.bin", &n3);
    uint8_t *want_check = load("aioice_check_resp_v4.bin", &r1);
    uint8_t *want_nom = load("aioice_nominate_resp_v6.bin", &r2);
    uint8_t *want_487 = load("aioice_controlled_err487.bin", &r3);
    CHECK(check && nominate && controlled && want_check && want_nom && want_487);
    if (!(check && nominate && controlled && want_check && want_nom && want_487))
        goto out;

    cg_ice *ice = new_agent(PEER_UFRAG, PEER_PWD, 1000);
    struct sockaddr_storage v4 = addr_v4("192.0.2.1", 32853);
    struct sockaddr_storage v6 = addr_v6("2001:db8:1234:5678:11:2233:4455:6677", 32853);
    struct sockaddr_storage sel;
    uint8_t out[512];
    size_t len = 99;
    unsigned ev = 99;
    CHECK_INT(cg_ice_selected(ice, &sel), CG_ENOTFOUND);
    CHECK_INT(cg_ice_addr_ok(ice, &v4), 0);

    /* aioice's first (non-nominating) check: the answer is byte for byte
     * what aioice's own ICE-lite responder would send. */
    CHECK_INT(cg_ice_handle(ice, check, n1, &v4, 2 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR);
    CHECK_INT(len, r1);
    CHECK(len == r1 && memcmp(out, want_check, r1) == 0);
    CHECK_INT(cg_ice_addr_ok(ice, &v4), 1);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &v4));

    /* The same check again (a retransmission or consent refresh). */
    CHECK_INT(cg_ice_handle(ice, check, n1, &v4, 3 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, 0);
    CHECK_INT(len, r1);

    /* aioice's nominating check, arriving from another (IPv6) address. */
    CHECK_INT(cg_ice_handle(ice, nominate, n2, &v6, 4 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR | CG_ICE_EV_NOMINATED);
    CHECK(len == r2 && memcmp(out, want_nom, r2) == 0);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &v6));
    CHECK_INT(cg_ice_addr_ok(ice, &v4), 1);
    CHECK_INT(cg_ice_addr_ok(ice, &v6), 1);

    /* A later plain check from v4 does not move the nominated address. */
    CHECK_INT(cg_ice_handle(ice, check, n1, &v4, 5 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &v6));
    CHECK(cg_ice_consent_deadline(ice) == 5 * SEC + CONSENT);

    /* aioice as a controlled agent: 487, byte for byte aioice's own. */
    struct sockaddr_storage other = addr_v4("192.0.2.99", 4000);
    CHECK_INT(cg_ice_handle(ice, controlled, n3, &other, 6 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_REJECTED);
    CHECK(len == r3 && memcmp(out, want_487, r3) == 0);
    CHECK_INT(cg_ice_addr_ok(ice, &other), 0);
    CHECK(cg_ice_consent_deadline(ice) == 5 * SEC + CONSENT);

    /* A response or a malformed datagram: nothing to send. */
    CHECK_INT(cg_ice_handle(ice, want_check, r1, &v4, 7 * SEC, out, sizeof(out), &len, &ev),
              CG_EAGAIN);
    CHECK_INT(len, 0);
    CHECK_INT(cg_ice_handle(ice, check, n1 - 4, &v4, 7 * SEC, out, sizeof(out), &len, &ev),
              CG_EPROTO);
    CHECK_INT(len, 0);
    cg_ice_free(ice);
out:
    free(check);
    free(nominate);
    free(controlled);
    free(want_check);
    free(want_nom);
    free(want_487);
}

static void test_ffmpeg_shape(void)
{
    /* FFmpeg's WHIP muxer: USERNAME, USE-CANDIDATE, MI, FINGERPRINT; no
     * PRIORITY, no ICE-CONTROLLING. The offer gives us its ufrag. */
    size_t n = 0;
    uint8_t *req = load("ffmpeg_check.bin", &n);
    CHECK(req != NULL);
    if (!req)
        return;
    cg_ice *ice = new_agent("ffmp", "ffmpegRemotePassword00", 0);
    struct sockaddr_storage from = addr_v4("127.0.0.1", 40000);
    uint8_t out[256];
    size_t len;
    unsigned ev;
    CHECK_INT(cg_ice_handle(ice, req, n, &from, SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR | CG_ICE_EV_NOMINATED);
    check_answer(out, len, req, CG_STUN_BINDING_SUCCESS, &from, 0, LITE_PWD);
    cg_ice_free(ice);

    /* Without remote credentials (OBS-style offer) it is accepted too. */
    ice = new_agent(NULL, NULL, 0);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR | CG_ICE_EV_NOMINATED);
    cg_ice_free(ice);
    free(req);
}

static void test_bad_credentials(void)
{
    cg_ice *ice = new_agent(PEER_UFRAG, PEER_PWD, 0);
    cg_ice *open = new_agent(NULL, NULL, 0);
    struct sockaddr_storage from = addr_v4("10.0.0.1", 5000);
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;

    n = make_check(req, sizeof(req), 1, "Other001:" PEER_UFRAG, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    CHECK_INT(len, 0);
    CHECK_INT(ev, 0);
    n = make_check(req, sizeof(req), 2, LITE_UFRAG ":" PEER_UFRAG, 1, 1,
                   "wrongPassword0123456789x");
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    CHECK_INT(len, 0);
    /* Our ufrag as a prefix of a longer one is still another ufrag. */
    n = make_check(req, sizeof(req), 3, LITE_UFRAG "x:" PEER_UFRAG, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    /* Wrong remote part: refused when the remote ufrag is known only. */
    n = make_check(req, sizeof(req), 4, LITE_UFRAG ":zzzz", 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    CHECK_INT(cg_ice_handle(open, req, n, &from, 0, out, sizeof(out), &len, &ev), 0);
    n = make_check(req, sizeof(req), 5, LITE_UFRAG ":" PEER_UFRAG "1", 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    /* No MESSAGE-INTEGRITY at all, or no USERNAME. */
    n = make_check(req, sizeof(req), 6, LITE_UFRAG ":" PEER_UFRAG, 1, 1, NULL);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    n = make_check(req, sizeof(req), 7, NULL, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    /* Valid HMAC but a damaged FINGERPRINT. */
    n = make_check(req, sizeof(req), 8, LITE_UFRAG ":" PEER_UFRAG, 1, 1, LITE_PWD);
    req[n - 1] ^= 1;
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
    /* A flipped bit inside the USERNAME of a real aioice check. */
    size_t fn = 0;
    uint8_t *real = load("aioice_check.bin", &fn);
    if (real) {
        real[30] ^= 0x20;
        CHECK_INT(cg_ice_handle(ice, real, fn, &from, 0, out, sizeof(out), &len, &ev), CG_EAUTH);
        free(real);
    }
    /* Nothing above was authenticated, nothing changed. */
    CHECK_INT(cg_ice_addr_ok(ice, &from), 0);
    CHECK(cg_ice_consent_deadline(ice) == CONSENT);
    cg_ice_free(ice);
    cg_ice_free(open);
}

static void test_role_conflict_and_unknown(void)
{
    cg_ice *ice = new_agent(PEER_UFRAG, PEER_PWD, 0);
    struct sockaddr_storage from = addr_v4("10.0.0.2", 5000);
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;
    n = make_check(req, sizeof(req), 1, LITE_UFRAG ":" PEER_UFRAG, 1, 0, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_REJECTED);
    check_answer(out, len, req, CG_STUN_BINDING_ERROR, NULL, 487, LITE_PWD);
    CHECK_INT(cg_ice_addr_ok(ice, &from), 0);

    /* An unknown comprehension-required attribute in an authenticated
     * request gets 420 listing it. The builder cannot emit one, so the
     * PRIORITY of an unsigned check becomes CHANGE-REQUEST (0x0003) and the
     * request is signed here with OpenSSL's one-shot HMAC. */
    n = make_check(req, sizeof(req), 2, LITE_UFRAG ":" PEER_UFRAG, 0, -1, NULL);
    n -= 8;              /* drop FINGERPRINT */
    req[20 + 20] = 0x00; /* PRIORITY, after the 20-byte USERNAME attribute, */
    req[20 + 21] = 0x03; /* becomes CHANGE-REQUEST */
    size_t mi = n;
    memcpy(req + n, "\x00\x08\x00\x14", 4);
    n += 24;
    cg_store_u16(req + 2, (uint16_t)(n - 20));
    unsigned maclen = 0;
    CHECK(HMAC(EVP_sha1(), LITE_PWD, (int)strlen(LITE_PWD), req, mi, req + mi + 4, &maclen) !=
          NULL);
    CHECK_INT(maclen, 20);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_REJECTED);
    check_answer(out, len, req, CG_STUN_BINDING_ERROR, NULL, 420, LITE_PWD);
    /* ERROR-CODE is 4 + 4 + "Unknown Attribute" (17) + 3 padding. */
    CHECK(len >= 56 && memcmp(out + 48, "\x00\x0a\x00\x02\x00\x03\x00\x00", 8) == 0);
    CHECK_INT(cg_ice_addr_ok(ice, &from), 0);
    /* Unsigned, the same request is simply refused. */
    req[mi + 4] ^= 1;
    CHECK_INT(cg_ice_handle(ice, req, n, &from, SEC, out, sizeof(out), &len, &ev), CG_EAUTH);
    cg_ice_free(ice);
}

static void test_consent(void)
{
    cg_ice *ice = new_agent(PEER_UFRAG, PEER_PWD, 500);
    CHECK(cg_ice_consent_deadline(ice) == 500 + CONSENT);
    struct sockaddr_storage from = addr_v4("10.0.0.3", 5000);
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;
    n = make_check(req, sizeof(req), 1, LITE_UFRAG ":" PEER_UFRAG, 0, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 10 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK(cg_ice_consent_deadline(ice) == 10 * SEC + CONSENT);
    n = make_check(req, sizeof(req), 2, LITE_UFRAG ":" PEER_UFRAG, 0, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 25 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK(cg_ice_consent_deadline(ice) == 25 * SEC + CONSENT);
    /* A failed check later does not extend consent. */
    n = make_check(req, sizeof(req), 3, LITE_UFRAG ":" PEER_UFRAG, 0, 1, "nope");
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 40 * SEC, out, sizeof(out), &len, &ev), CG_EAUTH);
    CHECK(cg_ice_consent_deadline(ice) == 25 * SEC + CONSENT);
    /* Nor does an answer that did not fit (no state change at all). */
    struct sockaddr_storage other = addr_v4("10.0.0.4", 5000);
    n = make_check(req, sizeof(req), 4, LITE_UFRAG ":" PEER_UFRAG, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &other, 41 * SEC, out, 40, &len, &ev), CG_ENOSPC);
    CHECK_INT(len, 0);
    CHECK_INT(ev, 0);
    CHECK_INT(cg_ice_addr_ok(ice, &other), 0);
    CHECK(cg_ice_consent_deadline(ice) == 25 * SEC + CONSENT);
    /* Authenticated media refreshes consent (agents that only send binding
     * indications), but never moves the deadline back. */
    cg_ice_consent_refresh(ice, 50 * SEC);
    CHECK(cg_ice_consent_deadline(ice) == 50 * SEC + CONSENT);
    cg_ice_consent_refresh(ice, 45 * SEC);
    CHECK(cg_ice_consent_deadline(ice) == 50 * SEC + CONSENT);
    cg_ice_free(ice);
}

static void test_restart(void)
{
    cg_ice *ice = new_agent(PEER_UFRAG, PEER_PWD, 0);
    struct sockaddr_storage a = addr_v4("10.0.0.5", 5000), b = addr_v4("10.0.0.6", 6000);
    struct sockaddr_storage sel;
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;
    n = make_check(req, sizeof(req), 1, LITE_UFRAG ":" PEER_UFRAG, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &a, SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR | CG_ICE_EV_NOMINATED);

    CHECK_INT(cg_ice_restart(ice, "NewUfrag", "NewPassword0123456789abc", "aio2",
                             "peerPwd2peerPwd2peerPw"),
              0);
    CHECK_STR(cg_ice_local_ufrag(ice), "NewUfrag");
    CHECK_STR(cg_ice_local_pwd(ice), "NewPassword0123456789abc");
    /* Media keeps flowing to the old address until the peer re-checks. */
    CHECK_INT(cg_ice_addr_ok(ice, &a), 1);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &a));
    /* Old credentials are refused now. */
    n = make_check(req, sizeof(req), 2, LITE_UFRAG ":" PEER_UFRAG, 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &a, 2 * SEC, out, sizeof(out), &len, &ev), CG_EAUTH);
    n = make_check(req, sizeof(req), 3, "NewUfrag:" PEER_UFRAG, 1, 1, "NewPassword0123456789abc");
    CHECK_INT(cg_ice_handle(ice, req, n, &a, 2 * SEC, out, sizeof(out), &len, &ev), CG_EAUTH);
    CHECK_INT(cg_ice_addr_ok(ice, &a), 1);
    /* The first check with the new credentials replaces the old state. */
    n = make_check(req, sizeof(req), 4, "NewUfrag:aio2", 0, 1, "NewPassword0123456789abc");
    CHECK_INT(cg_ice_handle(ice, req, n, &b, 3 * SEC, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, CG_ICE_EV_NEW_ADDR);
    check_answer(out, len, req, CG_STUN_BINDING_SUCCESS, &b, 0, "NewPassword0123456789abc");
    CHECK_INT(cg_ice_addr_ok(ice, &a), 0);
    CHECK_INT(cg_ice_addr_ok(ice, &b), 1);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &b));
    CHECK(cg_ice_consent_deadline(ice) == 3 * SEC + CONSENT);

    /* Bad restart arguments change nothing. */
    CHECK_INT(cg_ice_restart(ice, "bad:ufrag", "x", NULL, NULL), CG_EINVAL);
    CHECK_INT(cg_ice_restart(ice, "u", NULL, NULL, NULL), CG_EINVAL);
    CHECK_STR(cg_ice_local_ufrag(ice), "NewUfrag");
    cg_ice_free(ice);
}

static void test_address_bound(void)
{
    cg_ice *ice = new_agent(NULL, NULL, 0);
    struct sockaddr_storage addrs[CG_ICE_MAX_ADDRS + 2], sel;
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;
    for (int i = 0; i < CG_ICE_MAX_ADDRS + 2; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
        addrs[i] = addr_v4(ip, (uint16_t)(7000 + i));
    }
    /* Nominate the first address, then fill the list and overflow it. */
    n = make_check(req, sizeof(req), 100, LITE_UFRAG ":x", 1, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &addrs[0], 0, out, sizeof(out), &len, &ev), 0);
    for (int i = 1; i < CG_ICE_MAX_ADDRS + 2; i++) {
        n = make_check(req, sizeof(req), 100 + (unsigned)i, LITE_UFRAG ":x", 0, 1, LITE_PWD);
        CHECK_INT(cg_ice_handle(ice, req, n, &addrs[i], (uint64_t)i, out, sizeof(out), &len, &ev),
                  0);
        CHECK_INT(ev, CG_ICE_EV_NEW_ADDR);
    }
    /* 10 addresses through 8 slots: the selected one stays, the two
     * oldest others (1 and 2) were dropped. */
    CHECK_INT(cg_ice_addr_ok(ice, &addrs[0]), 1);
    CHECK_INT(cg_ice_addr_ok(ice, &addrs[1]), 0);
    CHECK_INT(cg_ice_addr_ok(ice, &addrs[2]), 0);
    for (int i = 3; i < CG_ICE_MAX_ADDRS + 2; i++)
        CHECK_INT(cg_ice_addr_ok(ice, &addrs[i]), 1);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &addrs[0]));
    /* Same IP, other port: a different address. */
    struct sockaddr_storage port = addr_v4("10.1.0.1", 7999);
    CHECK_INT(cg_ice_addr_ok(ice, &port), 0);
    cg_ice_free(ice);

    /* Without nomination, selected is the latest authenticated address. */
    ice = new_agent(NULL, NULL, 0);
    for (int i = 0; i < 3; i++) {
        n = make_check(req, sizeof(req), 200 + (unsigned)i, LITE_UFRAG ":x", 0, 1, LITE_PWD);
        CHECK_INT(cg_ice_handle(ice, req, n, &addrs[i], 0, out, sizeof(out), &len, &ev), 0);
    }
    n = make_check(req, sizeof(req), 210, LITE_UFRAG ":x", 0, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &addrs[1], 0, out, sizeof(out), &len, &ev), 0);
    CHECK_INT(ev, 0);
    CHECK_INT(cg_ice_selected(ice, &sel), 0);
    CHECK(same_addr(&sel, &addrs[1]));
    cg_ice_free(ice);
}

static void test_other_messages(void)
{
    cg_ice *ice = new_agent(NULL, NULL, 0);
    struct sockaddr_storage from = addr_v4("10.0.0.7", 5000);
    uint8_t req[256], out[256];
    size_t n, len;
    unsigned ev;
    /* A binding indication (keepalive) and a TURN Allocate request. */
    n = make_check(req, sizeof(req), 1, LITE_UFRAG ":x", 0, 1, LITE_PWD);
    req[1] = 0x11;
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EAGAIN);
    req[1] = 0x03;
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, &ev), CG_EUNSUPP);
    CHECK_INT(len, 0);
    /* Not STUN at all. */
    static const uint8_t dtls[] = {0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0,
                                   0,    0,    0,    0, 0, 0, 0, 0, 0, 0};
    CHECK_INT(cg_ice_handle(ice, dtls, sizeof(dtls), &from, 0, out, sizeof(out), &len, &ev),
              CG_EPROTO);
    /* Only IP sources. */
    struct sockaddr_storage unix_addr;
    memset(&unix_addr, 0, sizeof(unix_addr));
    unix_addr.ss_family = AF_UNIX;
    n = make_check(req, sizeof(req), 2, LITE_UFRAG ":x", 0, 1, LITE_PWD);
    CHECK_INT(cg_ice_handle(ice, req, n, &unix_addr, 0, out, sizeof(out), &len, &ev), CG_EINVAL);
    /* events may be NULL. */
    CHECK_INT(cg_ice_handle(ice, req, n, &from, 0, out, sizeof(out), &len, NULL), 0);
    CHECK_INT(cg_ice_addr_ok(ice, &from), 1);
    cg_ice_free(ice);
}

static void test_new_and_credentials(void)
{
    cg_ice *ice = (cg_ice *)&ice;
    CHECK_INT(cg_ice_new(&ice, NULL, "pwd", NULL, NULL, CONSENT, 0), CG_EINVAL);
    CHECK_INT(cg_ice_new(&ice, "a:b", "pwd", NULL, NULL, CONSENT, 0), CG_EINVAL);
    CHECK_INT(cg_ice_new(&ice, "ab", "", NULL, NULL, CONSENT, 0), CG_EINVAL);
    CHECK(ice == (cg_ice *)&ice); /* untouched on failure */
    cg_ice_free(NULL);

    char u1[9], p1[25], u2[9], p2[25];
    CHECK_INT(cg_ice_gen_credentials(u1, p1), 0);
    CHECK_INT(cg_ice_gen_credentials(u2, p2), 0);
    CHECK_INT(strlen(u1), 8);
    CHECK_INT(strlen(p1), 24);
    int alnum = 1;
    for (int i = 0; i < 8; i++)
        alnum &= isalnum((unsigned char)u1[i]) != 0;
    for (int i = 0; i < 24; i++)
        alnum &= isalnum((unsigned char)p1[i]) != 0;
    CHECK(alnum);
    CHECK(strcmp(p1, p2) != 0);
    CHECK_INT(cg_ice_new(&ice, u1, p1, NULL, NULL, CONSENT, 0), 0);
    CHECK_STR(cg_ice_local_ufrag(ice), u1);
    CHECK_STR(cg_ice_local_pwd(ice), p1);
    cg_ice_free(ice);
}

int main(void)
{
    RUN(test_aioice_session);
    RUN(test_ffmpeg_shape);
    RUN(test_bad_credentials);
    RUN(test_role_conflict_and_unknown);
    RUN(test_consent);
    RUN(test_restart);
    RUN(test_address_bound);
    RUN(test_other_messages);
    RUN(test_new_and_credentials);
    return TEST_RESULT();
}
