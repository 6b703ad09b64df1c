/* RTP parse/build, RFC 8285 header extensions and RFC 4588 RTX, against
 * packets written by aiortc (tests/fixtures/rtp, see
 * tests/fixtures/rtcp/make_fixtures.py) and the RFC 8285 figures. */
#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtp.h"
#include "cg_test.h"

static uint8_t *load(const char *rel, size_t *n)
{
    uint8_t *p = (uint8_t *)cg_test_read_file(rel, n);
    if (!p)
        fprintf(stderr, "missing fixture %s\n", rel);
    return p;
}

static void test_build_parse_round_trip(void)
{
    const uint8_t payload[] = {0xde, 0xad, 0xbe, 0xef, 0x01};
    uint8_t out[64];
    size_t len = 0;
    CHECK_INT(cg_rtp_build(out, sizeof(out), &len, 96, 1, 0xabcd, 0x01020304, 0xcafebabe, payload,
                           sizeof(payload)),
              0);
    CHECK_INT(len, 17);
    const uint8_t hdr[12] = {0x80, 0xe0, 0xab, 0xcd, 0x01, 0x02,
                             0x03, 0x04, 0xca, 0xfe, 0xba, 0xbe};
    CHECK_MEM(out, hdr, 12);
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, out, len), 0);
    CHECK_INT(h.version, 2);
    CHECK_INT(h.padding, 0);
    CHECK_INT(h.extension, 0);
    CHECK_INT(h.csrc_count, 0);
    CHECK_INT(h.marker, 1);
    CHECK_INT(h.pt, 96);
    CHECK_INT(h.seq, 0xabcd);
    CHECK_INT(h.ts, 0x01020304);
    CHECK_INT(h.ssrc, 0xcafebabe);
    CHECK_INT(h.header_len, 12);
    CHECK_INT(h.payload_len, 5);
    CHECK(h.payload == out + 12);
    /* Marker off, empty payload. */
    CHECK_INT(cg_rtp_build(out, sizeof(out), &len, 111, 0, 0, 0, 1, NULL, 0), 0);
    CHECK_INT(len, 12);
    CHECK_INT(out[1], 111);
    CHECK_INT(cg_rtp_parse(&h, out, len), 0);
    CHECK_INT(h.payload_len, 0);
    /* Errors. */
    CHECK_INT(cg_rtp_build(out, 16, &len, 96, 0, 1, 2, 3, payload, 5), CG_ENOSPC);
    CHECK_INT(cg_rtp_build(out, sizeof(out), &len, 128, 0, 1, 2, 3, payload, 5), CG_EINVAL);
}

/* aiortc: pt 99, marker, seq 65535, two CSRCs, one-byte extensions mid=1
 * "0", abs-send-time=2 0x123456, transport-cc=3 0x0102, 4 bytes padding. */
static void test_aiortc_one_byte(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtp/aiortc_onebyte.bin", &n);
    if (!p)
        return;
    CHECK_INT(n, 46);
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, p, n), 0);
    CHECK_INT(h.padding, 1);
    CHECK_INT(h.extension, 1);
    CHECK_INT(h.csrc_count, 2);
    CHECK_INT(h.marker, 1);
    CHECK_INT(h.pt, 99);
    CHECK_INT(h.seq, 65535);
    CHECK_INT(h.ts, 0xdeadbeef);
    CHECK_INT(h.ssrc, 0x11223344);
    CHECK_INT(cg_load_u32(p + 12), 0x01020304);
    CHECK_INT(cg_load_u32(p + 16), 0x05060708);
    CHECK_INT(h.ext_profile, 0xBEDE);
    CHECK_INT(h.ext_len, 12);
    CHECK_INT(h.header_len, 36);
    CHECK_INT(h.padding_len, 4);
    CHECK_INT(h.payload_len, 6);
    const uint8_t payload[] = {0x65, 0x88, 0x84, 0x00, 0x21, 0xff};
    CHECK_MEM(h.payload, payload, 6);

    const uint8_t *v = NULL;
    size_t vl = 0;
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(vl, 1);
    CHECK(v && v[0] == '0');
    CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), 0);
    CHECK_INT(vl, 3);
    CHECK(v && v[0] == 0x12 && v[1] == 0x34 && v[2] == 0x56);
    CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), 0);
    CHECK_INT(vl, 2);
    CHECK(v && cg_load_u16(v) == 0x0102);
    CHECK_INT(cg_rtp_ext_find(&h, 4, &v, &vl), CG_ENOTFOUND);
    CHECK_INT(cg_rtp_ext_find(&h, 0, &v, &vl), CG_ENOTFOUND);
    CHECK_INT(cg_rtp_ext_find(&h, 15, &v, &vl), CG_ENOTFOUND);

    /* Every truncation fails: inside the header it is ETRUNC; after it the
     * last byte read as a padding count is 0 or too big. */
    for (size_t k = 0; k < n; k++) {
        int rc = cg_rtp_parse(&h, p, k);
        if (k < 36)
            CHECK_INT(rc, CG_ETRUNC);
        else
            CHECK_INT(rc, CG_EPROTO);
    }
    free(p);
}

