/* rtc/srtp against known answers.
 *
 * libsrtp takes master keys and derives the session keys itself, so the
 * RFC 7714 section 16/17 vectors (given as session key and salt) cannot be
 * fed to it directly. The chain here is:
 *   1. a small reference implementation in this file (OpenSSL AES-CTR,
 *      AES-GCM, HMAC-SHA1) reproduces RFC 3711 B.2 (AES-CM keystream),
 *      RFC 3711 B.3 (key derivation) and RFC 7714 16.1.1 / 17.1.1 (GCM RTP
 *      and RTCP packets) exactly;
 *   2. cg_srtp_protect, given master keys, must produce byte for byte what
 *      that reference produces from the same master keys, and what
 *      libsrtp's own published reference packets (test/srtp_driver.c,
 *      srtp_validate and srtp_validate_gcm) say. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/err.h"
#include "rtc/srtp.h"
#include "cg_test.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F')
            v = *s - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            if (n < cap)
                out[n] = (uint8_t)(hi << 4 | v);
            n++;
            hi = -1;
        }
    }
    return n;
}

/* ---- reference SRTP (RFC 3711, RFC 7714) ---- */

static void aes_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                    size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv);
    EVP_EncryptUpdate(c, out, &l, in, (int)n);
    EVP_CIPHER_CTX_free(c);
}

/* RFC 3711 4.3.1 with key_derivation_rate 0: keystream of AES-CM under the
 * master key at IV (master_salt XOR label << 48) << 16. */
static void ref_kdf(const uint8_t key[16], const uint8_t *salt, size_t salt_len, uint8_t label,
                    uint8_t *out, size_t n)
{
    uint8_t iv[16] = {0};
    memcpy(iv, salt, salt_len);
    iv[7] ^= label;
    uint8_t zero[64] = {0};
    aes_ctr(key, iv, zero, out, n);
}

/* AES-CM SRTP (RFC 3711 4.1.1, 4.2): payload XOR keystream at IV
 * (salt << 16) ^ (SSRC << 64) ^ (index << 16), then HMAC-SHA1-80 over
 * header | ciphertext | ROC. Returns the protected length. */
static size_t ref_cm_rtp(const uint8_t key[16], const uint8_t salt[14], const uint8_t auth[20],
                         uint32_t roc, const uint8_t *pkt, size_t len, uint8_t *out)
{
    uint8_t iv[16] = {0};
    memcpy(iv, salt, 14);
    for (int i = 0; i < 4; i++)
        iv[4 + i] ^= pkt[8 + i];
    uint64_t index = ((uint64_t)roc << 16) | (uint64_t)(pkt[2] << 8 | pkt[3]);
    for (int i = 0; i < 6; i++)
        iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
    memcpy(out, pkt, 12);
    aes_ctr(key, iv, pkt + 12, out + 12, len - 12);
    uint8_t mac_in[2048];
    memcpy(mac_in, out, len);
    for (int i = 0; i < 4; i++)
        mac_in[len + i] = (uint8_t)(roc >> (24 - 8 * i));
    uint8_t md[20];
    unsigned ml = 0;
    HMAC(EVP_sha1(), auth, 20, mac_in, len + 4, md, &ml);
    memcpy(out + len, md, 10);
    return len + 10;
}

/* AES-CM SRTCP (RFC 3711 3.4): encrypt after the 8-byte header with the
 * SRTCP index as packet index, append E|index, then the tag over all. */
static size_t ref_cm_rtcp(const uint8_t key[16], const uint8_t salt[14], const uint8_t auth[20],
                          uint32_t index, const uint8_t *pkt, size_t len, uint8_t *out)
{
    uint8_t iv[16] = {0};
    memcpy(iv, salt, 14);
    for (int i = 0; i < 4; i++)
        iv[4 + i] ^= pkt[4 + i];
    for (int i = 0; i < 4; i++)
        iv[10 + i] ^= (uint8_t)(index >> (24 - 8 * i));
    memcpy(out, pkt, 8);
    aes_ctr(key, iv, pkt + 8, out + 8, len - 8);
    uint32_t ei = 0x80000000u | index;
    for (int i = 0; i < 4; i++)
        out[len + i] = (uint8_t)(ei >> (24 - 8 * i));
    uint8_t md[20];
    unsigned ml = 0;
    HMAC(EVP_sha1(), auth, 20, out, len + 4, md, &ml);
    memcpy(out + len + 4, md, 10);
    return len + 14;
}

