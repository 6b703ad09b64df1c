#include "stun.h"

#include <netinet/in.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/buf.h"
#include "core/err.h"

#define ATTR_REALM 0x0014
#define ATTR_NONCE 0x0015
#define ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define ATTR_PASSWORD_ALGORITHM 0x001D
#define ATTR_USERHASH 0x001E

#define MI_LEN 20
#define FINGERPRINT_XOR 0x5354554eu
#define USERNAME_MAX 513 /* RFC 5389 §15.3 */
#define REASON_MAX 763   /* RFC 5389 §15.6 */

/* ---- CRC-32 (ISO-HDLC, as zlib), half-byte table: small and fast enough
 * for the few hundred bytes of a STUN message. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
    0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
};

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
    }
    return crc;
}

/* HMAC-SHA1 over hdr || body. Two pieces because the header hashed is a
 * copy whose length field was rewritten, while the body is the packet. */
static int hmac_sha1(const void *key, size_t keylen, const uint8_t *hdr, size_t hdrlen,
                     const uint8_t *body, size_t bodylen, uint8_t out[MI_LEN])
{
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    size_t outl = 0;
    int rc = CG_ECRYPTO;
    if (ctx && EVP_MAC_init(ctx, key, keylen, params) && EVP_MAC_update(ctx, hdr, hdrlen) &&
        (bodylen == 0 || EVP_MAC_update(ctx, body, bodylen)) &&
        EVP_MAC_final(ctx, out, &outl, MI_LEN) && outl == MI_LEN)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
}

/* ---- Parser: one handler per attribute ICE interprets, in a table with
 * the sizes RFC 5389/8445 allow. A known attribute of the wrong size makes
 * the message malformed rather than being skipped, so a peer bug shows up
 * as a clear error instead of a silently ignored PRIORITY. */

typedef int (*attr_fn)(cg_stun_msg *m, const uint8_t *v, size_t len);

static int attr_username(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    if (!m->username) {
        m->username = v;
        m->username_len = len;
    }
    return 0;
}

static int attr_priority(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    if (!m->has_priority) {
        m->has_priority = 1;
        m->priority = cg_load_u32(v);
    }
    return 0;
}

static int attr_use_candidate(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    m->use_candidate = 1;
    return 0;
}

static uint64_t load_u64(const uint8_t *v)
{
    return ((uint64_t)cg_load_u32(v) << 32) | cg_load_u32(v + 4);
}

static int attr_controlling(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    if (!m->has_controlling && !m->has_controlled)
        m->tiebreaker = load_u64(v);
    m->has_controlling = 1;
    return 0;
}

static int attr_controlled(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    if (!m->has_controlling && !m->has_controlled)
        m->tiebreaker = load_u64(v);
    m->has_controlled = 1;
    return 0;
}

static int attr_error_code(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    if (m->has_error)
        return 0;
    unsigned cls = v[2] & 0x07, num = v[3];
    if (cls < 3 || cls > 6 || num > 99)
        return CG_EPROTO;
    m->has_error = 1;
    m->error_code = (uint16_t)(cls * 100 + num);
    m->reason = v + 4;
    m->reason_len = len - 4;
    return 0;
}

static int attr_xor_mapped(cg_stun_msg *m, const uint8_t *v, size_t len)
{
    uint8_t family = v[1];
    uint16_t port = (uint16_t)(cg_load_u16(v + 2) ^ (CG_STUN_MAGIC_COOKIE >> 16));
    uint8_t pad[16];
    cg_store_u32(pad, CG_STUN_MAGIC_COOKIE);
    memcpy(pad + 4, m->txid, 12);
    if (family == 0x01 && len == 8) {
        if (m->has_xor_mapped)
            return 0;
        struct sockaddr_in *sin = (struct sockaddr_in *)&m->xor_mapped;
        uint8_t a[4];
        for (int i = 0; i < 4; i++)
            a[i] = v[4 + i] ^ pad[i];
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a, 4);
    } else if (family == 0x02 && len == 20) {
        if (m->has_xor_mapped)
            return 0;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&m->xor_mapped;
        uint8_t a[16];
        for (int i = 0; i < 16; i++)
            a[i] = v[4 + i] ^ pad[i];
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a, 16);
    } else {
        return CG_EPROTO;
    }
    m->has_xor_mapped = 1;
    return 0;
}

