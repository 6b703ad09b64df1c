#include "srtp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "core/buf.h"
#include "core/err.h"

/* libsrtp tracks ROC per stream and its replay window in these units;
 * 1024 covers about a second of 8 Mbit/s video, the span a NACK round
 * trip plus jitter buffer needs. */
#define REPLAY_WINDOW 1024
/* UDP cannot carry more; also keeps lengths inside libsrtp's int. */
#define MAX_PACKET 65535

struct cg_srtp {
    srtp_t in;
    srtp_t out;
    int profile;
    size_t rtp_trailer;
    size_t rtcp_trailer;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_init_fail;

/* srtp_init registers ciphers in a process-wide kernel and is not
 * thread-safe; srtp_shutdown is never called since sessions may be alive
 * until exit. */
static void srtp_init_once(void)
{
    init_status = srtp_init();
}

int cg_srtp_global_init(void)
{
    pthread_once(&init_once, srtp_init_once);
    return init_status == srtp_err_status_ok ? 0 : CG_ECRYPTO;
}

/* srtp_crypto_policy_set_rtp_default is AES_CM_128_HMAC_SHA1_80 for RTP and
 * RTCP alike (libsrtp's named setter for it is a macro, unusable here). */
static const struct {
    int profile;
    size_t key_len, salt_len;
    size_t rtp_trailer, rtcp_trailer;
    void (*set)(srtp_crypto_policy_t *p);
} profiles[] = {
    {.profile = CG_SRTP_AEAD_AES_128_GCM,
     .key_len = 16,
     .salt_len = 12,
     .rtp_trailer = 16,
     .rtcp_trailer = 16 + 4,
     .set = srtp_crypto_policy_set_aes_gcm_128_16_auth},
    {.profile = CG_SRTP_AES128_CM_SHA1_80,
     .key_len = 16,
     .salt_len = 14,
     .rtp_trailer = 10,
     .rtcp_trailer = 10 + 4,
     .set = srtp_crypto_policy_set_rtp_default},
};

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
        return CG_EAUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
    case srtp_err_status_no_ctx:
    case srtp_err_status_bad_mki:
    case srtp_err_status_pkt_idx_old:
    case srtp_err_status_pkt_idx_adv:
        return CG_EPROTO;
    case srtp_err_status_alloc_fail:
        return CG_ENOMEM;
    default:
        return CG_ECRYPTO;
    }
}

static int make_session(srtp_t *out, void (*set)(srtp_crypto_policy_t *), srtp_ssrc_type_t type,
                        const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len)
{
    /* libsrtp reads the master key and salt as one contiguous string. */
    uint8_t master[16 + 14];
    memcpy(master, key, key_len);
    memcpy(master + key_len, salt, salt_len);
    srtp_policy_t p;
    memset(&p, 0, sizeof(p));
    set(&p.rtp);
    set(&p.rtcp);
    p.ssrc.type = type;
    p.key = master;
    p.window_size = REPLAY_WINDOW;
    p.allow_repeat_tx = type == ssrc_any_outbound;
    p.next = NULL;
    srtp_err_status_t st = srtp_create(out, &p);
    OPENSSL_cleanse(master, sizeof(master));
    if (st != srtp_err_status_ok) {
        *out = NULL;
        return st == srtp_err_status_alloc_fail ? CG_ENOMEM : CG_ECRYPTO;
    }
    return 0;
}

int cg_srtp_new(cg_srtp **out, const cg_srtp_keys *keys)
{
    if (!out || !keys)
        return CG_EINVAL;
    size_t i = 0, n = sizeof(profiles) / sizeof(profiles[0]);
    while (i < n && profiles[i].profile != keys->profile)
        i++;
    if (i == n)
        return CG_EUNSUPP;
    if (keys->key_len != profiles[i].key_len || keys->salt_len != profiles[i].salt_len)
        return CG_EINVAL;
    pthread_once(&init_once, srtp_init_once);
    if (init_status != srtp_err_status_ok)
        return CG_ECRYPTO;

    cg_srtp *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    s->profile = keys->profile;
    s->rtp_trailer = profiles[i].rtp_trailer;
    s->rtcp_trailer = profiles[i].rtcp_trailer;
    int rc = make_session(&s->in, profiles[i].set, ssrc_any_inbound, keys->remote_key,
                          keys->key_len, keys->remote_salt, keys->salt_len);
    if (rc)
        goto fail;
    rc = make_session(&s->out, profiles[i].set, ssrc_any_outbound, keys->local_key, keys->key_len,
                      keys->local_salt, keys->salt_len);
    if (rc)
        goto fail;
    *out = s;
    return 0;
fail:
    cg_srtp_free(s);
    return rc;
}

