/* egress/rewriter: a viewer joining mid-GOP gets the GOP snapshot then live
 * packets with continuous output seqs and the publisher's timestamp deltas,
 * also when live packets arrive during the replay; wrap of the source seq
 * and ts; gaps; NACK mapping and resends; source changes. */
#include "cg_test.h"
#include "core/err.h"
#include "egress/gop.h"
#include "egress/history.h"
#include "egress/rewriter.h"
#include "h264_rtp.h"
#include "rtc/srtp.h"

#define OUT_CAP (RTPZ_MTU + 64 + CG_SRTP_MAX_RTP_TRAILER)

typedef struct sent {
    uint16_t seq;
    uint32_t ts;
    const cg_pkt *src;
} sent;

static const cg_rewriter_cfg cfg0 = {.ssrc = 0xcafe0001,
                                     .pt = 109,
                                     .seq_start = 65530,
                                     .ts_start = 4294967000u,
                                     .ts_gap = 3000,
                                     .map_size = 1024,
                                     .trailer = CG_SRTP_MAX_RTP_TRAILER};

/* Writes p; on success checks the bytes and records them. */
static int send1(cg_rewriter *rw, const cg_pkt *p, sent *log, size_t *n)
{
    uint8_t out[OUT_CAP];
    size_t len = 0;
    int rc = cg_rewriter_write(rw, p, out, sizeof(out), &len);
    if (rc < 0)
        return rc;
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, out, len), 0);
    CHECK_INT(h.ssrc, cfg0.ssrc);
    CHECK_INT(h.pt, cfg0.pt);
    CHECK_INT(h.marker, p->marker);
    CHECK_INT(h.extension, 0);
    CHECK_INT(h.payload_len, p->payload_len);
    CHECK(len + CG_SRTP_MAX_RTP_TRAILER <= sizeof(out));
    CHECK_MEM(h.payload, cg_pkt_payload(p), p->payload_len);
    log[*n] = (sent){.seq = h.seq, .ts = h.ts, .src = p};
    (*n)++;
    return 0;
}

static int load(tstream *s)
{
    if (tstream_load(s, "tests/fixtures/h264/baseline_640x360.h264") != 0) {
        fprintf(stderr, "missing H.264 fixture\n");
        cg_test_failures++;
        return -1;
    }
    return 0;
}

/* Output seqs continue by one, timestamps advance by the source's deltas
 * (serial arithmetic across the wrap), every source packet from `first`
 * on is sent exactly once and in order. */
static void check_continuous(const sent *log, size_t n, const rtpz *z, size_t first)
{
    CHECK_INT(n, z->n - first);
    if (n == 0)
        return;
    CHECK_INT(log[0].seq, cfg0.seq_start);
    CHECK_INT(log[0].ts, cfg0.ts_start);
    size_t bad = 0;
    for (size_t i = 0; i < n && first + i < z->n; i++) {
        bad += log[i].src != z->pkts[first + i];
        if (i == 0)
            continue;
        bad += log[i].seq != (uint16_t)(log[i - 1].seq + 1);
        bad += log[i].ts - log[i - 1].ts != log[i].src->ts - log[i - 1].src->ts;
        bad += (int32_t)(log[i].ts - log[i - 1].ts) < 0;
    }
    CHECK_INT(bad, 0);
}

static void test_join_mid_gop_with_live_during_replay(void)
{
    tstream s;
    if (load(&s))
        return;
    /* source seq and ts both wrap inside the first GOP */
    rtpz z = {.seq = 65500, .ssrc = 0x5eed, .ts0 = 4294967295u - 20 * 3000};
    rtpz_pack(&z, &s, 0, s.n_au, RTPZ_STAP);
    CHECK(z.n > 100);
    cg_gop *g = NULL;
    cg_rewriter *rw = NULL;
    CHECK_INT(cg_gop_new(&g, 2000, 8u << 20), 0);
    CHECK_INT(cg_rewriter_new(&rw, &cfg0), 0);
    size_t join = z.au_first[12], live_end = z.au_first[20];
    for (size_t i = 0; i < join; i++)
        cg_gop_push(g, z.pkts[i]);
    sent *log = calloc(z.n * 2, sizeof(*log));
    size_t n = 0, next_live = join, dup = 0;
    cg_gop_snap snap;
    CHECK_INT(cg_gop_snapshot(g, &snap), 0);
    CHECK_INT(snap.n, join);
    /* replay; one live packet arrives every 3 replayed packets (joins the
     * GOP, is offered to the viewer at once) */
    for (size_t i = 0; i < snap.n; i++) {
        CHECK_INT(send1(rw, snap.pkts[i], log, &n), 0);
        if (i % 3 == 2 && next_live < live_end)
            cg_gop_push(g, z.pkts[next_live++]);
    }
    cg_gop_snap_release(&snap);
    /* catch up with a fresh snapshot: what was sent is skipped */
    CHECK_INT(cg_gop_snapshot(g, &snap), 0);
    for (size_t i = 0; i < snap.n; i++) {
        int rc = send1(rw, snap.pkts[i], log, &n);
        CHECK(rc == 0 || rc == CG_EEXIST);
        dup += rc == CG_EEXIST;
    }
    CHECK_INT(dup, join);
    cg_gop_snap_release(&snap);
    /* live packets that were in that snapshot are refused, then live */
    for (size_t i = join; i < z.n; i++) {
        int rc = send1(rw, z.pkts[i], log, &n);
        CHECK_INT(rc, i < next_live ? CG_EEXIST : 0);
    }
    check_continuous(log, n, &z, 0);
    cg_rewriter_stats st;
    cg_rewriter_stats_get(rw, &st);
    CHECK_INT(st.forwarded, z.n);
    CHECK_INT(st.skipped, join + (next_live - join));
    CHECK_INT(st.epochs, 1);
    /* sender reports map through the same offset */
    uint32_t ts = 0;
    CHECK_INT(cg_rewriter_map_ts(rw, z.ssrc, z.pkts[0]->ts, &ts), 0);
    CHECK_INT(ts, cfg0.ts_start);
    CHECK_INT(cg_rewriter_map_ts(rw, z.ssrc + 1, 0, &ts), CG_ESTATE);
    free(log);
    cg_rewriter_free(rw);
    cg_gop_free(g);
    rtpz_free(&z);
    tstream_free(&s);
}

