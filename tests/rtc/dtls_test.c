/* rtc/dtls: handshakes between two in-memory cg_dtls objects, datagram by
 * datagram (negotiation, key export, fingerprint checks, garbage, loss and
 * retransmission, MTU), and against a peer we did not write: the openssl
 * command line (s_server and s_client over loopback UDP), whose printed
 * RFC 5705 keying material must equal the keys cg_dtls exports.
 *
 * Retransmission tests sleep for real: OpenSSL 3.0 runs its DTLS timer on
 * its own clock (see rtc/dtls.h), so "advancing to the deadline" means
 * waiting until it has passed. The initial timeout is set to 100 ms there.
 * Nothing asserts elapsed time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "rtc/cert.h"
#include "rtc/dtls.h"
#include "rtc/srtp.h"
#include "cg_test.h"

static cg_cert *cert_a, *cert_b;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until(uint64_t t)
{
    for (uint64_t n = mono_us(); n < t; n = mono_us()) {
        uint64_t d = t - n;
        struct timespec ts = {.tv_sec = (time_t)(d / 1000000u),
                              .tv_nsec = (long)(d % 1000000u) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* One direction of the in-memory wire. */
struct link {
    size_t datagrams, max_size, dropped;
    int rc; /* first non-zero cg_dtls_feed result */
    int drop_all;
};

static size_t move(cg_dtls *from, cg_dtls *to, struct link *l)
{
    uint8_t buf[16384];
    size_t n, moved = 0;
    while (cg_dtls_pull(from, buf, sizeof(buf), &n) == 0) {
        moved++;
        l->datagrams++;
        if (n > l->max_size)
            l->max_size = n;
        if (l->drop_all) {
            l->dropped++;
            continue;
        }
        int rc = cg_dtls_feed(to, buf, n, mono_us());
        if (rc && !l->rc)
            l->rc = rc;
    }
    return moved;
}

/* Shuttles datagrams until neither side has anything to send. */
static void run(cg_dtls *c, cg_dtls *s, struct link *cs, struct link *sc, int server_first)
{
    for (int round = 0; round < 64; round++) {
        size_t m = server_first ? move(s, c, sc) + move(c, s, cs) : move(c, s, cs) + move(s, c, sc);
        if (!m)
            break;
    }
}

static int new_pair(cg_dtls **c, cg_dtls **s, const cg_cert *cc, const cg_cert *sc)
{
    *c = *s = NULL;
    int rc = cg_dtls_new(c, cc, CG_DTLS_CLIENT, "sha-256", cg_cert_fingerprint(sc));
    if (!rc)
        rc = cg_dtls_new(s, sc, CG_DTLS_SERVER, "sha-256", cg_cert_fingerprint(cc));
    return rc;
}

/* The two key sets of one session mirror each other. */
static void check_mirror(const cg_srtp_keys *kc, const cg_srtp_keys *ks, int profile)
{
    size_t sl = profile == CG_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    CHECK_INT(kc->profile, profile);
    CHECK_INT(ks->profile, profile);
    CHECK_INT(kc->key_len, 16);
    CHECK_INT(kc->salt_len, sl);
    CHECK_INT(ks->salt_len, sl);
    CHECK_MEM(kc->local_key, ks->remote_key, 16);
    CHECK_MEM(kc->remote_key, ks->local_key, 16);
    CHECK_MEM(kc->local_salt, ks->remote_salt, sl);
    CHECK_MEM(kc->remote_salt, ks->local_salt, sl);
    CHECK(memcmp(kc->local_key, kc->remote_key, 16) != 0);
}

/* Media protected with one side's keys opens with the other's. */
static void check_srtp_between(const cg_srtp_keys *kc, const cg_srtp_keys *ks)
{
    cg_srtp *c = NULL, *s = NULL;
    CHECK_INT(cg_srtp_new(&c, kc), 0);
    CHECK_INT(cg_srtp_new(&s, ks), 0);
    if (c && s) {
        uint8_t p[64] = {0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78, 'h', 'i'};
        size_t n = 14;
        CHECK_INT(cg_srtp_protect(c, p, &n, sizeof(p)), 0);
        CHECK_INT(cg_srtp_unprotect(s, p, &n), 0);
        CHECK_INT(n, 14);
        CHECK(p[12] == 'h' && p[13] == 'i');
        n = 14;
        CHECK_INT(cg_srtp_protect(s, p, &n, sizeof(p)), 0);
        CHECK_INT(cg_srtp_unprotect(c, p, &n), 0);
        CHECK_INT(n, 14);
    }
    cg_srtp_free(c);
    cg_srtp_free(s);
}

