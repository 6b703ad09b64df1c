/* RTCP iteration and builders against packets written by aiortc's RTCP
 * classes from fixed values, RTCP that two aiortc peers really exchanged
 * (tests/fixtures/rtcp, see make_fixtures.py there), and RFC 3550 / 4585 /
 * 5104 layouts built by hand. */
#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "cg_test.h"

static uint8_t *load(const char *rel, size_t *n)
{
    uint8_t *p = (uint8_t *)cg_test_read_file(rel, n);
    if (!p)
        fprintf(stderr, "missing fixture %s\n", rel);
    return p;
}

static cg_rtcp_pkt pkt; /* large: keep it off the stack */

static void test_aiortc_sr_sdes(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtcp/aiortc_sr_sdes.bin", &n);
    if (!p)
        return;
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, p, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_SR);
    CHECK_INT(pkt.count_or_fmt, 1);
    CHECK_INT(pkt.sender_ssrc, 0x11223344);
    CHECK(pkt.ntp == 0xE8F0A1B2C3D4E5F6ull);
    CHECK_INT(pkt.rtp_ts, 0xFFFFFF00u);
    CHECK_INT(pkt.packet_count, 1234);
    CHECK_INT(pkt.octet_count, 567890);
    CHECK_INT(pkt.n_reports, 1);
    CHECK_INT(pkt.reports[0].ssrc, 0x55667788);
    CHECK_INT(pkt.reports[0].fraction_lost, 25);
    CHECK_INT(pkt.reports[0].cumulative_lost, -3);
    CHECK_INT(pkt.reports[0].ext_highest_seq, 0x0001FFFE);
    CHECK_INT(pkt.reports[0].jitter, 42);
    CHECK_INT(pkt.reports[0].lsr, 0xA1B2C3D4u);
    CHECK_INT(pkt.reports[0].dlsr, 65536);
    CHECK(pkt.raw == p);
    CHECK_INT(pkt.raw_len, 52);

    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_SDES);
    CHECK_INT(pkt.count_or_fmt, 1);
    CHECK_INT(pkt.sender_ssrc, 0x11223344);
    CHECK_INT(pkt.cname_len, 19);
    CHECK(pkt.cname && memcmp(pkt.cname, "clipgate-test-cname", 19) == 0);
    CHECK_INT(pkt.raw_len, 32);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);

    /* Our builders produce the same bytes. */
    uint8_t out[128];
    cg_wr w;
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_report_block rb = {0x55667788, 25, -3, 0x0001FFFE, 42, 0xA1B2C3D4, 65536};
    cg_rtcp_build_sr(&w, 0x11223344, 0xE8F0A1B2C3D4E5F6ull, 0xFFFFFF00u, 1234, 567890, &rb, 1);
    cg_rtcp_build_sdes_cname(&w, 0x11223344, "clipgate-test-cname");
    CHECK_INT(cg_wr_err(&w), 0);
    CHECK_INT(cg_wr_len(&w), n);
    CHECK(cg_wr_len(&w) == n && memcmp(out, p, n) == 0);

    /* Every truncation of the compound: the SR fails (ETRUNC) until it is
     * complete, then the SDES does. */
    for (size_t k = 1; k < n; k++) {
        cg_rtcp_iter_init(&it, p, k);
        int rc = cg_rtcp_next(&it, &pkt);
        if (k < 52) {
            CHECK_INT(rc, CG_ETRUNC);
        } else {
            CHECK_INT(rc, 0);
            CHECK_INT(cg_rtcp_next(&it, &pkt), k == 52 ? CG_ENOTFOUND : CG_ETRUNC);
        }
    }
    free(p);
}