static void gcm(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    EVP_EncryptInit_ex(c, NULL, NULL, key, iv);
    EVP_EncryptUpdate(c, NULL, &l, aad, (int)aad_len);
    EVP_EncryptUpdate(c, out, &l, in, (int)n);
    EVP_EncryptFinal_ex(c, out + l, &l);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(c);
}

/* RFC 7714 8.1 / 9.1: IV = (00 00 | SSRC | ROC | SEQ) XOR salt, AAD = the
 * RTP header (12 bytes here: no CSRC, no extension). */
static size_t ref_gcm_rtp(const uint8_t key[16], const uint8_t salt[12], uint32_t roc,
                          const uint8_t *pkt, size_t len, uint8_t *out)
{
    uint8_t iv[12] = {0};
    memcpy(iv + 2, pkt + 8, 4);
    for (int i = 0; i < 4; i++)
        iv[6 + i] = (uint8_t)(roc >> (24 - 8 * i));
    iv[10] = pkt[2];
    iv[11] = pkt[3];
    for (int i = 0; i < 12; i++)
        iv[i] ^= salt[i];
    memcpy(out, pkt, 12);
    gcm(key, iv, pkt, 12, pkt + 12, len - 12, out + 12, out + len);
    return len + 16;
}

/* RFC 7714 9.2 / 17: IV = (00 00 | SSRC | 00 00 | 0 | index) XOR salt,
 * AAD = the 8-byte header | E | index; E|index follows the tag. */
static size_t ref_gcm_rtcp(const uint8_t key[16], const uint8_t salt[12], uint32_t index,
                           const uint8_t *pkt, size_t len, uint8_t *out)
{
    uint8_t iv[12] = {0};
    memcpy(iv + 2, pkt + 4, 4);
    for (int i = 0; i < 4; i++)
        iv[8 + i] = (uint8_t)(index >> (24 - 8 * i));
    for (int i = 0; i < 12; i++)
        iv[i] ^= salt[i];
    uint8_t aad[12];
    memcpy(aad, pkt, 8);
    uint32_t ei = 0x80000000u | index;
    for (int i = 0; i < 4; i++)
        aad[8 + i] = (uint8_t)(ei >> (24 - 8 * i));
    memcpy(out, pkt, 8);
    gcm(key, iv, aad, 12, pkt + 8, len - 8, out + 8, out + len);
    memcpy(out + len + 16, aad + 8, 4);
    return len + 20;
}

/* ---- 1. the reference against the RFCs ---- */

static void test_reference_rfc3711(void)
{
    /* B.2: AES-CM keystream, SSRC 0, index 0. */
    uint8_t key[16], salt[14], ks[48], want[48], zero[48] = {0}, iv[16] = {0};
    unhex("2B7E151628AED2A6ABF7158809CF4F3C", key, 16);
    unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD", salt, 14);
    memcpy(iv, salt, 14);
    aes_ctr(key, iv, zero, ks, 48);
    unhex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB"
          "41E95B3BB0A2E8DD477901E4FCA894C0",
          want, 48);
    CHECK_MEM(ks, want, 48);

    /* B.3: key derivation. */
    uint8_t mk[16], ms[14], out[20], exp[20];
    unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, 16);
    unhex("0EC675AD498AFEEBB6960B3AABE6", ms, 14);
    ref_kdf(mk, ms, 14, 0x00, out, 16);
    unhex("C61E7A93744F39EE10734AFE3FF7A087", exp, 16);
    CHECK_MEM(out, exp, 16);
    ref_kdf(mk, ms, 14, 0x02, out, 14);
    unhex("30CBBC08863D8C85D49DB34A9AE1", exp, 14);
    CHECK_MEM(out, exp, 14);
    ref_kdf(mk, ms, 14, 0x01, out, 20);
    unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", exp, 20);
    CHECK_MEM(out, exp, 20);
}