static void handshake_case(const cg_cert *cc, const cg_cert *sc, int server_first)
{
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cc, sc), 0);
    if (!c || !s)
        goto out;
    struct link cs = {0}, sc_ = {0};
    /* The server waits for the ClientHello. */
    CHECK_INT(cg_dtls_start(s, mono_us()), 0);
    CHECK_INT(cg_dtls_deadline(s), UINT64_MAX);
    uint8_t tmp[8];
    size_t n;
    CHECK_INT(cg_dtls_pull(s, tmp, sizeof(tmp), &n), CG_EAGAIN);
    uint64_t t0 = mono_us();
    CHECK_INT(cg_dtls_start(c, t0), 0);
    CHECK(cg_dtls_deadline(c) > t0 && cg_dtls_deadline(c) <= t0 + 1000000u);
    run(c, s, &cs, &sc_, server_first);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    CHECK_INT(cs.rc, 0);
    CHECK_INT(sc_.rc, 0);
    CHECK_STR(cg_dtls_error(c), "");
    CHECK_STR(cg_dtls_error(s), "");
    CHECK(cs.max_size <= CG_DTLS_DEFAULT_MTU && sc_.max_size <= CG_DTLS_DEFAULT_MTU);
    CHECK(cs.datagrams >= 2 && sc_.datagrams >= 2);
    CHECK_INT(cg_dtls_deadline(c), UINT64_MAX);
    cg_srtp_keys kc, ks;
    CHECK_INT(cg_dtls_srtp_keys(c, &kc), 0);
    CHECK_INT(cg_dtls_srtp_keys(s, &ks), 0);
    /* Both offer GCM and AES-CM: the server picks GCM. */
    check_mirror(&kc, &ks, CG_SRTP_AEAD_AES_128_GCM);
    check_srtp_between(&kc, &ks);
    cg_dtls_stats st;
    cg_dtls_get_stats(s, &st);
    CHECK_INT(st.rx_malformed, 0);
    CHECK_INT(st.rx_datagrams, cs.datagrams);
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static void test_handshake_both_orders(void)
{
    handshake_case(cert_a, cert_b, 0);
    handshake_case(cert_a, cert_b, 1);
    handshake_case(cert_b, cert_a, 0);
    handshake_case(cert_b, cert_a, 1);
}