static void test_aiortc_rr(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtcp/aiortc_rr.bin", &n);
    if (!p)
        return;
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, p, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_RR);
    CHECK_INT(pkt.sender_ssrc, 0x0A0B0C0D);
    CHECK_INT(pkt.n_reports, 2);
    CHECK_INT(pkt.reports[0].ssrc, 0x11223344);
    CHECK_INT(pkt.reports[0].fraction_lost, 64);
    CHECK_INT(pkt.reports[0].cumulative_lost, 100);
    CHECK_INT(pkt.reports[0].ext_highest_seq, 0x00030010);
    CHECK_INT(pkt.reports[0].jitter, 900);
    CHECK_INT(pkt.reports[0].lsr, 0xB2C3D4E5u);
    CHECK_INT(pkt.reports[0].dlsr, 32768);
    CHECK_INT(pkt.reports[1].ssrc, 0x99AABBCC);
    CHECK_INT(pkt.reports[1].cumulative_lost, -8388608);
    CHECK_INT(pkt.reports[1].ext_highest_seq, 7);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);

    uint8_t out[128];
    cg_wr w;
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_report_block rb[2] = {
        {0x11223344, 64, 100, 0x00030010, 900, 0xB2C3D4E5, 32768},
        {0x99AABBCC, 0, -9000000 /* clamps to -2^23 */, 7, 0, 0, 0},
    };
    cg_rtcp_build_rr(&w, 0x0A0B0C0D, rb, 2);
    CHECK(cg_wr_len(&w) == n && memcmp(out, p, n) == 0);
    free(p);
}

/* The NACK from the brief: [100, 101, 105, 116, 117, 300] packs into
 * (PID 100, BLP 0x8011: +1, +5, +16), (117, 0), (300, 0). */
static void test_nack_pack(void)
{
    const uint16_t seqs[] = {100, 101, 105, 116, 117, 300};
    uint8_t out[64];
    cg_wr w;
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_nack(&w, 0x0A0B0C0D, 0x11223344, seqs, 6);
    CHECK_INT(cg_wr_err(&w), 0);
    const uint8_t want[24] = {0x81, 0xcd, 0x00, 0x05, 0x0a, 0x0b, 0x0c, 0x0d,
                              0x11, 0x22, 0x33, 0x44, 0x00, 0x64, 0x80, 0x11,
                              0x00, 0x75, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x00};
    CHECK_INT(cg_wr_len(&w), 24);
    CHECK_MEM(out, want, 24);

    size_t n;
    uint8_t *p = load("tests/fixtures/rtcp/aiortc_nack.bin", &n);
    if (p) {
        CHECK(n == 24 && memcmp(p, want, 24) == 0);
        free(p);
    }

    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, out, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_RTPFB);
    CHECK_INT(pkt.count_or_fmt, CG_RTCP_FMT_NACK);
    CHECK_INT(pkt.sender_ssrc, 0x0A0B0C0D);
    CHECK_INT(pkt.media_ssrc, 0x11223344);
    CHECK_INT(pkt.n_nack, 6);
    for (size_t i = 0; i < 6 && i < pkt.n_nack; i++)
        CHECK_INT(pkt.nack[i], seqs[i]);
    CHECK_INT(pkt.nack_truncated, 0);

    /* Across the wrap: 65535, 0, 1 is one pair with BLP 0b11. */
    const uint16_t wrap[] = {65535, 0, 1, 1};
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_nack(&w, 1, 2, wrap, 4);
    CHECK_INT(cg_wr_len(&w), 16);
    CHECK_INT(cg_load_u16(out + 2), 3);
    CHECK_INT(cg_load_u16(out + 12), 65535);
    CHECK_INT(cg_load_u16(out + 14), 0x0003);

    /* Unsorted input is still correct, just looser. */
    const uint16_t unsorted[] = {105, 100, 101};
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_nack(&w, 1, 2, unsorted, 3);
    cg_rtcp_iter_init(&it, out, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.n_nack, 3);
    CHECK_INT(pkt.nack[0], 105);
    CHECK_INT(pkt.nack[1], 100);
    CHECK_INT(pkt.nack[2], 101);

    /* Nothing to NACK: nothing written. */
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_nack(&w, 1, 2, seqs, 0);
    CHECK_INT(cg_wr_len(&w), 0);
    /* Does not fit: sticky ENOSPC. */
    cg_wr_init(&w, out, 20);
    cg_rtcp_build_nack(&w, 1, 2, seqs, 6);
    CHECK_INT(cg_wr_err(&w), CG_ENOSPC);
}