/* aiortc switches to the two-byte form for a value over 16 bytes. */
static void test_aiortc_two_byte(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtp/aiortc_twobyte.bin", &n);
    if (!p)
        return;
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, p, n), 0);
    CHECK_INT(h.pt, 111);
    CHECK_INT(h.seq, 4660);
    CHECK_INT(h.ts, 960);
    CHECK_INT(h.ext_profile, 0x1000);
    CHECK_INT(h.payload_len, 3);
    const uint8_t *v = NULL;
    size_t vl = 0;
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(vl, 21);
    CHECK(v && memcmp(v, "audio-with-a-long-mid", 21) == 0);
    CHECK_INT(cg_rtp_ext_find(&h, 10, &v, &vl), 0);
    CHECK_INT(vl, 2);
    CHECK(v && memcmp(v, "hi", 2) == 0);
    CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), CG_ENOTFOUND);
    free(p);
}

/* A 12-byte header with the X bit, then ext (profile + body). */
static size_t with_ext(uint8_t *out, uint16_t profile, const uint8_t *body, size_t body_len,
                       const uint8_t *payload, size_t plen)
{
    cg_wr w;
    cg_wr_init(&w, out, 256);
    cg_wr_u8(&w, 0x90);
    cg_wr_u8(&w, 96);
    cg_wr_u16(&w, 1);
    cg_wr_u32(&w, 2);
    cg_wr_u32(&w, 3);
    cg_wr_u16(&w, profile);
    cg_wr_u16(&w, (uint16_t)(body_len / 4));
    cg_wr_bytes(&w, body, body_len);
    cg_wr_bytes(&w, payload, plen);
    return cg_wr_len(&w);
}

/* RFC 8285 4.2 and 4.3 figures, filled in with IDs 1, 2, 3. */
static void test_rfc8285_examples(void)
{
    uint8_t pkt[256];
    cg_rtp_hdr h;
    const uint8_t *v;
    size_t vl;
    const uint8_t pl[] = {0xaa};

    /* One-byte: ID=1 L=0 (1 byte), ID=2 L=1 (2 bytes), two pad bytes,
     * ID=3 L=3 (4 bytes): length = 3 words. */
    const uint8_t one[12] = {0x10, 0x41, 0x21, 0x42, 0x43, 0x00,
                             0x00, 0x33, 0x44, 0x45, 0x46, 0x47};
    size_t n = with_ext(pkt, 0xBEDE, one, sizeof(one), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(h.header_len, 28);
    CHECK_INT(h.payload_len, 1);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(vl, 1);
    CHECK_INT(v[0], 0x41);
    CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), 0);
    CHECK_INT(vl, 2);
    CHECK_INT(v[1], 0x43);
    CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), 0);
    CHECK_INT(vl, 4);
    CHECK_INT(v[0], 0x44);
    CHECK_INT(v[3], 0x47);

    /* Two-byte: ID=1 L=0, ID=2 L=1, one pad byte, ID=3 L=4. */
    const uint8_t two[12] = {0x01, 0x00, 0x02, 0x01, 0x42, 0x00,
                             0x03, 0x04, 0x44, 0x45, 0x46, 0x47};
    n = with_ext(pkt, 0x1000, two, sizeof(two), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(vl, 0);
    CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), 0);
    CHECK_INT(vl, 1);
    CHECK_INT(v[0], 0x42);
    CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), 0);
    CHECK_INT(vl, 4);
    CHECK_INT(cg_load_u32(v), 0x44454647);
    /* Low 4 "appbits" of the profile do not change the form. */
    n = with_ext(pkt, 0x100f, two, sizeof(two), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), 0);

    /* One-byte ID 15 ends processing: ID 2 after it is not seen. */
    const uint8_t stop[4] = {0x10, 0x41, 0xf0, 0x20};
    n = with_ext(pkt, 0xBEDE, stop, sizeof(stop), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), CG_ENOTFOUND);

    /* An element running past the block: the one before it is found, the
     * lookup past it is an error. */
    const uint8_t over[4] = {0x10, 0x41, 0x2f, 0x00};
    n = with_ext(pkt, 0xBEDE, over, sizeof(over), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), CG_EPROTO);
    const uint8_t over2[4] = {0x05, 0x00, 0x07, 0x09};
    n = with_ext(pkt, 0x1000, over2, sizeof(over2), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 5, &v, &vl), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 8, &v, &vl), CG_EPROTO);

    /* Another profile is not ours to read; no extension at all. */
    n = with_ext(pkt, 0x1234, one, sizeof(one), pl, 1);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), CG_ENOTFOUND);
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 96, 0, 1, 2, 3, pl, 1), 0);
    CHECK_INT(cg_rtp_parse(&h, pkt, n), 0);
    CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), CG_ENOTFOUND);
}