static void profile_case(const int *cp, size_t cn, const int *sp, size_t sn, int want)
{
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto out;
    if (cn)
        CHECK_INT(cg_dtls_set_srtp_profiles(c, cp, cn), 0);
    if (sn)
        CHECK_INT(cg_dtls_set_srtp_profiles(s, sp, sn), 0);
    struct link cs = {0}, sc = {0};
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    run(c, s, &cs, &sc, 0);
    cg_srtp_keys kc, ks;
    if (want) {
        CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
        CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
        CHECK_INT(cg_dtls_srtp_keys(c, &kc), 0);
        CHECK_INT(cg_dtls_srtp_keys(s, &ks), 0);
        check_mirror(&kc, &ks, want);
        check_srtp_between(&kc, &ks);
    } else {
        /* No common profile: no keys, the server fails the session. */
        CHECK(cg_dtls_state(s) == CG_DTLS_FAILED);
        CHECK(cg_dtls_state(c) != CG_DTLS_CONNECTED);
        CHECK_INT(sc.rc == 0 ? cs.rc : sc.rc, CG_EPROTO);
        CHECK(strstr(cg_dtls_error(s), "SRTP") != NULL);
        CHECK_INT(cg_dtls_srtp_keys(s, &ks), CG_ESTATE);
        CHECK_INT(cg_dtls_srtp_keys(c, &kc), CG_ESTATE);
    }
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static void test_profile_negotiation(void)
{
    static const int cm[] = {CG_SRTP_AES128_CM_SHA1_80};
    static const int gcm[] = {CG_SRTP_AEAD_AES_128_GCM};
    static const int cm_first[] = {CG_SRTP_AES128_CM_SHA1_80, CG_SRTP_AEAD_AES_128_GCM};
    /* A client that only offers AES-CM (aiortc does this) gets AES-CM. */
    profile_case(cm, 1, NULL, 0, CG_SRTP_AES128_CM_SHA1_80);
    /* The server's preference wins over the client's order. */
    profile_case(cm_first, 2, NULL, 0, CG_SRTP_AEAD_AES_128_GCM);
    profile_case(gcm, 1, NULL, 0, CG_SRTP_AEAD_AES_128_GCM);
    profile_case(NULL, 0, cm, 1, CG_SRTP_AES128_CM_SHA1_80);
    profile_case(gcm, 1, cm, 1, 0);
}

/* A fingerprint that differs from fp in its last hex digit. */
static void wrong_fp(const char *fp, char *out, size_t cap)
{
    snprintf(out, cap, "%s", fp);
    size_t l = strlen(out);
    out[l - 1] = out[l - 1] == '0' ? '1' : '0';
}

static void test_fingerprint_mismatch(void)
{
    char bad[CG_CERT_FP_MAX];
    /* The client checks the server's certificate. */
    cg_dtls *c = NULL, *s = NULL;
    wrong_fp(cg_cert_fingerprint(cert_b), bad, sizeof(bad));
    CHECK_INT(cg_dtls_new(&c, cert_a, CG_DTLS_CLIENT, "sha-256", bad), 0);
    CHECK_INT(cg_dtls_new(&s, cert_b, CG_DTLS_SERVER, "sha-256", cg_cert_fingerprint(cert_a)), 0);
    if (c && s) {
        struct link cs = {0}, sc = {0};
        CHECK_INT(cg_dtls_start(c, mono_us()), 0);
        run(c, s, &cs, &sc, 0);
        CHECK_INT(sc.rc, CG_EAUTH);
        CHECK_INT(cg_dtls_state(c), CG_DTLS_FAILED);
        CHECK(strstr(cg_dtls_error(c), "fingerprint") != NULL);
        /* The client's bad_certificate alert fails the server too. */
        CHECK_INT(cs.rc, CG_EPROTO);
        CHECK_INT(cg_dtls_state(s), CG_DTLS_FAILED);
        CHECK(strlen(cg_dtls_error(s)) > 0);
        cg_srtp_keys k;
        CHECK_INT(cg_dtls_srtp_keys(c, &k), CG_ESTATE);
        uint8_t d[4] = {22, 0xfe, 0xfd, 0};
        CHECK_INT(cg_dtls_feed(c, d, sizeof(d), mono_us()), CG_ESTATE);
        CHECK_INT(cg_dtls_deadline(c), UINT64_MAX);
    }
    cg_dtls_free(c);
    cg_dtls_free(s);

    /* The server checks the client's certificate. */
    c = s = NULL;
    wrong_fp(cg_cert_fingerprint(cert_a), bad, sizeof(bad));
    CHECK_INT(cg_dtls_new(&c, cert_a, CG_DTLS_CLIENT, "sha-256", cg_cert_fingerprint(cert_b)), 0);
    CHECK_INT(cg_dtls_new(&s, cert_b, CG_DTLS_SERVER, "sha-256", bad), 0);
    if (c && s) {
        struct link cs = {0}, sc = {0};
        CHECK_INT(cg_dtls_start(c, mono_us()), 0);
        run(c, s, &cs, &sc, 0);
        CHECK_INT(cs.rc, CG_EAUTH);
        CHECK_INT(cg_dtls_state(s), CG_DTLS_FAILED);
        CHECK(strstr(cg_dtls_error(s), "fingerprint") != NULL);
        CHECK(cg_dtls_state(c) != CG_DTLS_CONNECTED);
    }
    cg_dtls_free(c);
    cg_dtls_free(s);

    /* Case does not matter, blanks around it neither; SHA-1 works too. */
    char lower[CG_CERT_FP_MAX + 4], sha1[CG_CERT_FP_MAX];
    snprintf(lower, sizeof(lower), " %s ", cg_cert_fingerprint(cert_b));
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(cert_a), "sha-1", sha1, sizeof(sha1)), 0);
    c = s = NULL;
    CHECK_INT(cg_dtls_new(&c, cert_a, CG_DTLS_CLIENT, "SHA-256", lower), 0);
    CHECK_INT(cg_dtls_new(&s, cert_b, CG_DTLS_SERVER, "sha-1", sha1), 0);
    if (c && s) {
        struct link cs = {0}, sc = {0};
        CHECK_INT(cg_dtls_start(c, mono_us()), 0);
        run(c, s, &cs, &sc, 0);
        CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
        CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    }
    cg_dtls_free(c);
    cg_dtls_free(s);
}

/* DTLS record header: type, version 1.2, epoch, 48-bit sequence, length. */
static size_t record(uint8_t *p, uint8_t type, uint16_t epoch, const uint8_t *body, size_t n,
                     uint16_t claimed_len)
{
    p[0] = type;
    p[1] = 0xfe;
    p[2] = 0xfd;
    p[3] = (uint8_t)(epoch >> 8);
    p[4] = (uint8_t)epoch;
    memset(p + 5, 0, 5);
    p[10] = 0x40;
    p[11] = (uint8_t)(claimed_len >> 8);
    p[12] = (uint8_t)claimed_len;
    memcpy(p + 13, body, n);
    return 13 + n;
}

/* Feeds datagrams no peer would send; returns how many the driver flagged
 * as malformed (it should flag all but the last, well-formed one). */
static int feed_garbage(cg_dtls *d)
{
    uint8_t g[256], body[64];
    size_t n;
    int bad = 0;
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 37 + 11);
    /* Not DTLS at all (an RTP-looking first byte), then nothing at all. */
    memset(g, 0x80, 100);
    bad += cg_dtls_feed(d, g, 100, mono_us()) == 0;
    bad += cg_dtls_feed(d, g, 0, mono_us()) == 0;
    /* A record claiming more bytes than the datagram has. */
    n = record(g, 22, 0, body, 20, 500);
    bad += cg_dtls_feed(d, g, n, mono_us()) == 0;
    /* A handshake fragment whose fragment lies beyond its message. */
    uint8_t hs[24] = {2, 0, 0, 4, 0, 1, 0, 0, 8, 0, 0, 12};
    n = record(g, 22, 0, hs, sizeof(hs), sizeof(hs));
    bad += cg_dtls_feed(d, g, n, mono_us()) == 0;
    /* Application data in epoch 0; an alert of the wrong size. */
    n = record(g, 23, 0, body, 40, 40);
    bad += cg_dtls_feed(d, g, n, mono_us()) == 0;
    n = record(g, 21, 0, body, 3, 3);
    bad += cg_dtls_feed(d, g, n, mono_us()) == 0;
    /* Well-formed but forged: an epoch 1 record OpenSSL cannot decrypt. */
    n = record(g, 23, 1, body, 48, 48);
    bad += cg_dtls_feed(d, g, n, mono_us()) == 0;
    return bad;
}