static void test_nack_expansion_bound(void)
{
    /* 16 pairs with every BLP bit set expand to 272 > 256 entries. */
    uint8_t buf[12 + 16 * 4];
    cg_wr w;
    cg_wr_init(&w, buf, sizeof(buf));
    cg_wr_u8(&w, 0x81);
    cg_wr_u8(&w, CG_RTCP_RTPFB);
    cg_wr_u16(&w, 2 + 16);
    cg_wr_u32(&w, 1);
    cg_wr_u32(&w, 2);
    for (int i = 0; i < 16; i++) {
        cg_wr_u16(&w, (uint16_t)(i * 17));
        cg_wr_u16(&w, 0xffff);
    }
    CHECK_INT(cg_wr_err(&w), 0);
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, buf, sizeof(buf));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.n_nack, 256);
    CHECK_INT(pkt.nack_truncated, 1);
    for (int i = 0; i < 256; i++)
        CHECK_INT(pkt.nack[i], i);
}

/* RFC 4585 6.3.1 PLI: FMT 1, PT 206, length 2. RFC 5104 4.3.1 FIR: FMT 4,
 * length 4, media SSRC 0 in the header, target SSRC + seq in the FCI. */
static void test_pli_fir_bye_exact(void)
{
    uint8_t out[64];
    cg_wr w;
    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_pli(&w, 0x0A0B0C0D, 0x11223344);
    const uint8_t pli[12] = {0x81, 0xce, 0x00, 0x02, 0x0a, 0x0b,
                             0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44};
    CHECK_INT(cg_wr_len(&w), 12);
    CHECK_MEM(out, pli, 12);
    size_t n;
    uint8_t *p = load("tests/fixtures/rtcp/aiortc_pli.bin", &n);
    if (p) {
        CHECK(n == 12 && memcmp(p, pli, 12) == 0);
        free(p);
    }

    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_fir(&w, 0x0A0B0C0D, 0x11223344, 7);
    const uint8_t fir[20] = {0x84, 0xce, 0x00, 0x04, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0,
                             0,    0,    0x11, 0x22, 0x33, 0x44, 0x07, 0,    0, 0};
    CHECK_INT(cg_wr_len(&w), 20);
    CHECK_MEM(out, fir, 20);
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, out, 20);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_PSFB);
    CHECK_INT(pkt.count_or_fmt, CG_RTCP_FMT_FIR);
    CHECK_INT(pkt.media_ssrc, 0);
    CHECK_INT(pkt.fir_ssrc, 0x11223344);
    CHECK_INT(pkt.fir_seq, 7);
    /* A FIR without its FCI is malformed. */
    uint8_t shortfir[12];
    memcpy(shortfir, fir, 12);
    shortfir[3] = 2;
    cg_rtcp_iter_init(&it, shortfir, 12);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);

    cg_wr_init(&w, out, sizeof(out));
    cg_rtcp_build_bye(&w, 0x11223344);
    p = load("tests/fixtures/rtcp/aiortc_bye.bin", &n);
    if (p) {
        CHECK(n == cg_wr_len(&w) && memcmp(p, out, n) == 0);
        free(p);
    }
    cg_rtcp_iter_init(&it, out, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_BYE);
    CHECK_INT(pkt.sender_ssrc, 0x11223344);
}

/* aiortc's pack_remb_fci(2500000, [...]): exponent 4, mantissa 156250. */
static void test_remb(void)
{
    size_t n;
    uint8_t *p = load("tests/fixtures/rtcp/aiortc_remb.bin", &n);
    if (!p)
        return;
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, p, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_PSFB);
    CHECK_INT(pkt.count_or_fmt, CG_RTCP_FMT_AFB);
    CHECK_INT(pkt.sender_ssrc, 0x0A0B0C0D);
    CHECK_INT(pkt.is_remb, 1);
    CHECK_INT(pkt.remb_bps, 2500000);
    /* Exponent 63 with a full mantissa saturates instead of wrapping. */
    p[17] = 0xff;
    p[18] = 0xff;
    p[19] = 0xff;
    cg_rtcp_iter_init(&it, p, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK(pkt.remb_bps == UINT64_MAX);
    /* Another application feedback is not REMB. */
    p[12] = 'X';
    cg_rtcp_iter_init(&it, p, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.is_remb, 0);
    CHECK_INT(pkt.remb_bps, 0);
    free(p);
}