void cg_srtp_free(cg_srtp *s)
{
    if (!s)
        return;
    if (s->in)
        srtp_dealloc(s->in);
    if (s->out)
        srtp_dealloc(s->out);
    free(s);
}

size_t cg_srtp_rtp_trailer(const cg_srtp *s)
{
    return s ? s->rtp_trailer : CG_SRTP_MAX_RTP_TRAILER;
}
size_t cg_srtp_rtcp_trailer(const cg_srtp *s)
{
    return s ? s->rtcp_trailer : CG_SRTP_MAX_RTCP_TRAILER;
}

/* Length of the RTP header (fixed part, CSRCs, extension) if p[0..n) starts
 * with a version-2 RTP header that fits, else 0. libsrtp checks this too;
 * doing it here keeps malformed input away from it and gives one error. */
static size_t rtp_header_len(const uint8_t *p, size_t n)
{
    cg_rd r;
    cg_rd_init(&r, p, n);
    uint8_t b0;
    if (cg_rd_u8(&r, &b0) || (b0 >> 6) != 2 || cg_rd_skip(&r, 11))
        return 0;
    if (cg_rd_skip(&r, 4u * (b0 & 0x0f)))
        return 0;
    if (b0 & 0x10) {
        uint16_t profile, words;
        if (cg_rd_u16(&r, &profile) || cg_rd_u16(&r, &words) || cg_rd_skip(&r, 4u * words))
            return 0;
    }
    return r.pos;
}

/* RTCP: version 2 and at least the common header plus the sender SSRC,
 * which is all SRTCP needs to find its stream. */
static int rtcp_ok(const uint8_t *p, size_t n)
{
    cg_rd r;
    cg_rd_init(&r, p, n);
    uint8_t b0;
    return !cg_rd_u8(&r, &b0) && (b0 >> 6) == 2 && !cg_rd_skip(&r, 7);
}

int cg_srtp_unprotect(cg_srtp *s, uint8_t *pkt, size_t *len)
{
    if (!s || !pkt || !len)
        return CG_EINVAL;
    size_t n = *len;
    size_t hl = rtp_header_len(pkt, n);
    if (hl == 0 || n > MAX_PACKET || n - hl < s->rtp_trailer)
        return CG_EPROTO;
    int l = (int)n;
    int rc = map_status(srtp_unprotect(s->in, pkt, &l));
    if (rc)
        return rc;
    *len = (size_t)l;
    return 0;
}

int cg_srtp_unprotect_rtcp(cg_srtp *s, uint8_t *pkt, size_t *len)
{
    if (!s || !pkt || !len)
        return CG_EINVAL;
    size_t n = *len;
    if (!rtcp_ok(pkt, n) || n > MAX_PACKET || n < 8 + s->rtcp_trailer)
        return CG_EPROTO;
    int l = (int)n;
    int rc = map_status(srtp_unprotect_rtcp(s->in, pkt, &l));
    if (rc)
        return rc;
    *len = (size_t)l;
    return 0;
}

int cg_srtp_protect(cg_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    if (!s || !pkt || !len || *len > cap)
        return CG_EINVAL;
    size_t n = *len;
    if (rtp_header_len(pkt, n) == 0 || n + s->rtp_trailer > MAX_PACKET)
        return CG_EPROTO;
    if (cap - n < s->rtp_trailer)
        return CG_ENOSPC;
    int l = (int)n;
    int rc = map_status(srtp_protect(s->out, pkt, &l));
    if (rc)
        return rc;
    *len = (size_t)l;
    return 0;
}

int cg_srtp_protect_rtcp(cg_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    if (!s || !pkt || !len || *len > cap)
        return CG_EINVAL;
    size_t n = *len;
    if (!rtcp_ok(pkt, n) || n + s->rtcp_trailer > MAX_PACKET)
        return CG_EPROTO;
    if (cap - n < s->rtcp_trailer)
        return CG_ENOSPC;
    int l = (int)n;
    int rc = map_status(srtp_protect_rtcp(s->out, pkt, &l));
    if (rc)
        return rc;
    *len = (size_t)l;
    return 0;
}