static const char rfc7714_rtp[] =
    "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976"
    "69736120 696e2070 61727465 73207472 6573";
static const char rfc7714_rtcp[] =
    "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61"
    "deadbeef deadbeef deadbeef deadbeef deadbeef";

static void test_reference_rfc7714(void)
{
    uint8_t key[16], salt[12], pkt[128], out[160], want[160];
    unhex("000102030405060708090a0b0c0d0e0f", key, 16);
    unhex("517569642070726f2071756f", salt, 12);

    /* 16.1.1: AEAD_AES_128_GCM RTP, ROC 0. */
    size_t n = unhex(rfc7714_rtp, pkt, sizeof(pkt));
    CHECK_INT(n, 50);
    size_t wn = unhex("8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5"
                      "0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439"
                      "0cce",
                      want, sizeof(want));
    CHECK_INT(ref_gcm_rtp(key, salt, 0, pkt, n, out), wn);
    CHECK_MEM(out, want, wn);

    /* 17.1.1: AEAD_AES_128_GCM RTCP, SRTCP index 0x5d4. */
    n = unhex(rfc7714_rtcp, pkt, sizeof(pkt));
    CHECK_INT(n, 52);
    wn = unhex("81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d"
               "c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872"
               "45d9eade 800005d4",
               want, sizeof(want));
    CHECK_INT(ref_gcm_rtcp(key, salt, 0x5d4, pkt, n, out), wn);
    CHECK_MEM(out, want, wn);
}

/* ---- 2. cg_srtp against the reference and libsrtp's packets ---- */

static const char plain_rtp[] = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
static const char plain_rtcp[] = "81c8000b cafebabe abababab abababab abababab abababab";

static cg_srtp_keys keys_for(int profile, const char *key, const char *salt, int local)
{
    cg_srtp_keys k;
    memset(&k, 0, sizeof(k));
    k.profile = profile;
    k.key_len = 16;
    k.salt_len = profile == CG_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    /* The other direction gets unrelated keys so a mixed-up direction fails. */
    memset(local ? k.remote_key : k.local_key, 0x5a, 16);
    memset(local ? k.remote_salt : k.local_salt, 0xa5, 14);
    unhex(key, local ? k.local_key : k.remote_key, 16);
    unhex(salt, local ? k.local_salt : k.remote_salt, k.salt_len);
    return k;
}

/* Copies hex into an exactly sized heap buffer of len + room bytes so
 * ASan catches any write past what protect may use. */
static uint8_t *heap_pkt(const char *hex, size_t room, size_t *len)
{
    uint8_t tmp[256];
    *len = unhex(hex, tmp, sizeof(tmp));
    uint8_t *p = malloc(*len + room);
    memcpy(p, tmp, *len);
    return p;
}