static void test_garbage_mid_handshake(void)
{
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto out;
    struct link cs = {0}, sc = {0};
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    CHECK_INT(move(c, s, &cs), 1); /* the ClientHello */
    CHECK_INT(feed_garbage(s), 7);
    CHECK_INT(feed_garbage(c), 7);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_HANDSHAKING);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_HANDSHAKING);
    cg_dtls_stats st;
    cg_dtls_get_stats(s, &st);
    CHECK_INT(st.rx_datagrams, 8);
    CHECK_INT(st.rx_malformed, 6);
    run(c, s, &cs, &sc, 0);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    /* Once connected, the same garbage is ignored as well. */
    CHECK_INT(feed_garbage(s), 7);
    CHECK_INT(feed_garbage(c), 7);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    cg_dtls_get_stats(c, &st);
    CHECK_INT(st.rx_malformed, 12);
    cg_srtp_keys kc, ks;
    CHECK_INT(cg_dtls_srtp_keys(c, &kc), 0);
    CHECK_INT(cg_dtls_srtp_keys(s, &ks), 0);
    check_mirror(&kc, &ks, CG_SRTP_AEAD_AES_128_GCM);
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static size_t drain(cg_dtls *d)
{
    uint8_t buf[2048];
    size_t n, k = 0;
    while (cg_dtls_pull(d, buf, sizeof(buf), &n) == 0)
        k++;
    return k;
}

/* A timer fired before OpenSSL's own clock agrees sends nothing and leaves
 * a deadline in the future. */
static void test_early_timeout(void)
{
    cg_dtls *d = NULL;
    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "sha-256", cg_cert_fingerprint(cert_b)), 0);
    if (!d)
        return;
    uint64_t t0 = mono_us();
    CHECK_INT(cg_dtls_set_initial_timeout(d, 60000000u), 0);
    CHECK_INT(cg_dtls_start(d, t0), 0);
    CHECK(cg_dtls_deadline(d) > t0 + 50000000u && cg_dtls_deadline(d) <= t0 + 60000000u);
    CHECK_INT(drain(d), 1);
    CHECK_INT(cg_dtls_on_timeout(d, t0 + 1000), 0);
    CHECK_INT(drain(d), 0);
    CHECK(cg_dtls_deadline(d) > t0 + 50000000u);
    cg_dtls_stats st;
    cg_dtls_get_stats(d, &st);
    CHECK_INT(st.retransmits, 0);
    cg_dtls_free(d);
}

