/* rtc/cert: the generated certificate is what WebRTC peers expect (ECDSA
 * P-256, SHA-256 signature, self-signed, CN clipgate, 30 days) and its SDP
 * fingerprint equals what the openssl command line computes from the PEM. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/err.h"
#include "rtc/cert.h"
#include "cg_test.h"

/* Writes the certificate as PEM to a new temporary file; returns its path
 * in path (caller unlinks) or 0 on failure. */
static int write_pem(const cg_cert *c, char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/cg_cert_test_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return 0;
    }
    int ok = PEM_write_X509(f, (X509 *)cg_cert_x509(c)) == 1;
    fclose(f);
    return ok;
}

/* Runs `openssl x509 -noout -fingerprint -<md> -in path` and copies the
 * text after '=' into out. */
static int openssl_fingerprint(const char *path, const char *md, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -%s -in '%s' 2>/dev/null", md,
             path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[512] = "";
    char *got = fgets(line, sizeof(line), p);
    int st = pclose(p);
    if (!got || st != 0)
        return 0;
    char *eq = strchr(line, '=');
    if (!eq)
        return 0;
    eq++;
    size_t n = strcspn(eq, "\r\n");
    if (n >= cap)
        return 0;
    memcpy(out, eq, n);
    out[n] = '\0';
    return 1;
}

static int fp_format_ok(const char *fp, size_t bytes)
{
    if (strlen(fp) != bytes * 3 - 1)
        return 0;
    for (size_t i = 0; i < bytes * 3 - 1; i++) {
        char ch = fp[i];
        if (i % 3 == 2) {
            if (ch != ':')
                return 0;
        } else if (!isxdigit((unsigned char)ch) || islower((unsigned char)ch)) {
            return 0;
        }
    }
    return 1;
}

static void test_fingerprint_format(void)
{
    cg_cert *c = NULL;
    CHECK_INT(cg_cert_new(&c), 0);
    if (!c)
        return;
    const char *fp = cg_cert_fingerprint(c);
    CHECK(fp_format_ok(fp, 32));
    /* Independent digest of the DER encoding. */
    unsigned char *der = NULL;
    int dl = i2d_X509((X509 *)cg_cert_x509(c), &der);
    CHECK(dl > 0);
    unsigned char md[32];
    unsigned int ml = 0;
    CHECK_INT(EVP_Digest(der, (size_t)dl, md, &ml, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    char hex[3];
    for (unsigned i = 0; i < ml; i++) {
        snprintf(hex, sizeof(hex), "%02X", md[i]);
        CHECK(fp[i * 3] == hex[0] && fp[i * 3 + 1] == hex[1]);
    }
    cg_cert_free(c);
}

static void test_matches_openssl_cli(void)
{
    cg_cert *c = NULL;
    CHECK_INT(cg_cert_new(&c), 0);
    if (!c)
        return;
    char path[256];
    CHECK(write_pem(c, path, sizeof(path)));
    static const struct {
        const char *alg, *cli;
        size_t bytes;
    } algs[] = {
        {"sha-256", "sha256", 32}, {"SHA-1", "sha1", 20},     {"sha-224", "sha224", 28},
        {"Sha-384", "sha384", 48}, {"sha-512", "sha512", 64},
    };
    char want[256], got[CG_CERT_FP_MAX];
    CHECK(openssl_fingerprint(path, "sha256", want, sizeof(want)));
    CHECK_STR(cg_cert_fingerprint(c), want);
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        CHECK(openssl_fingerprint(path, algs[i].cli, want, sizeof(want)));
        CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), algs[i].alg, got, sizeof(got)), 0);
        CHECK_STR(got, want);
        CHECK(fp_format_ok(got, algs[i].bytes));
    }
    unlink(path);
    cg_cert_free(c);
}

static void test_certificate_fields(void)
{
    cg_cert *a = NULL, *b = NULL;
    CHECK_INT(cg_cert_new(&a), 0);
    CHECK_INT(cg_cert_new(&b), 0);
    if (!a || !b)
        goto out;
    X509 *x = (X509 *)cg_cert_x509(a);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    CHECK(pub != NULL);
    CHECK_INT(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
    char group[64] = "";
    size_t gl = 0;
    CHECK_INT(EVP_PKEY_get_group_name(pub, group, sizeof(group), &gl), 1);
    CHECK_STR(group, "prime256v1");
    CHECK_INT(EVP_PKEY_get_bits(pub), 256);
    /* The private key belongs to the certificate. */
    CHECK_INT(X509_check_private_key(x, (EVP_PKEY *)cg_cert_pkey(a)), 1);
    /* Self-signed with ECDSA over SHA-256. */
    CHECK_INT(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    CHECK_INT(X509_verify(x, pub), 1);
    CHECK_INT(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    char cn[64] = "";
    CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
    CHECK_STR(cn, "clipgate");
    CHECK_INT(X509_get_version(x), 2); /* v3 */
    /* 30 days of validity starting a day ago. */
    int days = -1, secs = -1;
    CHECK_INT(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
    CHECK_INT(days, 30);
    CHECK_INT(secs, 0);
    CHECK(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
    CHECK(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
    /* Positive serial; two certificates differ in serial, key and hash. */
    const ASN1_INTEGER *sa = X509_get0_serialNumber(x);
    const ASN1_INTEGER *sb = X509_get0_serialNumber((X509 *)cg_cert_x509(b));
    uint64_t va = 0, vb = 0;
    CHECK_INT(ASN1_INTEGER_get_uint64(&va, sa), 1);
    CHECK_INT(ASN1_INTEGER_get_uint64(&vb, sb), 1);
    CHECK(va != 0 && va <= INT64_MAX);
    CHECK(va != vb);
    CHECK(strcmp(cg_cert_fingerprint(a), cg_cert_fingerprint(b)) != 0);
    CHECK(cg_cert_dtls_ctx(a) != NULL);
out:
    cg_cert_free(a);
    cg_cert_free(b);
}

static void test_fingerprint_errors(void)
{
    cg_cert *c = NULL;
    CHECK_INT(cg_cert_new(&c), 0);
    if (!c)
        return;
    char out[CG_CERT_FP_MAX];
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), "md5", out, sizeof(out)), CG_EUNSUPP);
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), "sha256", out, sizeof(out)), CG_EUNSUPP);
    /* 95 characters + NUL fit exactly in 96; 95 bytes are one short. */
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), "sha-256", out, 95), CG_ENOSPC);
    CHECK_STR(out, "");
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), "sha-256", out, 96), 0);
    CHECK_STR(out, cg_cert_fingerprint(c));
    CHECK_INT(cg_cert_fingerprint_x509(NULL, "sha-256", out, sizeof(out)), CG_EINVAL);
    CHECK_INT(cg_cert_fingerprint_x509(cg_cert_x509(c), NULL, out, sizeof(out)), CG_EINVAL);
    CHECK_INT(cg_cert_new(NULL), CG_EINVAL);
    cg_cert_free(NULL);
    cg_cert_free(c);
}

int main(void)
{
    RUN(test_fingerprint_format);
    RUN(test_matches_openssl_cli);
    RUN(test_certificate_fields);
    RUN(test_fingerprint_errors);
    return TEST_RESULT();
}