static void test_aes_cm_known_answer(void)
{
    const char *mk = "e1f97a0d3e018be0d64fa32c06de4139", *ms = "0ec675ad498afeebb6960b3aabe6";
    cg_srtp_keys k = keys_for(CG_SRTP_AES128_CM_SHA1_80, mk, ms, 1);
    cg_srtp *tx = NULL, *rx = NULL;
    CHECK_INT(cg_srtp_new(&tx, &k), 0);
    cg_srtp_keys kr = keys_for(CG_SRTP_AES128_CM_SHA1_80, mk, ms, 0);
    CHECK_INT(cg_srtp_new(&rx, &kr), 0);
    if (!tx || !rx)
        goto out;
    CHECK_INT(cg_srtp_rtp_trailer(tx), 10);
    CHECK_INT(cg_srtp_rtcp_trailer(tx), 14);

    /* Session keys per the reference KDF (labels 0-2 SRTP, 3-5 SRTCP). */
    uint8_t m_key[16], m_salt[14], ek[16], es[14], ak[20], cek[16], ces[14], cak[20];
    unhex(mk, m_key, 16);
    unhex(ms, m_salt, 14);
    ref_kdf(m_key, m_salt, 14, 0, ek, 16);
    ref_kdf(m_key, m_salt, 14, 1, ak, 20);
    ref_kdf(m_key, m_salt, 14, 2, es, 14);
    ref_kdf(m_key, m_salt, 14, 3, cek, 16);
    ref_kdf(m_key, m_salt, 14, 4, cak, 20);
    ref_kdf(m_key, m_salt, 14, 5, ces, 14);

    size_t n;
    uint8_t *p = heap_pkt(plain_rtp, 10, &n);
    uint8_t ref[128], want[128];
    size_t rn = ref_cm_rtp(ek, es, ak, 0, p, n, ref);
    CHECK_INT(cg_srtp_protect(tx, p, &n, n + 10), 0);
    size_t wn = unhex("800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402"
                      "b78d6acc 99ea179b 8dbb",
                      want, sizeof(want));
    CHECK_INT(n, wn);
    CHECK_MEM(p, want, wn);
    CHECK_INT(rn, wn);
    CHECK_MEM(ref, want, wn);
    CHECK_INT(cg_srtp_unprotect(rx, p, &n), 0);
    CHECK_INT(n, 28);
    uint8_t plain[64];
    unhex(plain_rtp, plain, sizeof(plain));
    CHECK_MEM(p, plain, 28);
    free(p);

    p = heap_pkt(plain_rtcp, 14, &n);
    rn = ref_cm_rtcp(cek, ces, cak, 1, p, n, ref);
    CHECK_INT(cg_srtp_protect_rtcp(tx, p, &n, n + 14), 0);
    wn = unhex("81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001 993e08cd"
               "54d6c123 0798",
               want, sizeof(want));
    CHECK_INT(n, wn);
    CHECK_MEM(p, want, wn);
    CHECK_INT(rn, wn);
    CHECK_MEM(ref, want, wn);
    CHECK_INT(cg_srtp_unprotect_rtcp(rx, p, &n), 0);
    CHECK_INT(n, 24);
    unhex(plain_rtcp, plain, sizeof(plain));
    CHECK_MEM(p, plain, 24);
    free(p);
out:
    cg_srtp_free(tx);
    cg_srtp_free(rx);
}