static void test_retransmission(void)
{
    enum { INITIAL = 100000 };
    /* 1. The ClientHello is lost. */
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto next;
    CHECK_INT(cg_dtls_set_initial_timeout(c, INITIAL), 0);
    CHECK_INT(cg_dtls_set_initial_timeout(s, INITIAL), 0);
    uint64_t t0 = mono_us();
    CHECK_INT(cg_dtls_start(c, t0), 0);
    uint64_t dl = cg_dtls_deadline(c);
    CHECK(dl > t0 && dl <= t0 + INITIAL);
    CHECK_INT(drain(c), 1);
    sleep_until(dl);
    CHECK_INT(cg_dtls_on_timeout(c, dl), 0);
    cg_dtls_stats st;
    cg_dtls_get_stats(c, &st);
    CHECK_INT(st.retransmits, 1);
    /* The timer doubled: the next deadline is ~200 ms away. */
    CHECK(cg_dtls_deadline(c) > dl + INITIAL);
    struct link cs = {0}, sc = {0};
    run(c, s, &cs, &sc, 0);
    CHECK_INT(cs.datagrams >= 1, 1);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
next:
    cg_dtls_free(c);
    cg_dtls_free(s);

    /* 2. The server's first flight is lost: the server resends it. The
     * client would only retransmit after a minute, so the repair must come
     * from the server's timer. */
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto next2;
    CHECK_INT(cg_dtls_set_initial_timeout(c, 60000000u), 0);
    CHECK_INT(cg_dtls_set_initial_timeout(s, INITIAL), 0);
    memset(&cs, 0, sizeof(cs));
    memset(&sc, 0, sizeof(sc));
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    CHECK_INT(move(c, s, &cs), 1);
    CHECK(drain(s) >= 1);
    dl = cg_dtls_deadline(s);
    CHECK(dl != UINT64_MAX);
    sleep_until(dl);
    CHECK_INT(cg_dtls_on_timeout(s, dl), 0);
    cg_dtls_get_stats(s, &st);
    CHECK_INT(st.retransmits, 1);
    run(c, s, &cs, &sc, 1);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
next2:
    cg_dtls_free(c);
    cg_dtls_free(s);

    /* 3. The server's last flight (ChangeCipherSpec, Finished) is lost: the
     * client resends its flight and the connected server answers it. */
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto out;
    CHECK_INT(cg_dtls_set_initial_timeout(c, INITIAL), 0);
    memset(&cs, 0, sizeof(cs));
    memset(&sc, 0, sizeof(sc));
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    move(c, s, &cs); /* ClientHello */
    move(s, c, &sc); /* ServerHello .. ServerHelloDone */
    move(c, s, &cs); /* Certificate .. Finished */
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    CHECK(drain(s) >= 1); /* lost */
    CHECK_INT(cg_dtls_state(c), CG_DTLS_HANDSHAKING);
    dl = cg_dtls_deadline(c);
    CHECK(dl != UINT64_MAX);
    sleep_until(dl);
    CHECK_INT(cg_dtls_on_timeout(c, dl), 0);
    run(c, s, &cs, &sc, 0);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    cg_srtp_keys kc, ks;
    CHECK_INT(cg_dtls_srtp_keys(c, &kc), 0);
    CHECK_INT(cg_dtls_srtp_keys(s, &ks), 0);
    check_mirror(&kc, &ks, CG_SRTP_AEAD_AES_128_GCM);
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static void test_small_mtu(void)
{
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto out;
    CHECK_INT(cg_dtls_set_mtu(c, 100), CG_EINVAL);
    CHECK_INT(cg_dtls_set_mtu(c, 300), 0);
    CHECK_INT(cg_dtls_set_mtu(s, 300), 0);
    struct link cs = {0}, sc = {0};
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    CHECK_INT(cg_dtls_set_mtu(c, 1200), CG_ESTATE);
    run(c, s, &cs, &sc, 0);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    CHECK(cs.max_size <= 300);
    CHECK(sc.max_size <= 300);
    /* The certificates alone (~400 bytes each) need fragments. */
    CHECK(sc.datagrams >= 4);
    fprintf(stderr, "  mtu 300: client sent %zu datagrams (max %zu), server %zu (max %zu)\n",
            cs.datagrams, cs.max_size, sc.datagrams, sc.max_size);
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static void test_close(void)
{
    cg_dtls *c, *s;
    CHECK_INT(new_pair(&c, &s, cert_a, cert_b), 0);
    if (!c || !s)
        goto out;
    struct link cs = {0}, sc = {0};
    CHECK_INT(cg_dtls_start(c, mono_us()), 0);
    run(c, s, &cs, &sc, 0);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CONNECTED);
    CHECK_INT(cg_dtls_close(c), 0);
    CHECK_INT(cg_dtls_state(c), CG_DTLS_CLOSED);
    CHECK_INT(cg_dtls_close(c), CG_ESTATE);
    CHECK_INT(move(c, s, &cs), 1); /* close_notify */
    CHECK_INT(cs.rc, 0);
    CHECK_INT(cg_dtls_state(s), CG_DTLS_CLOSED);
    /* Keys stay readable for media still in flight. */
    cg_srtp_keys k;
    CHECK_INT(cg_dtls_srtp_keys(s, &k), 0);
    uint8_t d[16] = {23, 0xfe, 0xfd};
    CHECK_INT(cg_dtls_feed(s, d, sizeof(d), mono_us()), CG_ESTATE);
out:
    cg_dtls_free(c);
    cg_dtls_free(s);
}

static void test_api_errors(void)
{
    cg_dtls *d = NULL;
    const char *fp = cg_cert_fingerprint(cert_b);
    CHECK_INT(cg_dtls_new(NULL, cert_a, CG_DTLS_CLIENT, "sha-256", fp), CG_EINVAL);
    CHECK_INT(cg_dtls_new(&d, NULL, CG_DTLS_CLIENT, "sha-256", fp), CG_EINVAL);
    CHECK_INT(cg_dtls_new(&d, cert_a, 2, "sha-256", fp), CG_EINVAL);
    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "md5", fp), CG_EUNSUPP);
    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "sha-256", ""), CG_EINVAL);
    char longfp[300];
    memset(longfp, 'A', sizeof(longfp) - 1);
    longfp[sizeof(longfp) - 1] = '\0';
    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "sha-256", longfp), CG_EINVAL);
    CHECK(d == NULL);
    cg_dtls_free(NULL);

    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "sha-256", fp), 0);
    if (!d)
        return;
    uint8_t buf[2048];
    size_t n = 0;
    CHECK_INT(cg_dtls_feed(d, buf, 0, 0), CG_ESTATE); /* client not started */
    static const int bogus[] = {2};
    CHECK_INT(cg_dtls_set_srtp_profiles(d, bogus, 1), CG_EINVAL);
    CHECK_INT(cg_dtls_set_initial_timeout(d, 1000), CG_EINVAL);
    cg_srtp_keys k;
    CHECK_INT(cg_dtls_srtp_keys(d, &k), CG_ESTATE);
    CHECK_INT(cg_dtls_start(d, 5), 0);
    CHECK_INT(cg_dtls_start(d, 6), CG_ESTATE);
    static const int cm[] = {CG_SRTP_AES128_CM_SHA1_80};
    CHECK_INT(cg_dtls_set_srtp_profiles(d, cm, 1), CG_ESTATE);
    /* Too small a buffer leaves the ClientHello queued. */
    CHECK_INT(cg_dtls_pull(d, buf, 10, &n), CG_ENOSPC);
    CHECK_INT(cg_dtls_pull(d, buf, sizeof(buf), &n), 0);
    CHECK(n > 100 && n <= CG_DTLS_DEFAULT_MTU);
    CHECK_INT(buf[0], 22); /* handshake record */
    CHECK_INT(buf[13], 1); /* ClientHello */
    CHECK_INT(cg_dtls_pull(d, buf, sizeof(buf), &n), CG_EAGAIN);
    CHECK_INT(cg_dtls_state(d), CG_DTLS_HANDSHAKING);
    CHECK_STR(cg_dtls_error(d), "");
    /* Closing mid-handshake sends nothing. */
    CHECK_INT(cg_dtls_close(d), 0);
    CHECK_INT(cg_dtls_pull(d, buf, sizeof(buf), &n), CG_EAGAIN);
    cg_dtls_free(d);
}