static const struct attr_rule {
    uint16_t type;
    uint16_t min_len, max_len;
    attr_fn fn; /* NULL: known (so not "unknown required"), not interpreted */
} attr_rules[] = {
    {.type = CG_STUN_ATTR_USERNAME, .min_len = 0, .max_len = USERNAME_MAX, .fn = attr_username},
    {.type = CG_STUN_ATTR_PRIORITY, .min_len = 4, .max_len = 4, .fn = attr_priority},
    {.type = CG_STUN_ATTR_USE_CANDIDATE, .min_len = 0, .max_len = 0, .fn = attr_use_candidate},
    {.type = CG_STUN_ATTR_ICE_CONTROLLING, .min_len = 8, .max_len = 8, .fn = attr_controlling},
    {.type = CG_STUN_ATTR_ICE_CONTROLLED, .min_len = 8, .max_len = 8, .fn = attr_controlled},
    {.type = CG_STUN_ATTR_ERROR_CODE,
     .min_len = 4,
     .max_len = 4 + REASON_MAX,
     .fn = attr_error_code},
    {.type = CG_STUN_ATTR_XOR_MAPPED_ADDRESS, .min_len = 8, .max_len = 20, .fn = attr_xor_mapped},
    {.type = CG_STUN_ATTR_MESSAGE_INTEGRITY, .min_len = MI_LEN, .max_len = MI_LEN},
    {.type = CG_STUN_ATTR_MAPPED_ADDRESS, .min_len = 0, .max_len = UINT16_MAX},
    {.type = CG_STUN_ATTR_UNKNOWN_ATTRIBUTES, .min_len = 0, .max_len = UINT16_MAX},
    /* Long-term credential attributes: understood as STUN, not used by ICE. */
    {.type = ATTR_REALM, .min_len = 0, .max_len = UINT16_MAX},
    {.type = ATTR_NONCE, .min_len = 0, .max_len = UINT16_MAX},
    {.type = ATTR_MESSAGE_INTEGRITY_SHA256, .min_len = 0, .max_len = UINT16_MAX},
    {.type = ATTR_PASSWORD_ALGORITHM, .min_len = 0, .max_len = UINT16_MAX},
    {.type = ATTR_USERHASH, .min_len = 0, .max_len = UINT16_MAX},
};

static int parse_attr(cg_stun_msg *m, uint16_t type, const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < sizeof(attr_rules) / sizeof(attr_rules[0]); i++) {
        const struct attr_rule *rule = &attr_rules[i];
        if (rule->type != type)
            continue;
        if (len < rule->min_len || len > rule->max_len)
            return CG_EPROTO;
        return rule->fn ? rule->fn(m, v, len) : 0;
    }
    /* 0x0000-0x7FFF are comprehension-required (RFC 5389 §15): a request
     * carrying one we do not know must be answered with 420. */
    if (type < 0x8000) {
        if (m->n_unknown < CG_STUN_MAX_UNKNOWN)
            m->unknown[m->n_unknown] = type;
        m->n_unknown++;
    }
    return 0;
}