static void test_gcm_known_answer(void)
{
    const char *mk = "000102030405060708090a0b0c0d0e0f", *ms = "a0a1a2a3a4a5a6a7a8a9aaab";
    cg_srtp_keys k = keys_for(CG_SRTP_AEAD_AES_128_GCM, mk, ms, 1);
    cg_srtp *tx = NULL, *rx = NULL;
    /* Debian's libsrtp2 is built on NSS: this is where a missing GCM shows. */
    CHECK_INT(cg_srtp_new(&tx, &k), 0);
    cg_srtp_keys kr = keys_for(CG_SRTP_AEAD_AES_128_GCM, mk, ms, 0);
    CHECK_INT(cg_srtp_new(&rx, &kr), 0);
    if (!tx || !rx)
        goto out;
    CHECK_INT(cg_srtp_rtp_trailer(tx), 16);
    CHECK_INT(cg_srtp_rtcp_trailer(tx), 20);

    /* RFC 7714 12: the KDF is the AES-CM PRF with the 96-bit master salt
     * (zero-padded); session salts are 96 bits. */
    uint8_t m_key[16], m_salt[12], ek[16], es[12], cek[16], ces[12];
    unhex(mk, m_key, 16);
    unhex(ms, m_salt, 12);
    ref_kdf(m_key, m_salt, 12, 0, ek, 16);
    ref_kdf(m_key, m_salt, 12, 2, es, 12);
    ref_kdf(m_key, m_salt, 12, 3, cek, 16);
    ref_kdf(m_key, m_salt, 12, 5, ces, 12);

    size_t n;
    uint8_t *p = heap_pkt(plain_rtp, 16, &n);
    uint8_t ref[128], want[128];
    size_t rn = ref_gcm_rtp(ek, es, 0, p, n, ref);
    CHECK_INT(cg_srtp_protect(tx, p, &n, n + 16), 0);
    size_t wn = unhex("800f1234 decafbad cafebabe c5002ede 04cfdd2e b91159e0 880aa06e"
                      "d2976826 f796b201 df3131a1 27e8a392",
                      want, sizeof(want));
    CHECK_INT(n, wn);
    CHECK_MEM(p, want, wn);
    CHECK_INT(rn, wn);
    CHECK_MEM(ref, want, wn);
    CHECK_INT(cg_srtp_unprotect(rx, p, &n), 0);
    CHECK_INT(n, 28);
    uint8_t plain[64];
    unhex(plain_rtp, plain, sizeof(plain));
    CHECK_MEM(p, plain, 28);
    free(p);

    p = heap_pkt(plain_rtcp, 20, &n);
    rn = ref_gcm_rtcp(cek, ces, 1, p, n, ref);
    CHECK_INT(cg_srtp_protect_rtcp(tx, p, &n, n + 20), 0);
    wn = unhex("81c8000b cafebabe c98b8b5d f0392a55 852b6c21 ac8e7025 c52c6fbe a2b3b446"
               "ea31123b a88ce61e 80000001",
               want, sizeof(want));
    CHECK_INT(n, wn);
    CHECK_MEM(p, want, wn);
    CHECK_INT(rn, wn);
    CHECK_MEM(ref, want, wn);
    CHECK_INT(cg_srtp_unprotect_rtcp(rx, p, &n), 0);
    CHECK_INT(n, 24);
    unhex(plain_rtcp, plain, sizeof(plain));
    CHECK_MEM(p, plain, 24);
    free(p);
out:
    cg_srtp_free(tx);
    cg_srtp_free(rx);
}

/* ---- 3. behaviour ---- */

/* Two ends of one session: a's local key is b's remote key and back, as
 * cg_dtls_srtp_keys hands them out on the two sides. */
static void pair(int profile, cg_srtp **a, cg_srtp **b)
{
    cg_srtp_keys ka, kb;
    memset(&ka, 0, sizeof(ka));
    ka.profile = profile;
    ka.key_len = 16;
    ka.salt_len = profile == CG_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    for (int i = 0; i < 16; i++) {
        ka.local_key[i] = (uint8_t)(i * 7 + 1);
        ka.remote_key[i] = (uint8_t)(i * 13 + 5);
    }
    for (int i = 0; i < 14; i++) {
        ka.local_salt[i] = (uint8_t)(0x30 + i);
        ka.remote_salt[i] = (uint8_t)(0x90 + i);
    }
    kb = ka;
    memcpy(kb.local_key, ka.remote_key, 16);
    memcpy(kb.remote_key, ka.local_key, 16);
    memcpy(kb.local_salt, ka.remote_salt, 14);
    memcpy(kb.remote_salt, ka.local_salt, 14);
    *a = *b = NULL;
    CHECK_INT(cg_srtp_new(a, &ka), 0);
    CHECK_INT(cg_srtp_new(b, &kb), 0);
}

/* RTP packet: V=2, optional CSRCs and one-byte-header extension. */
static size_t make_rtp(uint8_t *p, uint16_t seq, uint32_t ssrc, int csrcs, int ext, size_t payload)
{
    size_t o = 0;
    p[o++] = (uint8_t)(0x80 | (ext ? 0x10 : 0) | csrcs);
    p[o++] = 96;
    p[o++] = (uint8_t)(seq >> 8);
    p[o++] = (uint8_t)seq;
    for (int i = 0; i < 4; i++)
        p[o++] = (uint8_t)(seq * 3000u >> (24 - 8 * i));
    for (int i = 0; i < 4; i++)
        p[o++] = (uint8_t)(ssrc >> (24 - 8 * i));
    for (int c = 0; c < csrcs; c++)
        for (int i = 0; i < 4; i++)
            p[o++] = (uint8_t)(0x10 + c);
    if (ext) {
        static const uint8_t e[] = {0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00};
        memcpy(p + o, e, sizeof(e));
        o += sizeof(e);
    }
    for (size_t i = 0; i < payload; i++)
        p[o++] = (uint8_t)(i * 31 + seq);
    return o;
}

