/* DTLS driver: one SSL object per session between a read BIO (memory; the
 * datagram being fed) and a write BIO of our own that keeps OpenSSL's
 * datagram boundaries.
 *
 * Why a custom write BIO: during a handshake OpenSSL stacks a buffering BIO
 * on the write side and flushes it whenever the next record would overflow
 * the MTU, so each write that reaches the bottom BIO is exactly one
 * datagram. A memory BIO would glue those writes together; this one queues
 * each write as its own datagram, bounded by CG_DTLS_MAX_QUEUED.
 *
 * Every datagram fed is first walked with the bounds-checked reader: only
 * the prefix made of well-formed DTLS 1.2 records reaches OpenSSL. OpenSSL
 * silently drops records it cannot authenticate, but some plaintext
 * garbage (a bad handshake fragment header, application data in epoch 0)
 * makes it abort the handshake, and a stray datagram on a shared UDP port
 * must not do that. */
#include "dtls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/buf.h"
#include "core/err.h"

#define MAX_RECORD_LEN (16384 + 2048) /* RFC 6347 4.1: plaintext plus expansion */
#define MAX_RX_PENDING 65536          /* bytes left unread in the read BIO before reset */
#define MAX_TIMEOUT_US 60000000u

struct dgram {
    uint8_t *p;
    size_t len;
};

struct cg_dtls {
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    int role;
    int state;
    int started;
    int fp_mismatch;
    size_t mtu;
    uint32_t initial_timeout_us;
    uint64_t now;
    uint64_t deadline;
    char fp_alg[16];
    char remote_fp[CG_CERT_FP_MAX];
    cg_srtp_keys keys;
    cg_dtls_stats stats;
    struct dgram q[CG_DTLS_MAX_QUEUED];
    size_t q_head, q_count;
    char err[320];
};

/* DTLS-SRTP profiles we know: IANA id, OpenSSL name, master key and salt
 * lengths (RFC 5764 4.1.2, RFC 7714 14.2). */
static const struct srtp_prof {
    int id;
    const char *name;
    size_t key_len, salt_len;
} profs[] = {
    {.id = CG_SRTP_AEAD_AES_128_GCM,
     .name = "SRTP_AEAD_AES_128_GCM",
     .key_len = 16,
     .salt_len = 12},
    {.id = CG_SRTP_AES128_CM_SHA1_80,
     .name = "SRTP_AES128_CM_SHA1_80",
     .key_len = 16,
     .salt_len = 14},
};

static const struct srtp_prof *prof_by_id(long id)
{
    for (size_t i = 0; i < sizeof(profs) / sizeof(profs[0]); i++)
        if (profs[i].id == id)
            return &profs[i];
    return NULL;
}

/* ---- write BIO: a bounded queue of datagrams ---- */

static void q_push(cg_dtls *d, const void *p, size_t len)
{
    d->stats.tx_datagrams++;
    if (d->q_count == CG_DTLS_MAX_QUEUED) {
        d->stats.tx_dropped++;
        return;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        d->stats.tx_dropped++;
        return;
    }
    memcpy(copy, p, len);
    struct dgram *slot = &d->q[(d->q_head + d->q_count) % CG_DTLS_MAX_QUEUED];
    slot->p = copy;
    slot->len = len;
    d->q_count++;
}

static int dgram_write(BIO *b, const char *data, int len)
{
    cg_dtls *d = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!d || len <= 0)
        return 0;
    /* Like a UDP socket: the datagram is accepted even if it is dropped
     * (queue full); retransmission repairs it. */
    q_push(d, data, (size_t)len);
    return len;
}

static long dgram_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing buffered here */
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
        return 0;
    default:
        /* MTU queries, peer addresses, timeouts: none apply without a
         * socket; 0 means "not supported" to OpenSSL. */
        return 0;
    }
}

static int dgram_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *dgram_method;
static pthread_once_t dgram_once = PTHREAD_ONCE_INIT;

/* The method table lives for the whole process (OpenSSL keeps pointers to
 * it in every BIO made from it). */
static void dgram_method_init(void)
{
    int idx = BIO_get_new_index();
    if (idx == -1)
        return;
    BIO_METHOD *m = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "cg_dtls datagram queue");
    if (!m)
        return;
    if (BIO_meth_set_write(m, dgram_write) != 1 || BIO_meth_set_ctrl(m, dgram_ctrl) != 1 ||
        BIO_meth_set_create(m, dgram_create) != 1) {
        BIO_meth_free(m);
        return;
    }
    dgram_method = m;
}

