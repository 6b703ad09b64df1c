/* The DTLS identity of this gateway: a self-signed ECDSA P-256 certificate,
 * its private key, the SHA-256 fingerprint that goes into SDP answers, and
 * the OpenSSL DTLS context built around them.
 *
 * WebRTC peers do not trust certificates by chain: each side puts the hash
 * of its certificate into SDP (a=fingerprint, RFC 8122 / RFC 8842) and the
 * DTLS driver (rtc/dtls.h) checks the peer's certificate against it. So the
 * certificate is throwaway: one per process (or per session), never renewed
 * in place.
 *
 * The context lives here rather than per session because SSL_CTX_new costs
 * far more than SSL_new in OpenSSL 3.0 (provider and cipher fetches); one
 * context per certificate serves every session. A cg_cert is immutable after
 * cg_cert_new and may be shared by sessions on several threads. */
#ifndef CG_CERT_H
#define CG_CERT_H

#include <stddef.h>

typedef struct cg_cert cg_cert;

/* Self-signed ECDSA P-256 certificate (SHA-256 signature, random positive
 * 63-bit serial, subject and issuer CN "clipgate", valid from now - 1 day
 * for 30 days) and its DTLS 1.2 context. Reads the wall clock for the
 * validity period. Gives *out to the caller (cg_cert_free).
 * Returns 0, CG_EINVAL (out NULL), CG_ENOMEM, CG_ECRYPTO or CG_EIO (no
 * randomness for the serial). */
int cg_cert_new(cg_cert **out);
/* Frees c (NULL is fine). Every cg_dtls using c must be freed first. */
void cg_cert_free(cg_cert *c);

/* "AB:CD:..." uppercase SHA-256 fingerprint of the DER certificate (32
 * colon-separated bytes), as it goes after "a=fingerprint:sha-256 ".
 * Borrowed, lives with c. */
const char *cg_cert_fingerprint(const cg_cert *c);

/* Longest fingerprint text cg_cert_fingerprint_x509 writes, NUL included
 * (SHA-512: 64 bytes as "XX:" minus the last colon, plus NUL). */
#define CG_CERT_FP_MAX 192

/* Computes the fingerprint of an X509 (const X509 *; borrowed) into out,
 * uppercase colon-separated hex with a NUL. alg: "sha-256", also "sha-1",
 * "sha-224", "sha-384", "sha-512", case-insensitive (the hash function
 * names of RFC 8122's registry).
 * Returns 0, CG_EINVAL (NULL argument), CG_EUNSUPP (unknown alg),
 * CG_ENOSPC (cap too small; out is then "" if cap > 0) or CG_ECRYPTO. */
int cg_cert_fingerprint_x509(const void *x509, const char *alg, char *out, size_t cap);

/* Borrowed OpenSSL objects, valid while c lives. For the DTLS driver and
 * for tests that hand the certificate to other tools; do not modify. */
const void *cg_cert_x509(const cg_cert *c); /* X509 * */
const void *cg_cert_pkey(const cg_cert *c); /* EVP_PKEY * */

/* The SSL_CTX * of this certificate: DTLS 1.2 only, certificate and key
 * loaded, ECDHE with AES-GCM preferred, DTLS-SRTP profiles AEAD_AES_128_GCM
 * then AES128_CM_SHA1_80, peer certificate required, no session resumption,
 * no renegotiation. rtc/dtls.c adds the per-connection parts (fingerprint
 * check, role, MTU). Borrowed; SSL_new() takes its own reference. */
void *cg_cert_dtls_ctx(const cg_cert *c);

#endif