static void round_trip(int profile)
{
    cg_srtp *a, *b;
    pair(profile, &a, &b);
    if (!a || !b)
        goto out;
    size_t tr = cg_srtp_rtp_trailer(a);
    static const size_t sizes[] = {0, 1, 160, 1188};
    for (int dir = 0; dir < 2; dir++) {
        cg_srtp *tx = dir ? b : a, *rx = dir ? a : b;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            for (uint32_t ssrc = 0x1000; ssrc < 0x1003; ssrc++) {
                uint8_t plain[1300];
                size_t n = make_rtp(plain, (uint16_t)(100 + i), ssrc, (int)(ssrc & 3), (int)(i & 1),
                                    sizes[i]);
                uint8_t *p = malloc(n + tr);
                memcpy(p, plain, n);
                size_t len = n;
                CHECK_INT(cg_srtp_protect(tx, p, &len, n + tr), 0);
                CHECK_INT(len, n + tr);
                if (sizes[i] >= 16)
                    CHECK(memcmp(p + len - tr - 16, plain + n - 16, 16) != 0);
                CHECK_INT(cg_srtp_unprotect(rx, p, &len), 0);
                CHECK_INT(len, n);
                CHECK_MEM(p, plain, n);
                free(p);
            }
        }
        /* RTCP: a receiver report with one report block. */
        uint8_t rr[32] = {0x81, 0xc9, 0x00, 0x07, 0x00, 0x00, 0x10, 0x00};
        for (int i = 8; i < 32; i++)
            rr[i] = (uint8_t)i;
        size_t rtr = cg_srtp_rtcp_trailer(a);
        for (int k = 0; k < 3; k++) {
            uint8_t *p = malloc(sizeof(rr) + rtr);
            memcpy(p, rr, sizeof(rr));
            size_t len = sizeof(rr);
            CHECK_INT(cg_srtp_protect_rtcp(tx, p, &len, sizeof(rr) + rtr), 0);
            CHECK_INT(len, sizeof(rr) + rtr);
            CHECK_INT(cg_srtp_unprotect_rtcp(rx, p, &len), 0);
            CHECK_INT(len, sizeof(rr));
            CHECK_MEM(p, rr, sizeof(rr));
            free(p);
        }
    }
out:
    cg_srtp_free(a);
    cg_srtp_free(b);
}

static void test_round_trip_gcm(void)
{
    round_trip(CG_SRTP_AEAD_AES_128_GCM);
}
static void test_round_trip_aes_cm(void)
{
    round_trip(CG_SRTP_AES128_CM_SHA1_80);
}