/* What aiortc really sent: SR + SDES from the sender, RR and NACK from the
 * receiver, BYE at close. Values are random per capture, so check the
 * structure and that the packets agree with each other and with the
 * captured RTP. */
static void test_captured(void)
{
    size_t n;
    cg_rtcp_iter it;
    uint32_t sender = 0;
    uint8_t *p = load("tests/fixtures/rtcp/capture_to_receiver_sr_sdes.bin", &n);
    if (p) {
        cg_rtcp_iter_init(&it, p, n);
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, CG_RTCP_SR);
        CHECK_INT(pkt.n_reports, 0);
        CHECK(pkt.packet_count > 0);
        CHECK(pkt.octet_count > pkt.packet_count);
        /* NTP seconds of the capture: after 2020 (era 0). */
        CHECK(cg_ntp_to_wall_us(pkt.ntp) > 1577836800ull * 1000000);
        sender = pkt.sender_ssrc;
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, CG_RTCP_SDES);
        CHECK_INT(pkt.sender_ssrc, sender);
        CHECK_INT(pkt.cname_len, 36); /* a UUID */
        CHECK(pkt.cname && pkt.cname[8] == '-' && pkt.cname[13] == '-');
        CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
        free(p);
    }
    p = load("tests/fixtures/rtcp/capture_to_sender_rr.bin", &n);
    if (p) {
        cg_rtcp_iter_init(&it, p, n);
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, CG_RTCP_RR);
        CHECK_INT(pkt.n_reports, 1);
        /* aiortc's receiver reports on the stream the SR described. */
        CHECK_INT(pkt.reports[0].ssrc, sender);
        CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
        free(p);
    }
    size_t on;
    uint8_t *orig = load("tests/fixtures/rtp/capture_rtx_orig.bin", &on);
    p = load("tests/fixtures/rtcp/capture_to_sender_rtpfb1.bin", &n);
    if (p && orig) {
        cg_rtp_hdr h;
        CHECK_INT(cg_rtp_parse(&h, orig, on), 0);
        cg_rtcp_iter_init(&it, p, n);
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, CG_RTCP_RTPFB);
        CHECK_INT(pkt.count_or_fmt, CG_RTCP_FMT_NACK);
        CHECK_INT(pkt.media_ssrc, h.ssrc);
        int found = 0;
        for (size_t i = 0; i < pkt.n_nack; i++)
            found |= pkt.nack[i] == h.seq;
        CHECK(found);
    }
    free(p);
    free(orig);
    p = load("tests/fixtures/rtcp/capture_to_receiver_bye.bin", &n);
    if (p) {
        cg_rtcp_iter_init(&it, p, n);
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, CG_RTCP_BYE);
        CHECK_INT(pkt.count_or_fmt, 1);
        free(p);
    }
}

/* RFC 3550 6.1 compound built by hand: a padded RR with no blocks, an SDES
 * with two chunks (CNAME + NAME, then CNAME only), a BYE with two SSRCs
 * and a reason, an APP packet, an XR, an unknown type (195) and a
 * transport-wide CC feedback (RTPFB FMT 15). */