static void test_malformed(void)
{
    uint8_t pkt[64];
    size_t n;
    cg_rtp_hdr h;
    const uint8_t pl[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 96, 0, 1, 2, 3, pl, sizeof(pl)), 0);
    for (size_t k = 0; k < 12; k++)
        CHECK_INT(cg_rtp_parse(&h, pkt, k), CG_ETRUNC);

    uint8_t bad[64];
    memcpy(bad, pkt, n);
    bad[0] = 0x40; /* version 1 */
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_EPROTO);
    bad[0] = 0x00; /* version 0 */
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_EPROTO);

    /* CC = 3 needs 12 bytes of CSRC; 8 payload bytes are not enough. */
    memcpy(bad, pkt, n);
    bad[0] = 0x83;
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_ETRUNC);
    bad[0] = 0x82; /* CC = 2: the 8 bytes are the CSRCs, payload empty */
    CHECK_INT(cg_rtp_parse(&h, bad, n), 0);
    CHECK_INT(h.payload_len, 0);

    /* X bit with a length of 2 words but only 4 bytes after the profile. */
    memcpy(bad, pkt, n);
    bad[0] = 0x90;
    bad[12] = 0xbe;
    bad[13] = 0xde;
    bad[14] = 0x00;
    bad[15] = 0x02;
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_ETRUNC);
    bad[15] = 0x01; /* fits exactly: empty payload */
    CHECK_INT(cg_rtp_parse(&h, bad, n), 0);
    CHECK_INT(h.payload_len, 0);
    CHECK_INT(cg_rtp_parse(&h, bad, 14), CG_ETRUNC); /* profile itself cut */

    /* Padding: count 0, count bigger than the payload, count == payload. */
    memcpy(bad, pkt, n);
    bad[0] = 0xa0;
    bad[n - 1] = 0;
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_EPROTO);
    bad[n - 1] = 9;
    CHECK_INT(cg_rtp_parse(&h, bad, n), CG_EPROTO);
    bad[n - 1] = 8;
    CHECK_INT(cg_rtp_parse(&h, bad, n), 0);
    CHECK_INT(h.payload_len, 0);
    CHECK_INT(h.padding_len, 8);
    bad[n - 1] = 3;
    CHECK_INT(cg_rtp_parse(&h, bad, n), 0);
    CHECK_INT(h.payload_len, 5);
    /* Padding bit on a header-only packet: the count byte would be header. */
    CHECK_INT(cg_rtp_parse(&h, bad, 12), CG_EPROTO);
}

/* aiortc's wrap_rtx of the one-byte packet: pt 100, ssrc 0x99AABBCC,
 * seq 7, padding dropped, CSRCs and extensions kept. */