static void tamper_and_replay(int profile)
{
    cg_srtp *a, *b;
    pair(profile, &a, &b);
    if (!a || !b)
        goto out;
    uint8_t p[256], saved[256];
    size_t n = make_rtp(p, 5000, 0xabc, 0, 0, 100), len = n;
    CHECK_INT(cg_srtp_protect(a, p, &len, sizeof(p)), 0);
    memcpy(saved, p, len);
    size_t slen = len;

    /* A flipped bit anywhere (header, payload, tag) fails authentication. */
    static const size_t spots[] = {1, 20, 111};
    for (size_t i = 0; i < 3; i++) {
        memcpy(p, saved, slen);
        len = slen;
        p[spots[i] < slen ? spots[i] : slen - 1] ^= 0x01;
        CHECK_INT(cg_srtp_unprotect(b, p, &len), CG_EAUTH);
    }
    /* A wrong key fails too: a's own inbound key is not b's outbound. */
    memcpy(p, saved, slen);
    len = slen;
    CHECK_INT(cg_srtp_unprotect(a, p, &len), CG_EAUTH);

    /* The genuine packet passes once; the replay is refused. */
    memcpy(p, saved, slen);
    len = slen;
    CHECK_INT(cg_srtp_unprotect(b, p, &len), 0);
    memcpy(p, saved, slen);
    len = slen;
    CHECK_INT(cg_srtp_unprotect(b, p, &len), CG_EPROTO);

    /* Reordering inside the window is fine; older than the window is not. */
    uint8_t q[256];
    n = make_rtp(q, 4990, 0xabc, 0, 0, 40);
    uint8_t late[256];
    memcpy(late, q, n);
    size_t late_len = n;
    CHECK_INT(cg_srtp_protect(a, late, &late_len, sizeof(late)), 0);
    uint8_t old[256];
    n = make_rtp(old, 5500, 0xabc, 0, 0, 40);
    size_t old_len = n;
    CHECK_INT(cg_srtp_protect(a, old, &old_len, sizeof(old)), 0);
    n = make_rtp(q, 7000, 0xabc, 0, 0, 40);
    len = n;
    CHECK_INT(cg_srtp_protect(a, q, &len, sizeof(q)), 0);
    /* The sender keeps the same window: it will not protect that far back. */
    uint8_t older[256];
    n = make_rtp(older, 5600, 0xabc, 0, 0, 40);
    size_t older_len = n;
    CHECK_INT(cg_srtp_protect(a, older, &older_len, sizeof(older)), CG_EPROTO);
    CHECK_INT(cg_srtp_unprotect(b, late, &late_len), 0);       /* 10 behind 5000 */
    CHECK_INT(cg_srtp_unprotect(b, q, &len), 0);               /* jump to 7000 */
    CHECK_INT(cg_srtp_unprotect(b, old, &old_len), CG_EPROTO); /* 1500 behind */

    /* Resending a packet with the same sequence number is allowed on the
     * sending side (answering a NACK) and yields the same bytes. */
    uint8_t r1[256], r2[256];
    n = make_rtp(r1, 7001, 0xabc, 0, 0, 40);
    memcpy(r2, r1, n);
    size_t l1 = n, l2 = n;
    CHECK_INT(cg_srtp_protect(a, r1, &l1, sizeof(r1)), 0);
    CHECK_INT(cg_srtp_protect(a, r2, &l2, sizeof(r2)), 0);
    CHECK_INT(l1, l2);
    CHECK_MEM(r1, r2, l1);

    /* RTCP: tamper, then replay. */
    uint8_t rr[64] = {0x80, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x0a, 0xbc};
    size_t rl = 8;
    CHECK_INT(cg_srtp_protect_rtcp(a, rr, &rl, sizeof(rr)), 0);
    uint8_t rsaved[64];
    memcpy(rsaved, rr, rl);
    size_t rsl = rl;
    rr[9] ^= 0x80;
    CHECK_INT(cg_srtp_unprotect_rtcp(b, rr, &rl), CG_EAUTH);
    memcpy(rr, rsaved, rsl);
    rl = rsl;
    CHECK_INT(cg_srtp_unprotect_rtcp(b, rr, &rl), 0);
    CHECK_INT(rl, 8);
    memcpy(rr, rsaved, rsl);
    rl = rsl;
    CHECK_INT(cg_srtp_unprotect_rtcp(b, rr, &rl), CG_EPROTO);
out:
    cg_srtp_free(a);
    cg_srtp_free(b);
}

static void test_tamper_and_replay_gcm(void)
{
    tamper_and_replay(CG_SRTP_AEAD_AES_128_GCM);
}
static void test_tamper_and_replay_aes_cm(void)
{
    tamper_and_replay(CG_SRTP_AES128_CM_SHA1_80);
}