/* Prints what a handshake costs (CPU of both ends together); no assertion
 * on the figures. */
static void test_handshake_cost(void)
{
    enum { N = 10 };
    uint64_t t0 = mono_us();
    int ok = 0;
    for (int i = 0; i < N; i++) {
        cg_dtls *c, *s;
        if (new_pair(&c, &s, cert_a, cert_b) == 0) {
            struct link cs = {0}, sc = {0};
            cg_dtls_start(c, mono_us());
            run(c, s, &cs, &sc, 0);
            ok += cg_dtls_state(c) == CG_DTLS_CONNECTED && cg_dtls_state(s) == CG_DTLS_CONNECTED;
        }
        cg_dtls_free(c);
        cg_dtls_free(s);
    }
    uint64_t t1 = mono_us();
    cg_cert *tmp = NULL;
    CHECK_INT(cg_cert_new(&tmp), 0);
    uint64_t t2 = mono_us();
    cg_cert_free(tmp);
    CHECK_INT(ok, N);
    fprintf(stderr, "  in-memory handshake, both ends: %llu us each; cg_cert_new: %llu us\n",
            (unsigned long long)((t1 - t0) / N), (unsigned long long)(t2 - t1));
}

/* ---- interop with the openssl command line over loopback UDP ---- */

struct proc {
    pid_t pid;
    int in_fd, out_fd;
    char out[65536];
    size_t out_len;
};

static int spawn(struct proc *p, char *const argv[])
{
    int in[2], out[2];
    memset(p, 0, sizeof(*p));
    p->pid = -1;
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->pid = pid;
    p->in_fd = in[1];
    p->out_fd = out[0];
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    return pid > 0 ? 0 : -1;
}

/* Reads what is available; returns 0 at end of output. */
static int proc_read(struct proc *p, int timeout_ms)
{
    struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
    if (poll(&pf, 1, timeout_ms) <= 0)
        return 1;
    ssize_t r = read(p->out_fd, p->out + p->out_len, sizeof(p->out) - 1 - p->out_len);
    if (r > 0) {
        p->out_len += (size_t)r;
        p->out[p->out_len] = '\0';
        return 1;
    }
    return r == 0 ? 0 : 1;
}

static int proc_wait_for(struct proc *p, const char *needle, int timeout_ms)
{
    uint64_t end = mono_us() + (uint64_t)timeout_ms * 1000u;
    while (!strstr(p->out, needle) && mono_us() < end)
        if (!proc_read(p, 50))
            break;
    return strstr(p->out, needle) != NULL;
}

/* Closes its stdin (s_server/s_client then say DONE and exit), collects
 * the rest of its output, and makes sure it is gone. */
static void proc_end(struct proc *p)
{
    if (p->pid <= 0)
        return;
    close(p->in_fd);
    uint64_t end = mono_us() + 3000000u;
    while (mono_us() < end && proc_read(p, 50))
        ;
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, &st, 0);
    }
    close(p->out_fd);
    p->pid = -1;
}

/* "Keying material: HEX" as s_server / s_client print it (RFC 5705). */
static size_t parse_keymat(const char *out, uint8_t *km, size_t cap)
{
    const char *k = strstr(out, "Keying material: ");
    if (!k)
        return 0;
    k += strlen("Keying material: ");
    size_t n = 0;
    while (n < cap) {
        unsigned v;
        if (sscanf(k + 2 * n, "%2x", &v) != 1 || k[2 * n] == '\n' || k[2 * n] == '\r')
            break;
        km[n++] = (uint8_t)v;
    }
    return n;
}