static void test_rtx_aiortc(void)
{
    size_t on, rn;
    uint8_t *orig = load("tests/fixtures/rtp/aiortc_onebyte.bin", &on);
    uint8_t *rtx = load("tests/fixtures/rtp/aiortc_rtx.bin", &rn);
    if (!orig || !rtx) {
        free(orig);
        free(rtx);
        return;
    }
    uint8_t out[256];
    size_t len = 0;
    CHECK_INT(cg_rtp_rtx_wrap(orig, on, 100, 0x99AABBCC, 7, out, sizeof(out), &len), 0);
    CHECK_INT(len, rn);
    CHECK(len == rn && memcmp(out, rtx, rn) == 0);

    /* Unwrap gives the original without its padding. */
    uint8_t expect[64];
    memcpy(expect, orig, on - 4);
    expect[0] &= (uint8_t)~0x20;
    CHECK_INT(cg_rtp_rtx_unwrap(rtx, rn, 99, 0x11223344, out, sizeof(out), &len), 0);
    CHECK_INT(len, on - 4);
    CHECK(len == on - 4 && memcmp(out, expect, len) == 0);
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, out, len), 0);
    CHECK_INT(h.seq, 65535);
    CHECK_INT(h.marker, 1);

    /* Too small an output buffer. */
    CHECK_INT(cg_rtp_rtx_unwrap(rtx, rn, 99, 0x11223344, out, len - 1, &len), CG_ENOSPC);
    CHECK_INT(cg_rtp_rtx_wrap(orig, on, 100, 1, 7, out, rn - 1, &len), CG_ENOSPC);
    CHECK_INT(cg_rtp_rtx_wrap(orig, on, 200, 1, 7, out, sizeof(out), &len), CG_EINVAL);
    free(orig);
    free(rtx);
}

/* A retransmission aiortc really sent after our NACK, and the packet it
 * repairs (captured before it was dropped on purpose). */
static void test_rtx_captured(void)
{
    size_t on, rn;
    uint8_t *orig = load("tests/fixtures/rtp/capture_rtx_orig.bin", &on);
    uint8_t *rtx = load("tests/fixtures/rtp/capture_rtx.bin", &rn);
    if (!orig || !rtx) {
        free(orig);
        free(rtx);
        return;
    }
    cg_rtp_hdr ho, hr;
    CHECK_INT(cg_rtp_parse(&ho, orig, on), 0);
    CHECK_INT(cg_rtp_parse(&hr, rtx, rn), 0);
    CHECK(ho.pt != hr.pt);
    CHECK(ho.ssrc != hr.ssrc);
    CHECK_INT(hr.ts, ho.ts);
    CHECK_INT(rn, on + 2);
    CHECK_INT(cg_load_u16(hr.payload), ho.seq);
    uint8_t out[2048];
    size_t len = 0;
    CHECK_INT(cg_rtp_rtx_unwrap(rtx, rn, ho.pt, ho.ssrc, out, sizeof(out), &len), 0);
    CHECK(len == on && memcmp(out, orig, on) == 0);
    CHECK_INT(cg_rtp_rtx_wrap(orig, on, hr.pt, hr.ssrc, hr.seq, out, sizeof(out), &len), 0);
    CHECK(len == rn && memcmp(out, rtx, rn) == 0);
    /* The repaired packet carries mid "0" like the rest of the video. */
    const uint8_t *v;
    size_t vl;
    CHECK_INT(cg_rtp_ext_find(&ho, 1, &v, &vl), 0);
    CHECK(vl == 1 && v[0] == '0');
    free(orig);
    free(rtx);
}