int cg_stun_parse(cg_stun_msg *m, const uint8_t *p, size_t n)
{
    if (!m || (!p && n))
        return CG_EINVAL;
    memset(m, 0, sizeof(*m));
    cg_rd r;
    cg_rd_init(&r, p, n);
    uint16_t type, len;
    uint32_t cookie;
    if (cg_rd_u16(&r, &type) || cg_rd_u16(&r, &len) || cg_rd_u32(&r, &cookie) ||
        cg_rd_bytes(&r, m->txid, sizeof(m->txid)))
        return CG_ETRUNC;
    if ((type & 0xC000) || cookie != CG_STUN_MAGIC_COOKIE || (len & 3))
        return CG_EPROTO;
    if (cg_rd_left(&r) < len)
        return CG_ETRUNC;
    /* A datagram holds exactly one message; bytes after it mean it is not
     * STUN at all (or was mangled), not that there is more to read. */
    if (cg_rd_left(&r) > len)
        return CG_EPROTO;
    m->type = type;

    while (cg_rd_left(&r) > 0) {
        size_t off = r.pos;
        uint16_t at, alen;
        const uint8_t *v;
        if (m->fingerprint_off)
            return CG_EPROTO; /* FINGERPRINT must be last */
        if (cg_rd_u16(&r, &at) || cg_rd_u16(&r, &alen) || cg_rd_ptr(&r, &v, alen) ||
            cg_rd_skip(&r, (size_t)((4 - (alen & 3)) & 3)))
            return CG_EPROTO; /* attribute overruns the announced length */
        if (at == CG_STUN_ATTR_FINGERPRINT) {
            if (alen != 4)
                return CG_EPROTO;
            m->fingerprint_off = off;
            continue;
        }
        if (m->integrity_off)
            continue; /* not covered by the HMAC: must be ignored */
        int rc = parse_attr(m, at, v, alen);
        if (rc)
            return rc;
        if (at == CG_STUN_ATTR_MESSAGE_INTEGRITY)
            m->integrity_off = off;
    }
    return 0;
}

int cg_stun_check_integrity(const cg_stun_msg *m, const uint8_t *p, size_t n, const void *key,
                            size_t keylen)
{
    if (!m || !p || !key || keylen == 0 || !m->integrity_off ||
        m->integrity_off < CG_STUN_HEADER_LEN || m->integrity_off + 4 + MI_LEN > n)
        return CG_EAUTH;
    /* The HMAC covers the message as if MESSAGE-INTEGRITY were its last
     * attribute: the length field counts up to the end of it. */
    uint8_t hdr[CG_STUN_HEADER_LEN];
    memcpy(hdr, p, sizeof(hdr));
    cg_store_u16(hdr + 2, (uint16_t)(m->integrity_off + 4 + MI_LEN - CG_STUN_HEADER_LEN));
    uint8_t mac[MI_LEN];
    int rc = hmac_sha1(key, keylen, hdr, sizeof(hdr), p + CG_STUN_HEADER_LEN,
                       m->integrity_off - CG_STUN_HEADER_LEN, mac);
    if (rc)
        return rc;
    return CRYPTO_memcmp(mac, p + m->integrity_off + 4, MI_LEN) == 0 ? 0 : CG_EAUTH;
}

int cg_stun_check_fingerprint(const cg_stun_msg *m, const uint8_t *p, size_t n)
{
    if (!m || !p || !m->fingerprint_off || m->fingerprint_off < CG_STUN_HEADER_LEN ||
        m->fingerprint_off + 8 > n)
        return CG_EAUTH;
    uint8_t hdr[CG_STUN_HEADER_LEN];
    memcpy(hdr, p, sizeof(hdr));
    cg_store_u16(hdr + 2, (uint16_t)(m->fingerprint_off + 8 - CG_STUN_HEADER_LEN));
    uint32_t crc = crc32_update(0xffffffffu, hdr, sizeof(hdr));
    crc = crc32_update(crc, p + CG_STUN_HEADER_LEN, m->fingerprint_off - CG_STUN_HEADER_LEN);
    crc = ~crc ^ FINGERPRINT_XOR;
    return crc == cg_load_u32(p + m->fingerprint_off + 4) ? 0 : CG_EAUTH;
}