/* Our exported keys laid out as RFC 5764 4.2's keying material. */
static size_t keymat_of(const cg_srtp_keys *k, int we_are_client, uint8_t *km)
{
    const uint8_t *ck = we_are_client ? k->local_key : k->remote_key;
    const uint8_t *sk = we_are_client ? k->remote_key : k->local_key;
    const uint8_t *cs = we_are_client ? k->local_salt : k->remote_salt;
    const uint8_t *ss = we_are_client ? k->remote_salt : k->local_salt;
    const uint8_t *parts[4] = {ck, sk, cs, ss};
    size_t lens[4] = {k->key_len, k->key_len, k->salt_len, k->salt_len};
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(km + o, parts[i], lens[i]);
        o += lens[i];
    }
    return o;
}

static int write_pems(const cg_cert *c, char *cert_path, char *key_path)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(cert_path, 256, "%s/cg_dtls_cert_XXXXXX", dir);
    snprintf(key_path, 256, "%s/cg_dtls_key_XXXXXX", dir);
    int cf = mkstemp(cert_path), kf = mkstemp(key_path);
    FILE *f1 = cf >= 0 ? fdopen(cf, "w") : NULL;
    FILE *f2 = kf >= 0 ? fdopen(kf, "w") : NULL;
    int ok = f1 && f2 && PEM_write_X509(f1, (X509 *)cg_cert_x509(c)) == 1 &&
             PEM_write_PrivateKey(f2, (EVP_PKEY *)cg_cert_pkey(c), NULL, NULL, 0, NULL, NULL) == 1;
    if (f1)
        fclose(f1);
    if (f2)
        fclose(f2);
    return ok;
}

static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* The media loop in miniature: send what the driver produced, wait for a
 * datagram or the deadline, feed or fire the timer. The peer address is
 * learned from the first datagram when not known. */
static int udp_handshake(cg_dtls *d, int fd, struct sockaddr_in *peer, int have_peer)
{
    uint64_t end = mono_us() + 15000000u;
    int rc = 0;
    while (cg_dtls_state(d) == CG_DTLS_HANDSHAKING && mono_us() < end) {
        uint8_t buf[2048];
        size_t n;
        while (cg_dtls_pull(d, buf, sizeof(buf), &n) == 0)
            if (have_peer)
                sendto(fd, buf, n, 0, (struct sockaddr *)peer, sizeof(*peer));
        uint64_t now = mono_us(), dl = cg_dtls_deadline(d);
        int wait = 50;
        if (dl != UINT64_MAX)
            wait = dl <= now ? 0 : (int)((dl - now) / 1000u) + 1;
        if (wait > 50)
            wait = 50;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, wait) > 0) {
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (r > 0) {
                if (!have_peer) {
                    *peer = from;
                    have_peer = 1;
                }
                rc = cg_dtls_feed(d, buf, (size_t)r, mono_us());
            }
        }
        if (mono_us() >= cg_dtls_deadline(d))
            cg_dtls_on_timeout(d, mono_us());
    }
    uint8_t buf[2048];
    size_t n;
    while (cg_dtls_pull(d, buf, sizeof(buf), &n) == 0)
        if (have_peer)
            sendto(fd, buf, n, 0, (struct sockaddr *)peer, sizeof(*peer));
    return rc;
}

/* cg_dtls as client, `openssl s_server -dtls1_2` as server; s_server also
 * demands our certificate (-Verify 1) and runs its cookie exchange
 * (HelloVerifyRequest), which the client must go through. */