static void test_space_and_malformed(void)
{
    cg_srtp *a, *b;
    pair(CG_SRTP_AEAD_AES_128_GCM, &a, &b);
    if (!a || !b)
        goto out;
    uint8_t p[128], copy[128];
    size_t n = make_rtp(p, 1, 1, 0, 0, 20), len = n;
    memcpy(copy, p, n);
    /* One byte short of the 16-byte tag: refused, packet untouched. */
    CHECK_INT(cg_srtp_protect(a, p, &len, n + 15), CG_ENOSPC);
    CHECK_INT(len, n);
    CHECK_MEM(p, copy, n);
    CHECK_INT(cg_srtp_protect(a, p, &len, n - 1), CG_EINVAL);
    uint8_t r[64] = {0x80, 0xc9, 0x00, 0x01, 0, 0, 0, 1};
    size_t rl = 8;
    CHECK_INT(cg_srtp_protect_rtcp(a, r, &rl, 8 + 19), CG_ENOSPC);

    /* Not RTP: version 1; CSRC count past the end; extension past the end. */
    len = n;
    p[0] = 0x40;
    CHECK_INT(cg_srtp_protect(a, p, &len, sizeof(p)), CG_EPROTO);
    p[0] = 0x8f; /* 15 CSRCs = 60 bytes, packet has 32 */
    CHECK_INT(cg_srtp_protect(a, p, &len, sizeof(p)), CG_EPROTO);
    p[0] = 0x90;
    p[12] = 0xbe;
    p[13] = 0xde;
    p[14] = 0x00;
    p[15] = 0x40; /* 64 words of extension */
    CHECK_INT(cg_srtp_protect(a, p, &len, sizeof(p)), CG_EPROTO);
    len = 11;
    p[0] = 0x80;
    CHECK_INT(cg_srtp_protect(a, p, &len, sizeof(p)), CG_EPROTO);
    /* Unprotect: shorter than header + tag; RTCP shorter than its trailer. */
    len = 12 + 15;
    CHECK_INT(cg_srtp_unprotect(b, p, &len), CG_EPROTO);
    rl = 8 + 19;
    CHECK_INT(cg_srtp_unprotect_rtcp(b, r, &rl), CG_EPROTO);
    rl = 4;
    CHECK_INT(cg_srtp_protect_rtcp(a, r, &rl, sizeof(r)), CG_EPROTO);
    CHECK_INT(cg_srtp_unprotect(NULL, p, &len), CG_EINVAL);
out:
    cg_srtp_free(a);
    cg_srtp_free(b);
}

static void test_bad_keys(void)
{
    cg_srtp_keys k;
    memset(&k, 0, sizeof(k));
    cg_srtp *s = NULL;
    k.profile = CG_SRTP_AEAD_AES_128_GCM;
    k.key_len = 16;
    k.salt_len = 14; /* GCM salts are 12 bytes */
    CHECK_INT(cg_srtp_new(&s, &k), CG_EINVAL);
    k.profile = CG_SRTP_AES128_CM_SHA1_80;
    k.salt_len = 12;
    CHECK_INT(cg_srtp_new(&s, &k), CG_EINVAL);
    k.profile = 2; /* AES128_CM_SHA1_32: never negotiated */
    CHECK_INT(cg_srtp_new(&s, &k), CG_EUNSUPP);
    CHECK_INT(cg_srtp_new(NULL, &k), CG_EINVAL);
    CHECK(s == NULL);
    cg_srtp_free(NULL);
}

int main(void)
{
    RUN(test_reference_rfc3711);
    RUN(test_reference_rfc7714);
    RUN(test_aes_cm_known_answer);
    RUN(test_gcm_known_answer);
    RUN(test_round_trip_gcm);
    RUN(test_round_trip_aes_cm);
    RUN(test_tamper_and_replay_gcm);
    RUN(test_tamper_and_replay_aes_cm);
    RUN(test_space_and_malformed);
    RUN(test_bad_keys);
    return TEST_RESULT();
}
