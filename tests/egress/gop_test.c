/* egress/gop: keyframe detection on real H.264 RTP (SPS-led single NAL
 * units, STAP-A, FU-A IDR start without SPS, single-NAL IDR, multi-slice
 * IDRs), reset on the next keyframe, bounds and snapshots. */
#include "cg_test.h"
#include "core/err.h"
#include "egress/gop.h"
#include "h264_rtp.h"

static int load(tstream *s, const char *rel)
{
    if (tstream_load(s, rel) != 0) {
        fprintf(stderr, "missing fixture %s\n", rel);
        cg_test_failures++;
        return -1;
    }
    return 0;
}

/* Pushes z's packets [from, to) and counts the ones kept. */
static size_t push_range(cg_gop *g, const rtpz *z, size_t from, size_t to)
{
    size_t kept = 0;
    for (size_t i = from; i < to; i++)
        kept += cg_gop_push(g, z->pkts[i]) == 0;
    return kept;
}

static void check_snapshot_is(cg_gop *g, const rtpz *z, size_t first, size_t end)
{
    cg_gop_snap snap;
    CHECK_INT(cg_gop_snapshot(g, &snap), 0);
    CHECK_INT(snap.n, end - first);
    for (size_t i = 0; i < snap.n && first + i < end; i++)
        CHECK(snap.pkts[i] == z->pkts[first + i]);
    cg_gop_snap_release(&snap);
}

static void run_mode(int mode)
{
    tstream s;
    if (load(&s, "tests/fixtures/h264/baseline_640x360.h264"))
        return;
    CHECK_INT(s.n_au, 60);
    CHECK(s.au[0].has_idr && s.au[30].has_idr);
    rtpz z = {.seq = 65000, .ssrc = 0x11223344, .ts0 = 4294960000u};
    rtpz_pack(&z, &s, 0, s.n_au, mode);
    const cg_pkt *first = z.pkts[0];
    if (mode == RTPZ_SINGLE) {
        CHECK_INT(cg_pkt_payload(first)[0] & 0x1f, 7);
        CHECK_INT(first->flags, CG_PKT_SPS);
        CHECK_INT(z.pkts[1]->flags, CG_PKT_PPS);
    } else {
        CHECK_INT(cg_pkt_payload(first)[0] & 0x1f, 24);
        CHECK(first->flags & CG_PKT_SPS);
    }
    cg_gop *g = NULL;
    CHECK_INT(cg_gop_new(&g, 2000, 8u << 20), 0);
    size_t k30 = z.au_first[30];
    CHECK_INT(push_range(g, &z, 0, k30), k30);
    check_snapshot_is(g, &z, 0, k30);
    CHECK_INT(push_range(g, &z, k30, z.n), z.n - k30);
    check_snapshot_is(g, &z, k30, z.n);
    cg_gop_stats st;
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.keyframes, 2);
    CHECK_INT(st.packets, z.n - k30);
    CHECK_INT(st.overflows, 0);
    cg_gop_free(g);
    rtpz_free(&z);
    tstream_free(&s);
}

static void test_sps_led_single_nal(void)
{
    run_mode(RTPZ_SINGLE);
}
static void test_stap_a(void)
{
    run_mode(RTPZ_STAP);
}

/* Join before any keyframe, then a keyframe whose SPS/PPS were lost: the
 * IDR's FU-A start fragment begins the GOP on its own. */
static void test_fu_a_idr_without_sps(void)
{
    tstream s;
    if (load(&s, "tests/fixtures/h264/baseline_640x360.h264"))
        return;
    rtpz z = {.seq = 100, .ssrc = 1};
    rtpz_pack(&z, &s, 0, s.n_au, RTPZ_SINGLE);
    cg_gop *g = NULL;
    CHECK_INT(cg_gop_new(&g, 2000, 8u << 20), 0);
    size_t k30 = z.au_first[30];
    /* mid-GOP: no keyframe yet, nothing kept */
    for (size_t i = z.au_first[5]; i < k30; i++)
        CHECK_INT(cg_gop_push(g, z.pkts[i]), CG_EAGAIN);
    check_snapshot_is(g, &z, 0, 0);
    /* skip SPS and PPS */
    size_t idr = k30 + 2;
    CHECK_INT(cg_pkt_payload(z.pkts[idr])[0] & 0x1f, 28);
    CHECK_INT(z.pkts[idr]->flags, CG_PKT_IDR);
    CHECK_INT(z.pkts[idr + 1]->flags, CG_PKT_IDR_PART);
    CHECK_INT(push_range(g, &z, idr, z.n), z.n - idr);
    check_snapshot_is(g, &z, idr, z.n);
    cg_gop_free(g);
    rtpz_free(&z);
    tstream_free(&s);
}

static cg_pkt *mk(uint16_t seq, uint32_t ts, const uint8_t *pl, size_t n)
{
    uint8_t buf[256];
    size_t len = 0;
    cg_rtp_build(buf, sizeof(buf), &len, 102, 1, seq, ts, 7, pl, n);
    cg_pkt *p = NULL;
    cg_pkt_new(&p, buf, len, cg_pkt_h264_flags(pl, n), 0);
    return p;
}