/* ---- input screening ---- */

/* Known DTLS 1.2 handshake message types (RFC 5246 7.4, RFC 6347 4.3.2):
 * hello_request .. new_session_ticket (0-4), certificate ..
 * client_key_exchange (11-16), finished (20). */
static int known_hs_type(uint8_t t)
{
    static const uint32_t known = 0x1fu | (0x3fu << 11) | (1u << 20);
    return t < 32 && ((known >> t) & 1u);
}

/* A plaintext (epoch 0) handshake record: a run of fragments, each with a
 * 12-byte header whose fragment lies inside its message. */
static int hs_fragments_ok(cg_rd *body)
{
    while (cg_rd_left(body) > 0) {
        uint8_t type;
        uint32_t msg_len, frag_off, frag_len;
        uint16_t seq;
        if (cg_rd_u8(body, &type) || cg_rd_u24(body, &msg_len) || cg_rd_u16(body, &seq) ||
            cg_rd_u24(body, &frag_off) || cg_rd_u24(body, &frag_len))
            return 0;
        if (!known_hs_type(type) || frag_off > msg_len || frag_len > msg_len - frag_off)
            return 0;
        if (cg_rd_skip(body, frag_len))
            return 0;
    }
    return 1;
}

/* Length of the longest prefix of p made of whole, plausible DTLS records.
 * Only plaintext (epoch 0) contents are checked: encrypted records are
 * authenticated by OpenSSL, which drops forgeries silently. */
static size_t wellformed_prefix(const uint8_t *p, size_t n)
{
    cg_rd r;
    cg_rd_init(&r, p, n);
    size_t good = 0;
    while (cg_rd_left(&r) > 0) {
        uint8_t type;
        uint16_t version, epoch, len;
        cg_rd body;
        if (cg_rd_u8(&r, &type) || cg_rd_u16(&r, &version) || cg_rd_u16(&r, &epoch) ||
            cg_rd_skip(&r, 6) || cg_rd_u16(&r, &len) || cg_rd_sub(&r, &body, len))
            break;
        /* 0xfeff (DTLS 1.0) is allowed in ClientHello records (RFC 6347 4.1). */
        if (type < 20 || type > 23 || (version != 0xfefd && version != 0xfeff) || len == 0 ||
            len > MAX_RECORD_LEN)
            break;
        if (epoch == 0) {
            const uint8_t *b = cg_rd_cur(&body);
            if (type == 23) /* application data is never plaintext */
                break;
            if (type == 20 && (len != 1 || b[0] != 1))
                break;
            if (type == 21 && (len != 2 || (b[0] != 1 && b[0] != 2)))
                break;
            if (type == 22 && !hs_fragments_ok(&body))
                break;
        }
        good = r.pos;
    }
    return good;
}

/* ---- OpenSSL callbacks ---- */

static int fp_matches(const cg_dtls *d, const X509 *cert)
{
    char fp[CG_CERT_FP_MAX];
    if (!cert || cg_cert_fingerprint_x509(cert, d->fp_alg, fp, sizeof(fp)) != 0)
        return 0;
    return strcasecmp(fp, d->remote_fp) == 0;
}

/* Chains and names mean nothing here (certificates are self-signed); the
 * leaf's hash against the SDP fingerprint is the whole check. Failing
 * here makes OpenSSL send bad_certificate before any key is derived. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *xs)
{
    (void)preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    cg_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!d)
        return 0;
    if (X509_STORE_CTX_get_error_depth(xs) != 0)
        return 1;
    if (!fp_matches(d, X509_STORE_CTX_get_current_cert(xs))) {
        d->fp_mismatch = 1;
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

static unsigned int timer_cb(SSL *ssl, unsigned int prev_us)
{
    const cg_dtls *d = SSL_get_app_data(ssl);
    if (prev_us == 0)
        return d ? d->initial_timeout_us : 1000000u;
    return prev_us >= MAX_TIMEOUT_US / 2 ? MAX_TIMEOUT_US : prev_us * 2;
}

/* ---- state changes ---- */

