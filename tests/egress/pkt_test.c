/* egress/pkt: refcounting, parsed offsets and H.264 keyframe flags on real
 * payloads. */
#include "cg_test.h"
#include "core/err.h"
#include "egress/pkt.h"
#include "rtc/rtp.h"

static void test_parse_capture(void)
{
    size_t n = 0;
    uint8_t *raw = (uint8_t *)cg_test_read_file("tests/fixtures/rtp/capture_video.bin", &n);
    CHECK(raw != NULL);
    if (!raw)
        return;
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, raw, n), 0);
    cg_pkt *p = NULL;
    CHECK_INT(cg_pkt_new(&p, raw, n, 0, 1234), 0);
    raw[h.header_len] ^= 0xff; /* the packet holds its own copy */
    CHECK_INT(p->len, n);
    CHECK_INT(p->payload_off, h.header_len);
    CHECK_INT(p->payload_len, h.payload_len);
    CHECK_INT(p->seq, h.seq);
    CHECK_INT(p->ts, h.ts);
    CHECK_INT(p->ssrc, h.ssrc);
    CHECK_INT(p->pt, h.pt);
    CHECK_INT(p->arrival_us, 1234);
    CHECK_INT(cg_pkt_payload(p)[0], (uint8_t)(raw[h.header_len] ^ 0xff));
    CHECK(cg_pkt_ref(p) == p);
    CHECK(cg_pkt_unref(p) == NULL);
    CHECK(cg_pkt_unref(p) == NULL); /* last one frees: ASan reports a leak otherwise */
    CHECK(cg_pkt_unref(NULL) == NULL);
    free(raw);
}

static void test_bad_input(void)
{
    uint8_t junk[8] = {0x80};
    cg_pkt *p = (cg_pkt *)1;
    CHECK_INT(cg_pkt_new(&p, junk, sizeof(junk), 0, 0), CG_ETRUNC);
    CHECK(p == (cg_pkt *)1);
    uint8_t v1[12] = {0x40};
    CHECK_INT(cg_pkt_new(&p, v1, sizeof(v1), 0, 0), CG_EPROTO);
    CHECK_INT(cg_pkt_new(NULL, v1, sizeof(v1), 0, 0), CG_EINVAL);
}

static void test_h264_flags(void)
{
    const uint8_t idr[] = {0x65, 0x88, 0x84};
    const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1f};
    const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
    const uint8_t slice[] = {0x41, 0x9a, 0x00};
    CHECK_INT(cg_pkt_h264_flags(idr, sizeof(idr)), CG_PKT_IDR);
    CHECK_INT(cg_pkt_h264_flags(sps, sizeof(sps)), CG_PKT_SPS);
    CHECK_INT(cg_pkt_h264_flags(pps, sizeof(pps)), CG_PKT_PPS);
    CHECK_INT(cg_pkt_h264_flags(slice, sizeof(slice)), 0);
    /* STAP-A: SPS + PPS + IDR */
    const uint8_t stap[] = {0x78, 0,    4,    0x67, 0x42, 0xc0, 0x1f, 0,    4,
                            0x68, 0xce, 0x3c, 0x80, 0,    3,    0x65, 0x88, 0x84};
    CHECK_INT(cg_pkt_h264_flags(stap, sizeof(stap)), CG_PKT_SPS | CG_PKT_PPS | CG_PKT_IDR);
    /* STAP-A whose second size overruns: only the first NAL counts. */
    const uint8_t stap_bad[] = {0x78, 0, 4, 0x68, 0xce, 0x3c, 0x80, 0, 9, 0x65, 0x88};
    CHECK_INT(cg_pkt_h264_flags(stap_bad, sizeof(stap_bad)), CG_PKT_PPS);
    /* FU-A of an IDR: start, middle, end; of a non-IDR slice. */
    const uint8_t fu_s[] = {0x7c, 0x85, 0x88}, fu_m[] = {0x7c, 0x05, 0x00},
                  fu_e[] = {0x7c, 0x45, 0x00}, fu_p[] = {0x5c, 0x81, 0x9a};
    CHECK_INT(cg_pkt_h264_flags(fu_s, sizeof(fu_s)), CG_PKT_IDR);
    CHECK_INT(cg_pkt_h264_flags(fu_m, sizeof(fu_m)), CG_PKT_IDR_PART);
    CHECK_INT(cg_pkt_h264_flags(fu_e, sizeof(fu_e)), CG_PKT_IDR_PART);
    CHECK_INT(cg_pkt_h264_flags(fu_p, sizeof(fu_p)), 0);
    CHECK_INT(cg_pkt_h264_flags(fu_s, 1), 0);
    CHECK_INT(cg_pkt_h264_flags(NULL, 0), 0);
}

int main(void)
{
    RUN(test_parse_capture);
    RUN(test_bad_input);
    RUN(test_h264_flags);
    return TEST_RESULT();
}