static void test_rtx_edge_cases(void)
{
    uint8_t pkt[64], out[64];
    size_t n, len;
    /* libwebrtc's padding-only probe on the RTX stream: no OSN. */
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 97, 0, 9, 10, 11, NULL, 0), 0);
    memset(pkt + n, 0, 3);
    pkt[n + 3] = 4;
    pkt[0] |= 0x20;
    CHECK_INT(cg_rtp_rtx_unwrap(pkt, n + 4, 96, 1, out, sizeof(out), &len), CG_ETRUNC);
    /* One payload byte is not an OSN either. */
    const uint8_t one = 0x12;
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 97, 0, 9, 10, 11, &one, 1), 0);
    CHECK_INT(cg_rtp_rtx_unwrap(pkt, n, 96, 1, out, sizeof(out), &len), CG_ETRUNC);
    /* OSN only: the original had an empty payload. */
    const uint8_t osn[2] = {0x12, 0x34};
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 97, 1, 9, 10, 11, osn, 2), 0);
    CHECK_INT(cg_rtp_rtx_unwrap(pkt, n, 96, 0x0a0b0c0d, out, sizeof(out), &len), 0);
    CHECK_INT(len, 12);
    const uint8_t want[12] = {0x80, 0xe0, 0x12, 0x34, 0, 0, 0, 10, 0x0a, 0x0b, 0x0c, 0x0d};
    CHECK_MEM(out, want, 12);
    /* Unparsable input passes the parser's code through. */
    CHECK_INT(cg_rtp_rtx_unwrap(pkt, 5, 96, 1, out, sizeof(out), &len), CG_ETRUNC);
    /* Round trip on a plain packet, wrapping the sequence number. */
    const uint8_t pl[5] = {9, 8, 7, 6, 5};
    uint8_t w[64];
    size_t wl;
    CHECK_INT(cg_rtp_build(pkt, sizeof(pkt), &n, 96, 0, 0xffff, 1234, 42, pl, 5), 0);
    CHECK_INT(cg_rtp_rtx_wrap(pkt, n, 97, 43, 0, w, sizeof(w), &wl), 0);
    CHECK_INT(wl, n + 2);
    CHECK_INT(cg_rtp_rtx_unwrap(w, wl, 96, 42, out, sizeof(out), &len), 0);
    CHECK(len == n && memcmp(out, pkt, n) == 0);
}

/* Real packets from aiortc: mid in extension 1 on both, audio level on 3. */
static void test_captured_media(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtp/capture_audio.bin", &n);
    if (p) {
        cg_rtp_hdr h;
        CHECK_INT(cg_rtp_parse(&h, p, n), 0);
        CHECK_INT(h.pt, 96);
        CHECK_INT(h.ext_profile, 0xBEDE);
        const uint8_t *v;
        size_t vl;
        CHECK_INT(cg_rtp_ext_find(&h, 1, &v, &vl), 0);
        CHECK(vl == 1 && v[0] == '1');
        CHECK_INT(cg_rtp_ext_find(&h, 3, &v, &vl), 0);
        CHECK(vl == 1 && v[0] == 0x7f); /* silence: -127 dBov, no voice */
        CHECK_INT(h.payload_len, 3);
        free(p);
    }
    p = load("tests/fixtures/rtp/capture_video.bin", &n);
    if (p) {
        cg_rtp_hdr h;
        CHECK_INT(cg_rtp_parse(&h, p, n), 0);
        CHECK_INT(h.pt, 97);
        CHECK_INT(h.header_len, 24);
        CHECK_INT(h.payload_len, n - 24);
        const uint8_t *v;
        size_t vl;
        CHECK_INT(cg_rtp_ext_find(&h, 2, &v, &vl), 0); /* abs-send-time */
        CHECK_INT(vl, 3);
        free(p);
    }
}

/* Forward across the wrap, back a little, and a jump of half the range. */
static void test_ts_extend(void)
{
    cg_rtp_ts_ext e = {0};
    CHECK(cg_rtp_ts_extend(&e, 0xfffffc18u) == 0xfffffc18ll);
    CHECK(cg_rtp_ts_extend(&e, 0x000003e8u) == 0x1000003e8ll);
    CHECK(cg_rtp_ts_extend(&e, 0xffffffffu) == 0xffffffffll);
    CHECK(cg_rtp_ts_extend(&e, 0x7ffffffeu) == 0x17ffffffell);
    CHECK(cg_rtp_ts_extend(&e, 0xfffffffeu) == 0xfffffffell);
}

int main(void)
{
    RUN(test_build_parse_round_trip);
    RUN(test_aiortc_one_byte);
    RUN(test_aiortc_two_byte);
    RUN(test_rfc8285_examples);
    RUN(test_malformed);
    RUN(test_rtx_aiortc);
    RUN(test_rtx_captured);
    RUN(test_rtx_edge_cases);
    RUN(test_captured_media);
    RUN(test_ts_extend);
    return TEST_RESULT();
}