static void update_deadline(cg_dtls *d)
{
    struct timeval tv;
    d->deadline = UINT64_MAX;
    if (d->state != CG_DTLS_HANDSHAKING && d->state != CG_DTLS_CONNECTED)
        return;
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1 && tv.tv_sec >= 0 && tv.tv_usec >= 0)
        d->deadline = d->now + (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static int fail(cg_dtls *d, int rc, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (rc == CG_EAUTH)
        snprintf(d->err, sizeof(d->err),
                 "peer certificate does not match the SDP a=fingerprint:%s %s", d->fp_alg,
                 d->remote_fp);
    else
        snprintf(d->err, sizeof(d->err), "%s: %s", what, reason ? reason : "unknown error");
    ERR_clear_error();
    d->state = CG_DTLS_FAILED;
    d->deadline = UINT64_MAX;
    return rc;
}

static int fail_ssl(cg_dtls *d, const char *what)
{
    return fail(d, d->fp_mismatch ? CG_EAUTH : CG_EPROTO, what);
}

static int on_connected(cg_dtls *d)
{
    /* The verify callback has already matched the leaf; checking again
     * guards against a path where OpenSSL did not run it at depth 0. */
    if (!fp_matches(d, SSL_get0_peer_certificate(d->ssl))) {
        d->fp_mismatch = 1;
        return fail(d, CG_EAUTH, "");
    }
    SRTP_PROTECTION_PROFILE *sp = SSL_get_selected_srtp_profile(d->ssl);
    const struct srtp_prof *pf = sp ? prof_by_id((long)sp->id) : NULL;
    if (!pf)
        return fail(d, CG_EPROTO, "peer did not negotiate a DTLS-SRTP profile (use_srtp)");
    /* RFC 5764 4.2: client key | server key | client salt | server salt. */
    uint8_t km[2 * (16 + 14)];
    size_t kl = pf->key_len, sl = pf->salt_len, total = 2 * (kl + sl);
    static const char label[] = "EXTRACTOR-dtls_srtp";
    if (SSL_export_keying_material(d->ssl, km, total, label, sizeof(label) - 1, NULL, 0, 0) != 1)
        return fail(d, CG_EPROTO, "exporting SRTP keys failed");
    const uint8_t *ck = km, *sk = km + kl, *cs = km + 2 * kl, *ss = km + 2 * kl + sl;
    int client = d->role == CG_DTLS_CLIENT;
    memset(&d->keys, 0, sizeof(d->keys));
    d->keys.profile = pf->id;
    d->keys.key_len = kl;
    d->keys.salt_len = sl;
    memcpy(d->keys.local_key, client ? ck : sk, kl);
    memcpy(d->keys.local_salt, client ? cs : ss, sl);
    memcpy(d->keys.remote_key, client ? sk : ck, kl);
    memcpy(d->keys.remote_salt, client ? ss : cs, sl);
    OPENSSL_cleanse(km, sizeof(km));
    d->state = CG_DTLS_CONNECTED;
    return 0;
}

/* Runs OpenSSL until it wants more input. */
static int drive(cg_dtls *d)
{
    if (d->state == CG_DTLS_HANDSHAKING) {
        ERR_clear_error();
        int r = SSL_do_handshake(d->ssl);
        if (r != 1) {
            int e = SSL_get_error(d->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
            return fail_ssl(d, "DTLS handshake failed");
        }
        int rc = on_connected(d);
        if (rc)
            return rc;
    }
    if (d->state != CG_DTLS_CONNECTED)
        return 0;
    /* After the handshake, reading lets OpenSSL answer a retransmitted
     * final flight of the peer and notice alerts. There is no data channel:
     * application data is counted and dropped. */
    uint8_t buf[2048];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(d->ssl, buf, (int)sizeof(buf));
        if (r > 0) {
            d->stats.rx_app_bytes += (uint64_t)r;
            continue;
        }
        int e = SSL_get_error(d->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            d->state = CG_DTLS_CLOSED;
            return 0;
        }
        return fail_ssl(d, "DTLS connection failed");
    }
}

/* ---- public API ---- */

int cg_dtls_new(cg_dtls **out, const cg_cert *cert, int role, const char *remote_fp_alg,
                const char *remote_fp)
{
    if (!out || !cert || !remote_fp_alg || !remote_fp ||
        (role != CG_DTLS_SERVER && role != CG_DTLS_CLIENT))
        return CG_EINVAL;
    /* The SDP attribute value may carry surrounding blanks. */
    while (*remote_fp == ' ' || *remote_fp == '\t')
        remote_fp++;
    size_t fl = strlen(remote_fp);
    while (fl > 0 && (remote_fp[fl - 1] == ' ' || remote_fp[fl - 1] == '\t' ||
                      remote_fp[fl - 1] == '\r' || remote_fp[fl - 1] == '\n'))
        fl--;
    size_t al = strlen(remote_fp_alg);
    if (fl == 0 || fl >= CG_CERT_FP_MAX || al == 0 || al >= 16)
        return CG_EINVAL;
    {
        /* Reject unknown hash names now rather than at handshake time. */
        char probe[CG_CERT_FP_MAX];
        int prc = cg_cert_fingerprint_x509(cg_cert_x509(cert), remote_fp_alg, probe, sizeof(probe));
        if (prc)
            return prc;
    }
    pthread_once(&dgram_once, dgram_method_init);
    if (!dgram_method)
        return CG_ENOMEM;

    cg_dtls *d = calloc(1, sizeof(*d));
    if (!d)
        return CG_ENOMEM;
    int rc = CG_ENOMEM;
    d->role = role;
    d->state = CG_DTLS_HANDSHAKING;
    d->mtu = CG_DTLS_DEFAULT_MTU;
    d->initial_timeout_us = 1000000u;
    d->deadline = UINT64_MAX;
    memcpy(d->fp_alg, remote_fp_alg, al);
    memcpy(d->remote_fp, remote_fp, fl);

    ERR_clear_error();
    d->ssl = SSL_new(cg_cert_dtls_ctx(cert));
    if (!d->ssl)
        goto fail;
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(dgram_method);
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto fail;
    }
    /* An empty read BIO means "no datagram yet", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, rbio, wbio);
    d->rbio = rbio;
    rc = CG_ECRYPTO;
    if (SSL_set_app_data(d->ssl, d) != 1)
        goto fail;
    SSL_set_verify(d->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    DTLS_set_timer_cb(d->ssl, timer_cb);
    /* SSL_set_mtu returns the MTU it set, 0 if refused. */
    if (SSL_set_mtu(d->ssl, (long)d->mtu) <= 0)
        goto fail;
    if (role == CG_DTLS_CLIENT)
        SSL_set_connect_state(d->ssl);
    else
        SSL_set_accept_state(d->ssl);
    ERR_clear_error();
    *out = d;
    return 0;
fail:
    ERR_clear_error();
    cg_dtls_free(d);
    return rc;
}