int cg_stun_username_local(const cg_stun_msg *m, char *out, size_t cap)
{
    if (!m || !m->username)
        return CG_ENOTFOUND;
    const uint8_t *colon = memchr(m->username, ':', m->username_len);
    if (!colon || colon == m->username)
        return CG_ENOTFOUND;
    size_t len = (size_t)(colon - m->username);
    /* The result is used to look a session up: refuse NULs and control
     * bytes that would make two different USERNAMEs compare equal. */
    for (size_t i = 0; i < len; i++)
        if (m->username[i] < 0x21 || m->username[i] > 0x7e)
            return CG_ENOTFOUND;
    if (!out || len + 1 > cap)
        return CG_ENOSPC;
    memcpy(out, m->username, len);
    out[len] = '\0';
    return 0;
}

/* ---- Builders */

static void put_header(cg_wr *w, uint16_t type, const uint8_t txid[12])
{
    cg_wr_u16(w, type);
    cg_wr_u16(w, 0); /* patched as attributes are appended */
    cg_wr_u32(w, CG_STUN_MAGIC_COOKIE);
    cg_wr_bytes(w, txid, 12);
}

static void put_attr(cg_wr *w, uint16_t type, const void *v, size_t len)
{
    cg_wr_u16(w, type);
    cg_wr_u16(w, (uint16_t)len);
    cg_wr_bytes(w, v, len);
    cg_wr_zero(w, (4 - (len & 3)) & 3);
}

/* Appends MESSAGE-INTEGRITY (when key is set) and FINGERPRINT, each
 * computed with the length field counting up to its own end, and sets *len. */
static int finish(cg_wr *w, const void *key, size_t keylen, size_t *len)
{
    if (key) {
        if (keylen == 0)
            return CG_EINVAL;
        size_t off = cg_wr_len(w);
        cg_wr_u16(w, CG_STUN_ATTR_MESSAGE_INTEGRITY);
        cg_wr_u16(w, MI_LEN);
        cg_wr_zero(w, MI_LEN);
        if (cg_wr_err(w))
            return CG_ENOSPC;
        cg_wr_put_u16_at(w, 2, (uint16_t)(cg_wr_len(w) - CG_STUN_HEADER_LEN));
        uint8_t mac[MI_LEN];
        int rc = hmac_sha1(key, keylen, w->p, off, NULL, 0, mac);
        if (rc)
            return rc;
        memcpy(w->p + off + 4, mac, MI_LEN);
    }
    size_t off = cg_wr_len(w);
    cg_wr_u16(w, CG_STUN_ATTR_FINGERPRINT);
    cg_wr_u16(w, 4);
    cg_wr_u32(w, 0);
    if (cg_wr_err(w))
        return CG_ENOSPC;
    cg_wr_put_u16_at(w, 2, (uint16_t)(cg_wr_len(w) - CG_STUN_HEADER_LEN));
    uint32_t crc = ~crc32_update(0xffffffffu, w->p, off) ^ FINGERPRINT_XOR;
    cg_wr_put_u32_at(w, off + 4, crc);
    *len = cg_wr_len(w);
    return 0;
}

int cg_stun_build_binding_success(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                  const struct sockaddr_storage *mapped, const void *key,
                                  size_t keylen)
{
    if (!out || !len || !txid || !mapped)
        return CG_EINVAL;
    uint8_t pad[16];
    cg_store_u32(pad, CG_STUN_MAGIC_COOKIE);
    memcpy(pad + 4, txid, 12);
    uint8_t v[20];
    size_t vlen;
    uint16_t port;
    v[0] = 0;
    if (mapped->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)mapped;
        const uint8_t *a = (const uint8_t *)&sin->sin_addr;
        v[1] = 0x01;
        port = ntohs(sin->sin_port);
        for (int i = 0; i < 4; i++)
            v[4 + i] = a[i] ^ pad[i];
        vlen = 8;
    } else if (mapped->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)mapped;
        const uint8_t *a = (const uint8_t *)&sin6->sin6_addr;
        v[1] = 0x02;
        port = ntohs(sin6->sin6_port);
        for (int i = 0; i < 16; i++)
            v[4 + i] = a[i] ^ pad[i];
        vlen = 20;
    } else {
        return CG_EINVAL;
    }
    cg_store_u16(v + 2, (uint16_t)(port ^ (CG_STUN_MAGIC_COOKIE >> 16)));

    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, CG_STUN_BINDING_SUCCESS, txid);
    put_attr(&w, CG_STUN_ATTR_XOR_MAPPED_ADDRESS, v, vlen);
    return finish(&w, key, keylen, len);
}