static void test_rfc3550_layouts(void)
{
    uint8_t buf[256];
    cg_wr w;
    cg_wr_init(&w, buf, sizeof(buf));
    /* RR, RC 0, P bit, 4 bytes of padding. */
    cg_wr_u8(&w, 0xa0);
    cg_wr_u8(&w, CG_RTCP_RR);
    cg_wr_u16(&w, 2);
    cg_wr_u32(&w, 0xaaaaaaaa);
    cg_wr_u8(&w, 0);
    cg_wr_u8(&w, 0);
    cg_wr_u8(&w, 0);
    cg_wr_u8(&w, 4);
    size_t sdes_at = cg_wr_len(&w);
    /* SDES: chunk 1 = 4 + (2+3 "abc") + (2+2 "xy") + 1 null = 14 -> 16;
     * chunk 2 = 4 + (2+1 "d") + 1 null = 8. */
    cg_wr_u8(&w, 0x82);
    cg_wr_u8(&w, CG_RTCP_SDES);
    cg_wr_u16(&w, 6);
    cg_wr_u32(&w, 0xbbbbbbbb);
    cg_wr_bytes(&w,
                "\x01\x03"
                "abc"
                "\x02\x02"
                "xy"
                "\x00\x00\x00",
                12);
    cg_wr_u32(&w, 0xcccccccc);
    cg_wr_bytes(&w,
                "\x01\x01"
                "d"
                "\x00",
                4);
    /* BYE: SC 2, reason "bye" (length byte + text + pad). */
    cg_wr_u8(&w, 0x82);
    cg_wr_u8(&w, CG_RTCP_BYE);
    cg_wr_u16(&w, 3);
    cg_wr_u32(&w, 0xdddddddd);
    cg_wr_u32(&w, 0xeeeeeeee);
    cg_wr_bytes(&w,
                "\x03"
                "bye",
                4);
    /* APP subtype 5, name "CLIP", 4 bytes of data. */
    cg_wr_u8(&w, 0x85);
    cg_wr_u8(&w, CG_RTCP_APP);
    cg_wr_u16(&w, 3);
    cg_wr_u32(&w, 0x12345678);
    cg_wr_bytes(&w, "CLIP", 4);
    cg_wr_u32(&w, 0xfeedface);
    /* XR with an empty report list. */
    cg_wr_u8(&w, 0x80);
    cg_wr_u8(&w, CG_RTCP_XR);
    cg_wr_u16(&w, 1);
    cg_wr_u32(&w, 0x87654321);
    /* Unknown type 195 (RFC 5450 IJ), one word of body. */
    cg_wr_u8(&w, 0x81);
    cg_wr_u8(&w, 195);
    cg_wr_u16(&w, 1);
    cg_wr_u32(&w, 0x00000001);
    /* transport-cc: RTPFB FMT 15, SSRCs then an opaque FCI. */
    cg_wr_u8(&w, 0x8f);
    cg_wr_u8(&w, CG_RTCP_RTPFB);
    cg_wr_u16(&w, 3);
    cg_wr_u32(&w, 0x01010101);
    cg_wr_u32(&w, 0x02020202);
    cg_wr_u32(&w, 0x00050001);
    CHECK_INT(cg_wr_err(&w), 0);
    size_t n = cg_wr_len(&w);

    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, buf, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_RR);
    CHECK_INT(pkt.sender_ssrc, 0xaaaaaaaa);
    CHECK_INT(pkt.n_reports, 0);
    CHECK_INT(pkt.raw_len, 12);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_SDES);
    CHECK(pkt.raw == buf + sdes_at);
    CHECK_INT(pkt.count_or_fmt, 2);
    CHECK_INT(pkt.sender_ssrc, 0xbbbbbbbb);
    CHECK(pkt.cname_len == 3 && memcmp(pkt.cname, "abc", 3) == 0);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_BYE);
    CHECK_INT(pkt.count_or_fmt, 2);
    CHECK_INT(pkt.sender_ssrc, 0xdddddddd);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_APP);
    CHECK_INT(pkt.count_or_fmt, 5);
    CHECK_INT(pkt.sender_ssrc, 0x12345678);
    CHECK_INT(pkt.raw_len, 16);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_XR);
    CHECK_INT(pkt.sender_ssrc, 0x87654321);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, 195);
    CHECK_INT(pkt.sender_ssrc, 0);
    CHECK_INT(pkt.raw_len, 8);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_RTPFB);
    CHECK_INT(pkt.count_or_fmt, 15);
    CHECK_INT(pkt.sender_ssrc, 0x01010101);
    CHECK_INT(pkt.media_ssrc, 0x02020202);
    CHECK_INT(pkt.n_nack, 0);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);

    /* SDES item running past its packet. */
    uint8_t bad[64];
    memcpy(bad, buf + sdes_at, 28);
    bad[9] = 40;
    cg_rtcp_iter_init(&it, bad, 28);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    /* SC 3 with two chunks present. */
    memcpy(bad, buf + sdes_at, 28);
    bad[0] = 0x83;
    cg_rtcp_iter_init(&it, bad, 28);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
}