void cg_dtls_free(cg_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    while (d->q_count > 0) {
        free(d->q[d->q_head].p);
        d->q_head = (d->q_head + 1) % CG_DTLS_MAX_QUEUED;
        d->q_count--;
    }
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    free(d);
}

int cg_dtls_set_mtu(cg_dtls *d, size_t mtu)
{
    if (!d || mtu < 256 || mtu > 16384)
        return CG_EINVAL;
    if (d->started)
        return CG_ESTATE;
    ERR_clear_error();
    if (SSL_set_mtu(d->ssl, (long)mtu) <= 0) {
        ERR_clear_error();
        return CG_EINVAL;
    }
    d->mtu = mtu;
    return 0;
}

int cg_dtls_set_srtp_profiles(cg_dtls *d, const int *profiles, size_t n)
{
    if (!d || !profiles || n == 0)
        return CG_EINVAL;
    if (d->started)
        return CG_ESTATE;
    cg_dbuf list;
    cg_dbuf_init(&list, 256);
    for (size_t i = 0; i < n; i++) {
        const struct srtp_prof *pf = prof_by_id(profiles[i]);
        if (!pf) {
            cg_dbuf_free(&list);
            return CG_EINVAL;
        }
        if (i)
            cg_dbuf_adds(&list, ":");
        cg_dbuf_adds(&list, pf->name);
    }
    int rc = cg_dbuf_err(&list);
    ERR_clear_error();
    /* Returns 0 on success, unlike most OpenSSL setters. */
    if (!rc && SSL_set_tlsext_use_srtp(d->ssl, cg_dbuf_str(&list)) != 0)
        rc = CG_EINVAL;
    ERR_clear_error();
    cg_dbuf_free(&list);
    return rc;
}

int cg_dtls_set_initial_timeout(cg_dtls *d, uint32_t us)
{
    if (!d || us < 20000u || us > MAX_TIMEOUT_US)
        return CG_EINVAL;
    if (d->started)
        return CG_ESTATE;
    d->initial_timeout_us = us;
    return 0;
}