static void test_interop_openssl_s_server(void)
{
    int before = cg_test_failures;
    char cert_path[256], key_path[256], accept[64];
    CHECK(write_pems(cert_b, cert_path, key_path));
    uint16_t port = 0;
    int probe = udp_socket(&port);
    CHECK(probe >= 0);
    if (probe < 0)
        goto out_files;
    close(probe); /* s_server binds it next; a race here only fails the test */
    snprintf(accept, sizeof(accept), "127.0.0.1:%u", port);
    char *argv[] = {"openssl",
                    "s_server",
                    "-dtls1_2",
                    "-accept",
                    accept,
                    "-cert",
                    cert_path,
                    "-key",
                    key_path,
                    "-use_srtp",
                    "SRTP_AEAD_AES_128_GCM",
                    "-keymatexport",
                    "EXTRACTOR-dtls_srtp",
                    "-keymatexportlen",
                    "56",
                    "-Verify",
                    "1",
                    "-naccept",
                    "1",
                    NULL};
    struct proc p;
    CHECK_INT(spawn(&p, argv), 0);
    CHECK(proc_wait_for(&p, "ACCEPT", 10000));

    cg_dtls *d = NULL;
    CHECK_INT(cg_dtls_new(&d, cert_a, CG_DTLS_CLIENT, "sha-256", cg_cert_fingerprint(cert_b)), 0);
    uint16_t my_port;
    int fd = udp_socket(&my_port);
    CHECK(fd >= 0);
    if (d && fd >= 0) {
        struct sockaddr_in peer = {.sin_family = AF_INET,
                                   .sin_port = htons(port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_INT(cg_dtls_start(d, mono_us()), 0);
        CHECK_INT(udp_handshake(d, fd, &peer, 1), 0);
        CHECK_INT(cg_dtls_state(d), CG_DTLS_CONNECTED);
        cg_srtp_keys k;
        CHECK_INT(cg_dtls_srtp_keys(d, &k), 0);
        CHECK_INT(k.profile, CG_SRTP_AEAD_AES_128_GCM);
        CHECK_INT(cg_dtls_close(d), 0);
        udp_handshake(d, fd, &peer, 1); /* flushes the close_notify */
        proc_end(&p);
        uint8_t theirs[64], ours[64];
        size_t tn = parse_keymat(p.out, theirs, sizeof(theirs));
        size_t on = keymat_of(&k, 1, ours);
        CHECK_INT(tn, 56);
        CHECK_INT(on, 56);
        CHECK_MEM(theirs, ours, 56);
        CHECK(strstr(p.out, "SRTP Extension negotiated, profile=SRTP_AEAD_AES_128_GCM") != NULL);
        /* s_server saw and printed our certificate. */
        CHECK(strstr(p.out, "CN = clipgate") != NULL);
        if (cg_test_failures != before)
            fprintf(stderr, "s_server output:\n%s\n", p.out);
    }
    proc_end(&p);
    if (fd >= 0)
        close(fd);
    cg_dtls_free(d);
out_files:
    unlink(cert_path);
    unlink(key_path);
}

/* cg_dtls as server, `openssl s_client -dtls1_2` offering only AES-CM (as
 * aiortc does), with a client certificate as WebRTC requires. */
static void test_interop_openssl_s_client(void)
{
    int before = cg_test_failures;
    char cert_path[256], key_path[256], connect[64];
    CHECK(write_pems(cert_a, cert_path, key_path));
    uint16_t port = 0;
    int fd = udp_socket(&port);
    CHECK(fd >= 0);
    cg_dtls *d = NULL;
    CHECK_INT(cg_dtls_new(&d, cert_b, CG_DTLS_SERVER, "sha-256", cg_cert_fingerprint(cert_a)), 0);
    if (fd < 0 || !d)
        goto out;
    snprintf(connect, sizeof(connect), "127.0.0.1:%u", port);
    char *argv[] = {"openssl",
                    "s_client",
                    "-dtls1_2",
                    "-connect",
                    connect,
                    "-cert",
                    cert_path,
                    "-key",
                    key_path,
                    "-use_srtp",
                    "SRTP_AES128_CM_SHA1_80",
                    "-keymatexport",
                    "EXTRACTOR-dtls_srtp",
                    "-keymatexportlen",
                    "60",
                    NULL};
    struct proc p;
    CHECK_INT(spawn(&p, argv), 0);
    struct sockaddr_in peer;
    memset(&peer, 0, sizeof(peer));
    CHECK_INT(udp_handshake(d, fd, &peer, 0), 0);
    CHECK_INT(cg_dtls_state(d), CG_DTLS_CONNECTED);
    cg_srtp_keys k;
    memset(&k, 0, sizeof(k));
    CHECK_INT(cg_dtls_srtp_keys(d, &k), 0);
    CHECK_INT(k.profile, CG_SRTP_AES128_CM_SHA1_80);
    proc_end(&p);
    uint8_t theirs[64], ours[64];
    size_t tn = parse_keymat(p.out, theirs, sizeof(theirs));
    size_t on = keymat_of(&k, 0, ours);
    CHECK_INT(tn, 60);
    CHECK_INT(on, 60);
    CHECK_MEM(theirs, ours, 60);
    CHECK(strstr(p.out, "SRTP Extension negotiated, profile=SRTP_AES128_CM_SHA1_80") != NULL);
    if (cg_test_failures != before)
        fprintf(stderr, "s_client output:\n%s\n", p.out);
out:
    if (fd >= 0)
        close(fd);
    cg_dtls_free(d);
    unlink(cert_path);
    unlink(key_path);
}

int main(void)
{
    /* s_server/s_client may exit while we still write to their stdin. */
    signal(SIGPIPE, SIG_IGN);
    if (cg_cert_new(&cert_a) != 0 || cg_cert_new(&cert_b) != 0) {
        fprintf(stderr, "cg_cert_new failed\n");
        return 1;
    }
    RUN(test_handshake_both_orders);
    RUN(test_profile_negotiation);
    RUN(test_fingerprint_mismatch);
    RUN(test_garbage_mid_handshake);
    RUN(test_early_timeout);
    RUN(test_retransmission);
    RUN(test_small_mtu);
    RUN(test_close);
    RUN(test_api_errors);
    RUN(test_handshake_cost);
    RUN(test_interop_openssl_s_server);
    RUN(test_interop_openssl_s_client);
    cg_cert_free(cert_a);
    cg_cert_free(cert_b);
    return TEST_RESULT();
}