static void put_error_code(cg_wr *w, uint16_t code, const char *reason, size_t rlen)
{
    cg_wr_u16(w, CG_STUN_ATTR_ERROR_CODE);
    cg_wr_u16(w, (uint16_t)(4 + rlen));
    cg_wr_u16(w, 0);
    cg_wr_u8(w, (uint8_t)(code / 100));
    cg_wr_u8(w, (uint8_t)(code % 100));
    cg_wr_bytes(w, reason, rlen);
    cg_wr_zero(w, (4 - (rlen & 3)) & 3);
}

int cg_stun_build_error(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                        uint16_t code, const char *reason, const void *key, size_t keylen)
{
    if (!out || !len || !txid || code < 300 || code > 699)
        return CG_EINVAL;
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > REASON_MAX)
        return CG_EINVAL;
    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, CG_STUN_BINDING_ERROR, txid);
    put_error_code(&w, code, reason ? reason : "", rlen);
    return finish(&w, key, keylen, len);
}

int cg_stun_build_unknown_attributes(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                     const uint16_t *types, size_t ntypes, const void *key,
                                     size_t keylen)
{
    static const char reason[] = "Unknown Attribute";
    if (!out || !len || !txid || (!types && ntypes) || ntypes > 64)
        return CG_EINVAL;
    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, CG_STUN_BINDING_ERROR, txid);
    put_error_code(&w, 420, reason, sizeof(reason) - 1);
    cg_wr_u16(&w, CG_STUN_ATTR_UNKNOWN_ATTRIBUTES);
    cg_wr_u16(&w, (uint16_t)(2 * ntypes));
    for (size_t i = 0; i < ntypes; i++)
        cg_wr_u16(&w, types[i]);
    cg_wr_zero(&w, (ntypes & 1) ? 2 : 0);
    return finish(&w, key, keylen, len);
}

int cg_stun_build_binding_request(uint8_t *out, size_t cap, size_t *len, const uint8_t txid[12],
                                  const char *username, uint32_t priority, int use_candidate,
                                  int controlling, uint64_t tiebreaker, const void *key,
                                  size_t keylen)
{
    if (!out || !len || !txid)
        return CG_EINVAL;
    size_t ulen = username ? strlen(username) : 0;
    if (ulen > USERNAME_MAX)
        return CG_EINVAL;
    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, CG_STUN_BINDING_REQUEST, txid);
    if (username)
        put_attr(&w, CG_STUN_ATTR_USERNAME, username, ulen);
    if (priority) {
        cg_wr_u16(&w, CG_STUN_ATTR_PRIORITY);
        cg_wr_u16(&w, 4);
        cg_wr_u32(&w, priority);
    }
    if (controlling >= 0) {
        cg_wr_u16(&w, controlling > 0 ? CG_STUN_ATTR_ICE_CONTROLLING : CG_STUN_ATTR_ICE_CONTROLLED);
        cg_wr_u16(&w, 8);
        cg_wr_u64(&w, tiebreaker);
    }
    if (use_candidate) {
        cg_wr_u16(&w, CG_STUN_ATTR_USE_CANDIDATE);
        cg_wr_u16(&w, 0);
    }
    return finish(&w, key, keylen, len);
}