static void test_single_nal_idr(void)
{
    const uint8_t pslice[] = {0x41, 0x9a, 0x02, 0x03}, idr[] = {0x65, 0x88, 0x84, 0x00};
    cg_gop *g = NULL;
    CHECK_INT(cg_gop_new(&g, 100, 10000), 0);
    cg_pkt *p[6] = {mk(1, 0, pslice, 4),    mk(2, 3000, idr, 4),  mk(3, 6000, pslice, 4),
                    mk(4, 9000, pslice, 4), mk(5, 12000, idr, 4), mk(6, 15000, pslice, 4)};
    CHECK_INT(cg_gop_push(g, p[0]), CG_EAGAIN);
    for (int i = 1; i < 6; i++)
        CHECK_INT(cg_gop_push(g, p[i]), 0);
    cg_gop_snap snap;
    CHECK_INT(cg_gop_snapshot(g, &snap), 0);
    CHECK_INT(snap.n, 2);
    if (snap.n == 2)
        CHECK(snap.pkts[0] == p[4] && snap.pkts[1] == p[5]);
    /* the snapshot outlives the GOP and the caller's references */
    cg_gop_free(g);
    for (int i = 0; i < 6; i++)
        cg_pkt_unref(p[i]);
    if (snap.n == 2)
        CHECK_INT(snap.pkts[1]->seq, 6);
    cg_gop_snap_release(&snap);
    cg_gop_snap_release(&snap);
}

/* OBS-like multi-slice IDRs: four FU-A starts per keyframe, one GOP. */
static void test_multi_slice(void)
{
    tstream s;
    if (load(&s, "tests/fixtures/h264/slices4_640x360.h264"))
        return;
    rtpz z = {.seq = 7, .ssrc = 2};
    rtpz_pack(&z, &s, 0, s.n_au, RTPZ_SINGLE);
    size_t idr_starts = 0;
    for (size_t i = 0; i < z.n; i++)
        idr_starts += (z.pkts[i]->flags & CG_PKT_IDR) != 0;
    CHECK_INT(idr_starts, 8);
    cg_gop *g = NULL;
    CHECK_INT(cg_gop_new(&g, 2000, 8u << 20), 0);
    CHECK_INT(push_range(g, &z, 0, z.n), z.n);
    cg_gop_stats st;
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.keyframes, 2);
    check_snapshot_is(g, &z, z.au_first[15], z.n);
    cg_gop_free(g);
    rtpz_free(&z);
    tstream_free(&s);
}

static void test_overflow(void)
{
    tstream s;
    if (load(&s, "tests/fixtures/h264/baseline_640x360.h264"))
        return;
    rtpz z = {.seq = 1, .ssrc = 3};
    rtpz_pack(&z, &s, 0, s.n_au, RTPZ_STAP);
    size_t k30 = z.au_first[30];
    CHECK(k30 > 40);
    cg_gop *g = NULL;
    CHECK_INT(cg_gop_new(&g, 40, 8u << 20), 0);
    CHECK_INT(push_range(g, &z, 0, 40), 40);
    CHECK_INT(cg_gop_push(g, z.pkts[40]), CG_ELIMIT);
    cg_gop_stats st;
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.overflows, 1);
    CHECK_INT(st.overflowed, 1);
    CHECK_INT(st.packets, 0);
    check_snapshot_is(g, &z, 0, 0);
    for (size_t i = 41; i < k30; i++)
        CHECK_INT(cg_gop_push(g, z.pkts[i]), CG_EAGAIN);
    /* the next keyframe resumes caching */
    CHECK_INT(push_range(g, &z, k30, k30 + 10), 10);
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.overflowed, 0);
    CHECK_INT(st.keyframes, 2);
    check_snapshot_is(g, &z, k30, k30 + 10);
    cg_gop_free(g);

    /* byte bound: the IDR alone is bigger than 20 kB */
    size_t bytes = 0, i = 0;
    CHECK_INT(cg_gop_new(&g, 2000, 20000), 0);
    while (i < z.n && bytes + z.pkts[i]->len <= 20000)
        bytes += z.pkts[i++]->len;
    CHECK_INT(push_range(g, &z, 0, i), i);
    CHECK_INT(cg_gop_push(g, z.pkts[i]), CG_ELIMIT);
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.overflowed, 1);
    cg_gop_reset(g);
    cg_gop_stats_get(g, &st);
    CHECK_INT(st.overflowed, 0);
    CHECK_INT(st.packets, 0);
    cg_gop_free(g);
    rtpz_free(&z);
    tstream_free(&s);
}

int main(void)
{
    RUN(test_sps_led_single_nal);
    RUN(test_stap_a);
    RUN(test_fu_a_idr_without_sps);
    RUN(test_single_nal_idr);
    RUN(test_multi_slice);
    RUN(test_overflow);
    return TEST_RESULT();
}