static void test_malformed(void)
{
    uint8_t buf[128];
    cg_wr w;
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_report_block rb = {1, 2, 3, 4, 5, 6, 7};
    cg_rtcp_build_rr(&w, 9, &rb, 1);
    cg_rtcp_build_pli(&w, 1, 2);
    size_t n = cg_wr_len(&w);
    CHECK_INT(n, 44);
    cg_rtcp_iter it;

    uint8_t bad[128];
    memcpy(bad, buf, n);
    bad[0] = 0x41; /* version 1 */
    cg_rtcp_iter_init(&it, bad, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    /* The iterator stays on the bad packet. */
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);

    /* RC 2 with room for one block. */
    memcpy(bad, buf, n);
    bad[0] = 0x82;
    cg_rtcp_iter_init(&it, bad, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);

    /* Length field past the data. */
    memcpy(bad, buf, n);
    bad[3] = 8;
    cg_rtcp_iter_init(&it, bad, 32);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ETRUNC);
    cg_rtcp_iter_init(&it, bad, 3);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ETRUNC);

    /* A good first packet, then garbage: first returned, then the error. */
    memcpy(bad, buf, n);
    bad[32] = 0x00;
    cg_rtcp_iter_init(&it, bad, n);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.type, CG_RTCP_RR);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);

    /* Padding: count 0; count bigger than the body; count eating the SSRC
     * of a PLI (body too short for its type). */
    memcpy(bad, buf + 32, 12);
    bad[0] |= 0x20;
    bad[11] = 0;
    cg_rtcp_iter_init(&it, bad, 12);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    bad[11] = 9;
    cg_rtcp_iter_init(&it, bad, 12);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    bad[11] = 4;
    cg_rtcp_iter_init(&it, bad, 12);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    /* Padding on a zero-length packet. */
    const uint8_t empty_pad[4] = {0xa0, CG_RTCP_RR, 0, 0};
    cg_rtcp_iter_init(&it, empty_pad, 4);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    /* RR without its SSRC; BYE with SC 2 and one SSRC; APP without name. */
    const uint8_t rr0[4] = {0x80, CG_RTCP_RR, 0, 0};
    cg_rtcp_iter_init(&it, rr0, 4);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    const uint8_t bye[8] = {0x82, CG_RTCP_BYE, 0, 1, 1, 2, 3, 4};
    cg_rtcp_iter_init(&it, bye, 8);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    const uint8_t app[8] = {0x80, CG_RTCP_APP, 0, 1, 1, 2, 3, 4};
    cg_rtcp_iter_init(&it, app, 8);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_EPROTO);
    /* BYE with SC 0 is legal (RFC 3550 6.6). */
    const uint8_t bye0[4] = {0x80, CG_RTCP_BYE, 0, 0};
    cg_rtcp_iter_init(&it, bye0, 4);
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
    /* Empty input. */
    cg_rtcp_iter_init(&it, NULL, 0);
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
}