/* Upstream loss stays a gap; NACKs map back to the source packet; the
 * resend (plain, then as RTX) carries the bytes first sent. */
static void test_gap_nack_resend(void)
{
    tstream s;
    if (load(&s))
        return;
    rtpz z = {.seq = 65530, .ssrc = 0x77, .ts0 = 1000};
    rtpz_pack(&z, &s, 0, 4, RTPZ_SINGLE);
    CHECK(z.n >= 12);
    cg_history *hist = NULL;
    cg_rewriter *rw = NULL;
    CHECK_INT(cg_history_new(&hist, 1024, 1000000), 0);
    CHECK_INT(cg_rewriter_new(&rw, &cfg0), 0);
    uint8_t first[12][OUT_CAP];
    size_t first_len[12] = {0};
    for (size_t i = 0; i < 12; i++) {
        cg_history_put(hist, z.pkts[i]);
        if (i == 7)
            continue; /* lost upstream (source seq 65537 - 65536 = 1) */
        CHECK_INT(cg_rewriter_write(rw, z.pkts[i], first[i], OUT_CAP, &first_len[i]), 0);
    }
    uint32_t ossrc = 0;
    uint16_t oseq = 0;
    uint16_t lost = (uint16_t)(cfg0.seq_start + 7);
    CHECK_INT(cg_rewriter_lookup(rw, lost, &ossrc, &oseq), CG_ENOTFOUND);
    CHECK_INT(cg_rewriter_lookup(rw, (uint16_t)(cfg0.seq_start + 12), &ossrc, &oseq),
              CG_ENOTFOUND); /* not sent yet */
    for (size_t i = 0; i < 12; i++) {
        if (i == 7)
            continue;
        uint16_t vseq = (uint16_t)(cfg0.seq_start + i);
        CHECK_INT(cg_rewriter_lookup(rw, vseq, &ossrc, &oseq), 0);
        CHECK_INT(ossrc, z.ssrc);
        CHECK_INT(oseq, z.pkts[i]->seq);
        cg_pkt *p = NULL;
        CHECK_INT(cg_history_get(hist, oseq, 0, &p), 0);
        uint8_t again[OUT_CAP];
        size_t len = 0;
        CHECK_INT(cg_rewriter_resend(rw, vseq, p, again, sizeof(again), &len), 0);
        CHECK_INT(len, first_len[i]);
        CHECK_MEM(again, first[i], len);
        /* RTX answer: unwrapping gives the plain retransmission back */
        uint8_t rtx[OUT_CAP + 2], back[OUT_CAP];
        size_t rlen = 0, blen = 0;
        CHECK_INT(cg_rtp_rtx_wrap(again, len, 110, 0xcafe0002, (uint16_t)(500 + i), rtx,
                                  sizeof(rtx), &rlen),
                  0);
        CHECK_INT(cg_rtp_rtx_unwrap(rtx, rlen, cfg0.pt, cfg0.ssrc, back, sizeof(back), &blen), 0);
        CHECK_INT(blen, len);
        CHECK_MEM(back, again, len);
        /* the wrong packet for that seq is refused */
        uint8_t junk[OUT_CAP];
        CHECK_INT(cg_rewriter_resend(rw, vseq, z.pkts[(i + 1) % 12], junk, sizeof(junk), &len),
                  CG_EINVAL);
        cg_pkt_unref(p);
    }
    cg_rewriter_free(rw);
    cg_history_free(hist);
    rtpz_free(&z);
    tstream_free(&s);
}