int cg_dtls_start(cg_dtls *d, uint64_t now_us)
{
    if (!d)
        return CG_EINVAL;
    if (d->state != CG_DTLS_HANDSHAKING)
        return CG_ESTATE;
    if (d->role == CG_DTLS_SERVER)
        return 0;
    if (d->started)
        return CG_ESTATE;
    d->started = 1;
    d->now = now_us;
    int rc = drive(d);
    update_deadline(d);
    return rc;
}

int cg_dtls_feed(cg_dtls *d, const uint8_t *p, size_t n, uint64_t now_us)
{
    if (!d || (!p && n))
        return CG_EINVAL;
    if (d->state == CG_DTLS_FAILED || d->state == CG_DTLS_CLOSED)
        return CG_ESTATE;
    if (d->role == CG_DTLS_CLIENT && !d->started)
        return CG_ESTATE;
    d->started = 1;
    d->now = now_us;
    d->stats.rx_datagrams++;
    size_t ok = wellformed_prefix(p, n);
    if (ok < n || n == 0)
        d->stats.rx_malformed++;
    if (ok == 0) {
        update_deadline(d);
        return 0;
    }
    /* OpenSSL drains the read BIO on every call below; if it ever stopped
     * reading, this bound keeps the buffer from growing. */
    if (BIO_ctrl_pending(d->rbio) > MAX_RX_PENDING)
        (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, p, (int)ok) != (int)ok) {
        ERR_clear_error();
        return CG_ENOMEM;
    }
    int rc = drive(d);
    update_deadline(d);
    return rc;
}

int cg_dtls_pull(cg_dtls *d, uint8_t *out, size_t cap, size_t *len)
{
    if (!d || !out || !len)
        return CG_EINVAL;
    if (d->q_count == 0)
        return CG_EAGAIN;
    struct dgram *g = &d->q[d->q_head];
    if (g->len > cap)
        return CG_ENOSPC;
    memcpy(out, g->p, g->len);
    *len = g->len;
    free(g->p);
    g->p = NULL;
    d->q_head = (d->q_head + 1) % CG_DTLS_MAX_QUEUED;
    d->q_count--;
    return 0;
}

uint64_t cg_dtls_deadline(const cg_dtls *d)
{
    return d ? d->deadline : UINT64_MAX;
}

int cg_dtls_on_timeout(cg_dtls *d, uint64_t now_us)
{
    if (!d)
        return CG_EINVAL;
    if (d->state != CG_DTLS_HANDSHAKING && d->state != CG_DTLS_CONNECTED)
        return 0;
    d->now = now_us;
    ERR_clear_error();
    int r = (int)DTLSv1_handle_timeout(d->ssl);
    if (r < 0)
        return fail(d, CG_ETIMEDOUT, "DTLS handshake timed out");
    if (r > 0)
        d->stats.retransmits++;
    ERR_clear_error();
    update_deadline(d);
    return 0;
}

int cg_dtls_state(const cg_dtls *d)
{
    return d ? d->state : CG_DTLS_FAILED;
}

int cg_dtls_srtp_keys(const cg_dtls *d, cg_srtp_keys *out)
{
    if (!d || !out)
        return CG_EINVAL;
    /* Keys stay readable after a close: media may still drain. */
    if (d->keys.profile == 0 || d->state == CG_DTLS_FAILED)
        return CG_ESTATE;
    *out = d->keys;
    return 0;
}

const char *cg_dtls_error(const cg_dtls *d)
{
    return d ? d->err : "";
}

int cg_dtls_close(cg_dtls *d)
{
    if (!d)
        return CG_EINVAL;
    if (d->state == CG_DTLS_FAILED || d->state == CG_DTLS_CLOSED)
        return CG_ESTATE;
    ERR_clear_error();
    /* OpenSSL refuses to send close_notify mid-handshake; then there is
     * nothing to tell the peer, whose handshake simply times out. */
    if (d->state == CG_DTLS_CONNECTED)
        (void)SSL_shutdown(d->ssl);
    ERR_clear_error();
    d->state = CG_DTLS_CLOSED;
    d->deadline = UINT64_MAX;
    return 0;
}

void cg_dtls_get_stats(const cg_dtls *d, cg_dtls_stats *out)
{
    if (!out)
        return;
    if (!d) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = d->stats;
}
