#include "cert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "core/random.h"

struct cg_cert {
    EVP_PKEY *pkey;
    X509 *x509;
    SSL_CTX *ctx;
    char fp[CG_CERT_FP_MAX];
};

/* ECDSA suites first: our certificate is ECDSA, so as DTLS server only they
 * can be chosen. The ECDHE-RSA ones are for when we are the DTLS client and
 * the peer's certificate is RSA (GStreamer's webrtcbin generates RSA keys).
 * AES-GCM leads because every WebRTC stack has it and it is cheapest. */
static const char cipher_list[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                  "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                                  "ECDHE-RSA-CHACHA20-POLY1305:"
                                  "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
                                  "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA";

/* As DTLS server OpenSSL picks the first profile of this list the client
 * also offers, so GCM wins whenever the peer has it: Debian's libsrtp2 is
 * built on NSS where AES-CM + HMAC-SHA1 costs several times more per packet
 * than GCM. */
static const char srtp_profiles[] = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
} fp_algs[] = {
    {.name = "sha-1", .md = EVP_sha1},     {.name = "sha-224", .md = EVP_sha224},
    {.name = "sha-256", .md = EVP_sha256}, {.name = "sha-384", .md = EVP_sha384},
    {.name = "sha-512", .md = EVP_sha512},
};

int cg_cert_fingerprint_x509(const void *x509, const char *alg, char *out, size_t cap)
{
    if (!x509 || !alg || !out)
        return CG_EINVAL;
    if (cap > 0)
        out[0] = '\0';
    const EVP_MD *md = NULL;
    for (size_t i = 0; i < sizeof(fp_algs) / sizeof(fp_algs[0]); i++)
        if (strcasecmp(alg, fp_algs[i].name) == 0)
            md = fp_algs[i].md();
    if (!md)
        return CG_EUNSUPP;
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest((const X509 *)x509, md, dig, &n) != 1 || n == 0)
        return CG_ECRYPTO;
    if (cap < (size_t)n * 3)
        return CG_ENOSPC;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (unsigned int i = 0; i < n; i++) {
        if (i)
            out[o++] = ':';
        out[o++] = hex[dig[i] >> 4];
        out[o++] = hex[dig[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

static int make_x509(cg_cert *c)
{
    X509 *x = X509_new();
    if (!x)
        return CG_ENOMEM;
    c->x509 = x;

    /* A random serial keeps two certificates of this host distinguishable
     * for peers that cache by issuer + serial. 63 bits: positive, never 0. */
    uint8_t sb[8];
    int rc = cg_random_bytes(sb, sizeof(sb));
    if (rc)
        return rc;
    uint64_t serial = 0;
    for (size_t i = 0; i < sizeof(sb); i++)
        serial = (serial << 8) | sb[i];
    serial = (serial & INT64_MAX) | 1;

    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -24L * 3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 29L * 24 * 3600) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"clipgate", -1,
                                   -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, c->pkey) != 1 ||
        X509_sign(x, c->pkey, EVP_sha256()) <= 0)
        return CG_ECRYPTO;
    return 0;
}

static int make_ctx(cg_cert *c)
{
    SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
    if (!ctx)
        return CG_ENOMEM;
    c->ctx = ctx;
    /* WebRTC (RFC 8827) requires DTLS 1.2; DTLS 1.0 is obsolete. */
    if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx, c->x509) != 1 || SSL_CTX_use_PrivateKey(ctx, c->pkey) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 || SSL_CTX_set_cipher_list(ctx, cipher_list) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
        return CG_ECRYPTO;
    /* Unlike every other OpenSSL setter, this one returns 0 on success. */
    if (SSL_CTX_set_tlsext_use_srtp(ctx, srtp_profiles) != 0)
        return CG_ECRYPTO;
    /* The MTU is set per connection, never queried from a socket (there is
     * none); keys are fresh per session so tickets and the session cache
     * only cost memory; renegotiation is not part of WebRTC. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* Both roles demand the peer's certificate: its hash is what the SDP
     * fingerprint vouches for. The callback doing the check is installed
     * per connection by rtc/dtls.c. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_read_ahead(ctx, 1);
    return 0;
}

int cg_cert_new(cg_cert **out)
{
    if (!out)
        return CG_EINVAL;
    cg_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return CG_ENOMEM;
    int rc = CG_ECRYPTO;
    c->pkey = EVP_EC_gen("P-256");
    if (!c->pkey)
        goto fail;
    rc = make_x509(c);
    if (rc)
        goto fail;
    rc = cg_cert_fingerprint_x509(c->x509, "sha-256", c->fp, sizeof(c->fp));
    if (rc)
        goto fail;
    rc = make_ctx(c);
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    cg_cert_free(c);
    return rc;
}

void cg_cert_free(cg_cert *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    free(c);
}

const char *cg_cert_fingerprint(const cg_cert *c)
{
    return c ? c->fp : "";
}
const void *cg_cert_x509(const cg_cert *c)
{
    return c ? c->x509 : NULL;
}
const void *cg_cert_pkey(const cg_cert *c)
{
    return c ? c->pkey : NULL;
}
void *cg_cert_dtls_ctx(const cg_cert *c)
{
    return c ? c->ctx : NULL;
}