static cg_pkt *mk(uint32_t ssrc, uint16_t seq, uint32_t ts, size_t payload_len)
{
    uint8_t buf[2048], pl[2000];
    memset(pl, (uint8_t)seq, sizeof(pl));
    pl[0] = 0x41;
    size_t len = 0;
    cg_rtp_build(buf, sizeof(buf), &len, 96, 1, seq, ts, ssrc, pl, payload_len);
    cg_pkt *p = NULL;
    cg_pkt_new(&p, buf, len, 0, 0);
    return p;
}

static int write1(cg_rewriter *rw, cg_pkt *p, uint16_t *seq, uint32_t *ts)
{
    uint8_t out[2100];
    size_t len = 0;
    int rc = cg_rewriter_write(rw, p, out, sizeof(out), &len);
    cg_rtp_hdr h;
    if (rc == 0 && cg_rtp_parse(&h, out, len) == 0) {
        *seq = h.seq;
        *ts = h.ts;
    }
    cg_pkt_unref(p);
    return rc;
}

static void test_source_change_and_bounds(void)
{
    cg_rewriter *rw = NULL;
    CHECK_INT(cg_rewriter_new(&rw, &cfg0), 0);
    uint16_t seq = 0;
    uint32_t ts = 0;
    CHECK_INT(write1(rw, mk(1, 100, 5000, 100), &seq, &ts), 0);
    CHECK_INT(seq, 65530);
    CHECK_INT(write1(rw, mk(1, 101, 8000, 100), &seq, &ts), 0);
    CHECK_INT(seq, 65531);
    CHECK_INT(ts, (uint32_t)(cfg0.ts_start + 3000));
    CHECK_INT(write1(rw, mk(1, 101, 8000, 100), &seq, &ts), CG_EEXIST);
    CHECK_INT(write1(rw, mk(1, 90, 8000, 100), &seq, &ts), CG_EEXIST);
    /* the publisher reconnects: new SSRC, unrelated seq and ts */
    CHECK_INT(write1(rw, mk(2, 40000, 123456789, 100), &seq, &ts), 0);
    CHECK_INT(seq, 65532);
    CHECK_INT(ts, (uint32_t)(cfg0.ts_start + 6000));
    CHECK_INT(write1(rw, mk(2, 40001, 123459789, 100), &seq, &ts), 0);
    CHECK_INT(seq, 65533);
    uint32_t mts = 0;
    CHECK_INT(cg_rewriter_map_ts(rw, 1, 8000, &mts), CG_ESTATE);
    CHECK_INT(cg_rewriter_map_ts(rw, 2, 123459789, &mts), 0);
    CHECK_INT(mts, ts);
    /* a restarted sequence on the same SSRC is a new epoch, not a dup */
    CHECK_INT(write1(rw, mk(2, 20000, 123462789, 100), &seq, &ts), 0);
    CHECK_INT(seq, 65534);
    uint32_t ossrc;
    uint16_t oseq;
    CHECK_INT(cg_rewriter_lookup(rw, 65530, &ossrc, &oseq), 0);
    CHECK_INT(ossrc, 1);
    CHECK_INT(oseq, 100);
    cg_rewriter_stats st;
    cg_rewriter_stats_get(rw, &st);
    CHECK_INT(st.epochs, 3);
    CHECK_INT(st.skipped, 2);
    /* output buffer: payload + header fits but not the SRTP trailer */
    uint8_t out[2100];
    size_t len = 0;
    cg_pkt *p = mk(2, 20001, 0, 1000);
    CHECK_INT(cg_rewriter_write(rw, p, out, 12 + 1000 + CG_SRTP_MAX_RTP_TRAILER - 1, &len),
              CG_ENOSPC);
    CHECK_INT(cg_rewriter_write(rw, p, out, 12 + 1000 + CG_SRTP_MAX_RTP_TRAILER, &len), 0);
    CHECK_INT(len, 1012);
    cg_pkt_unref(p);
    /* the NACK map forgets what is older than its size */
    for (uint16_t i = 20002; i < 20002 + 1100; i++)
        CHECK_INT(write1(rw, mk(2, i, 0, 10), &seq, &ts), 0);
    CHECK_INT(cg_rewriter_lookup(rw, 65535, &ossrc, &oseq), CG_ENOTFOUND);
    CHECK_INT(cg_rewriter_lookup(rw, seq, &ossrc, &oseq), 0);
    CHECK_INT(cg_rewriter_lookup(rw, (uint16_t)(seq - 1023), &ossrc, &oseq), 0);
    CHECK_INT(cg_rewriter_lookup(rw, (uint16_t)(seq - 1024), &ossrc, &oseq), CG_ENOTFOUND);
    cg_rewriter_free(rw);

    cg_rewriter_cfg bad = cfg0;
    bad.map_size = 1000;
    CHECK_INT(cg_rewriter_new(&rw, &bad), CG_EINVAL);
    bad.map_size = 1024;
    bad.pt = 128;
    CHECK_INT(cg_rewriter_new(&rw, &bad), CG_EINVAL);
    cg_rewriter_free(NULL);
}

int main(void)
{
    RUN(test_join_mid_gop_with_live_during_replay);
    RUN(test_gap_nack_resend);
    RUN(test_source_change_and_bounds);
    return TEST_RESULT();
}