static void test_builders(void)
{
    uint8_t buf[1024];
    cg_wr w;
    /* 31 blocks fit the 5-bit count, 32 do not. */
    cg_rtcp_report_block blocks[32];
    for (int i = 0; i < 32; i++) {
        blocks[i] = (cg_rtcp_report_block){(uint32_t)i, (uint8_t)i, i - 16, (uint32_t)i * 1000,
                                           (uint32_t)i, 0,          0};
    }
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_rr(&w, 5, blocks, 32);
    CHECK_INT(cg_wr_err(&w), CG_EINVAL);
    CHECK_INT(cg_wr_len(&w), 0);
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_sr(&w, 5, 1, 2, 3, 4, blocks, 31);
    CHECK_INT(cg_wr_err(&w), 0);
    CHECK_INT(cg_wr_len(&w), 28 + 31 * 24);
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, buf, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.n_reports, 31);
    CHECK_INT(pkt.reports[30].cumulative_lost, 14);
    CHECK_INT(pkt.reports[0].cumulative_lost, -16);
    CHECK_INT(pkt.reports[30].ext_highest_seq, 30000);

    /* CNAME lengths 0..4 cover every padding amount; the chunk always ends
     * with at least one null byte. */
    const char *names[] = {"", "a", "ab", "abc", "abcd"};
    const size_t want_len[] = {12, 12, 16, 16, 16};
    for (int i = 0; i < 5; i++) {
        cg_wr_init(&w, buf, sizeof(buf));
        cg_rtcp_build_sdes_cname(&w, 0x01020304, names[i]);
        CHECK_INT(cg_wr_len(&w), want_len[i]);
        CHECK_INT(buf[cg_wr_len(&w) - 1], 0);
        cg_rtcp_iter_init(&it, buf, cg_wr_len(&w));
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.cname_len, strlen(names[i]));
        CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
    }
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[299] = 0;
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_sdes_cname(&w, 1, longname);
    CHECK_INT(cg_wr_err(&w), CG_EINVAL);
    longname[255] = 0;
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_sdes_cname(&w, 1, longname);
    CHECK_INT(cg_wr_err(&w), 0);
    CHECK_INT(cg_wr_len(&w), 4 + 264);

    /* A compound RR + SDES + NACK + PLI + FIR + BYE walks back in order. */
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_rr(&w, 7, blocks, 1);
    cg_rtcp_build_sdes_cname(&w, 7, "cg");
    const uint16_t lost[] = {10, 12};
    cg_rtcp_build_nack(&w, 7, 8, lost, 2);
    cg_rtcp_build_pli(&w, 7, 8);
    cg_rtcp_build_fir(&w, 7, 8, 3);
    cg_rtcp_build_bye(&w, 7);
    CHECK_INT(cg_wr_err(&w), 0);
    const uint8_t types[] = {CG_RTCP_RR,   CG_RTCP_SDES, CG_RTCP_RTPFB,
                             CG_RTCP_PSFB, CG_RTCP_PSFB, CG_RTCP_BYE};
    cg_rtcp_iter_init(&it, buf, cg_wr_len(&w));
    size_t total = 0;
    for (size_t i = 0; i < sizeof(types); i++) {
        CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
        CHECK_INT(pkt.type, types[i]);
        CHECK_INT(pkt.raw_len % 4, 0);
        total += pkt.raw_len;
        if (i == 2) {
            CHECK_INT(pkt.n_nack, 2);
            CHECK_INT(pkt.nack[1], 12);
        }
    }
    CHECK_INT(total, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), CG_ENOTFOUND);
}

static void test_ntp(void)
{
    /* Unix epoch = NTP 2208988800 s. */
    CHECK(cg_ntp_from_wall_us(0) == 2208988800ull << 32);
    /* 2000-01-01T00:00:00.5Z: Unix 946684800 s, NTP 3155673600 s, half a
     * second = 0x80000000. */
    uint64_t us = 946684800ull * 1000000 + 500000;
    CHECK(cg_ntp_from_wall_us(us) == ((3155673600ull << 32) | 0x80000000ull));
    CHECK(cg_ntp_to_wall_us((3155673600ull << 32) | 0x80000000ull) == us);
    CHECK_INT(cg_ntp_mid32((3155673600ull << 32) | 0x80000000ull), 0xC2008000u);
    /* Round trips are exact to the microsecond. */
    uint64_t x = 1700000000123456ull;
    for (int i = 0; i < 2000; i++) {
        CHECK(cg_ntp_to_wall_us(cg_ntp_from_wall_us(x)) == x);
        x += 999983; /* walk every sub-second offset class */
    }
    for (uint64_t f = 0; f < 1000000; f += 7919)
        CHECK(cg_ntp_to_wall_us(cg_ntp_from_wall_us(1600000000000000ull + f)) ==
              1600000000000000ull + f);
    /* Era 1: 2040-01-01 (Unix 2208988800 s) has NTP seconds 4417977600,
     * which wraps to 123010304 on the wire. */
    uint64_t y2040 = 2208988800ull * 1000000;
    CHECK(cg_ntp_from_wall_us(y2040) >> 32 == 123010304ull);
    CHECK(cg_ntp_to_wall_us(cg_ntp_from_wall_us(y2040)) == y2040);
    /* Before 1970 cannot be represented. */
    CHECK(cg_ntp_to_wall_us(2208988799ull << 32) == 0);
}

int main(void)
{
    RUN(test_aiortc_sr_sdes);
    RUN(test_aiortc_rr);
    RUN(test_nack_pack);
    RUN(test_nack_expansion_bound);
    RUN(test_pli_fir_bye_exact);
    RUN(test_remb);
    RUN(test_captured);
    RUN(test_rfc3550_layouts);
    RUN(test_malformed);
    RUN(test_builders);
    RUN(test_ntp);
    return TEST_RESULT();
}
