/* egress/replay: a joining viewer gets the cached GOP keyframe first,
 * paced by the per-tick packet and byte budget, with timestamps compressed
 * by cg_rewriter_write_replay; packets that arrive during the replay come
 * from fresh snapshots; a newer GOP restarts at its keyframe; the replay
 * gives up after max_rounds; live packets after it continue with the
 * publisher's spacing after the last replayed frame. Also cg_gop_get. */
#include "cg_test.h"
#include "core/err.h"
#include "egress/gop.h"
#include "egress/replay.h"
#include "egress/rewriter.h"
#include "rtc/rtp.h"

#define SSRC 0x1234abcdu
#define STEP 360u  /* 4 ms at 90 kHz */
#define FRAME 3000 /* 30 fps */
#define MAX_SENT 512

typedef struct ctx {
    cg_gop *gop;
    cg_rewriter *rw;
    int replay; /* write with cg_rewriter_write_replay */
    uint16_t in_seq[MAX_SENT];
    uint16_t out_seq[MAX_SENT];
    uint32_t out_ts[MAX_SENT];
    uint32_t flags[MAX_SENT];
    size_t len[MAX_SENT];
    size_t n;
    int fail_every; /* make every k-th send fail (0: never) */
    size_t calls;
} ctx;

/* A frame of n packets (the last one has the marker), pushed to the GOP. */
static void push_frame(ctx *c, uint16_t *seq, uint32_t ts, size_t n, int key, size_t payload)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t buf[1600], pl[1400];
        memset(pl, 0x41, sizeof(pl));
        pl[0] = key ? 0x65 : 0x41; /* IDR or non-IDR slice NAL header */
        size_t len = 0;
        CHECK_INT(
            cg_rtp_build(buf, sizeof(buf), &len, 102, i == n - 1, *seq, ts, SSRC, pl, payload), 0);
        uint32_t flags = key ? (i == 0 ? CG_PKT_IDR : CG_PKT_IDR_PART) : 0;
        cg_pkt *p = NULL;
        CHECK_INT(cg_pkt_new(&p, buf, len, flags, 0), 0);
        cg_gop_push(c->gop, p);
        cg_pkt_unref(p);
        (*seq)++;
    }
}

static int snap_cb(void *arg, cg_gop_snap *snap)
{
    ctx *c = arg;
    return cg_gop_snapshot(c->gop, snap);
}

static int send_cb(void *arg, const cg_pkt *p)
{
    ctx *c = arg;
    uint8_t out[1600];
    size_t len = 0;
    int rc = c->replay ? cg_rewriter_write_replay(c->rw, p, STEP, out, sizeof(out), &len)
                       : cg_rewriter_write(c->rw, p, out, sizeof(out), &len);
    if (rc)
        return rc;
    c->calls++;
    if (c->fail_every && c->calls % (size_t)c->fail_every == 0)
        return CG_EIO; /* written but not sent: a full socket buffer */
    cg_rtp_hdr h;
    CHECK_INT(cg_rtp_parse(&h, out, len), 0);
    if (c->n < MAX_SENT) {
        c->in_seq[c->n] = p->seq;
        c->out_seq[c->n] = h.seq;
        c->out_ts[c->n] = h.ts;
        c->flags[c->n] = p->flags;
        c->len[c->n] = p->len;
        c->n++;
    }
    return 0;
}

static void setup(ctx *c)
{
    memset(c, 0, sizeof(*c));
    CHECK_INT(cg_gop_new(&c->gop, 1024, 1u << 20), 0);
    cg_rewriter_cfg rc = {.ssrc = 0xfeed0001,
                          .pt = 96,
                          .seq_start = 65500,
                          .ts_start = 4294967000u,
                          .ts_gap = 3000,
                          .map_size = 1024,
                          .trailer = 16};
    CHECK_INT(cg_rewriter_new(&c->rw, &rc), 0);
    c->replay = 1;
}

static void teardown(ctx *c)
{
    cg_gop_free(c->gop);
    cg_rewriter_free(c->rw);
}

static void test_paced_keyframe_first_and_live_during_replay(void)
{
    ctx c;
    setup(&c);
    uint16_t seq = 65000; /* wraps during the test */
    uint32_t ts = 4294960000u;
    push_frame(&c, &seq, ts, 10, 1, 1000); /* keyframe: 10 packets */
    for (int f = 1; f < 8; f++)
        push_frame(&c, &seq, ts + (uint32_t)f * FRAME, 2, 0, 500);
    cg_replay r;
    cg_replay_cfg cfg = {.pkts_per_tick = 4, .bytes_per_tick = 3000, .max_rounds = 8};
    cg_replay_init(&r, &cfg);
    size_t ticks = 0, live_frames = 8, before = 0;
    int rc;
    while ((rc = cg_replay_tick(&r, snap_cb, send_cb, &c)) == 1) {
        /* Budget: at most 4 packets and 3000 bytes per tick (at least one
         * packet). */
        size_t bytes = 0;
        for (size_t i = before; i < c.n; i++)
            bytes += c.len[i];
        CHECK(c.n - before >= 1 && c.n - before <= 4);
        CHECK(c.n - before == 1 || bytes <= 3000);
        before = c.n;
        if (++ticks >= 100)
            break;
        /* The publisher goes on: two frames arrive during the first ticks. */
        if (ticks <= 2)
            push_frame(&c, &seq, ts + (uint32_t)(live_frames++) * FRAME, 2, 0, 500);
    }
    CHECK_INT(rc, 0);
    CHECK_INT(r.gave_up, 0);
    /* Every cached packet and the ones that came during the replay, once,
     * in order, keyframe first. */
    size_t expect = 10 + 2 * (live_frames - 1);
    CHECK_INT(c.n, expect);
    CHECK_INT(r.sent, expect);
    CHECK(c.flags[0] & CG_PKT_IDR);
    for (size_t i = 1; i < c.n; i++) {
        CHECK_INT((uint16_t)(c.in_seq[i] - c.in_seq[i - 1]), 1);
        CHECK_INT((uint16_t)(c.out_seq[i] - c.out_seq[i - 1]), 1);
    }
    /* Compressed: frames STEP apart on the viewer's timeline, packets of
     * one frame on one timestamp. */
    CHECK_INT(c.out_ts[0], 4294967000u);
    for (size_t i = 1; i < c.n; i++) {
        uint32_t d = c.out_ts[i] - c.out_ts[i - 1];
        CHECK(d == 0 || d == STEP);
    }
    CHECK_INT(c.out_ts[c.n - 1] - c.out_ts[0], STEP * (live_frames - 1));
    /* Paced: no tick sent more than 4 packets; 10 keyframe packets of 1012
     * bytes need at least 4 ticks at 3000 bytes (2 packets) per tick. */
    CHECK(r.ticks >= 5 + (2 * (live_frames - 1)) / 4);
    /* A fresh snapshot with nothing new ends it: a later tick does nothing. */
    CHECK_INT(cg_replay_tick(&r, snap_cb, send_cb, &c), 0);
    CHECK_INT(c.n, expect);

    /* Live again: the publisher's own spacing after the last replayed frame. */
    c.replay = 0;
    uint32_t last_out = c.out_ts[c.n - 1];
    push_frame(&c, &seq, ts + (uint32_t)live_frames * FRAME, 2, 0, 500);
    push_frame(&c, &seq, ts + (uint32_t)(live_frames + 1) * FRAME, 2, 0, 500);
    cg_gop_snap snap;
    CHECK_INT(cg_gop_snapshot(c.gop, &snap), 0);
    for (size_t i = snap.n - 4; i < snap.n; i++)
        CHECK_INT(send_cb(&c, snap.pkts[i]), 0);
    cg_gop_snap_release(&snap);
    CHECK_INT(c.n, expect + 4);
    CHECK_INT(c.out_ts[expect] - last_out, FRAME);
    CHECK_INT(c.out_ts[expect + 2] - last_out, 2 * FRAME);
    cg_replay_release(&r);
    teardown(&c);
}

static void test_newer_gop_and_bounds(void)
{
    ctx c;
    setup(&c);
    uint16_t seq = 100;
    uint32_t ts = 90000;
    push_frame(&c, &seq, ts, 4, 1, 800);
    for (int f = 1; f < 4; f++)
        push_frame(&c, &seq, ts + (uint32_t)f * FRAME, 2, 0, 400);
    cg_replay r;
    cg_replay_cfg cfg = {.pkts_per_tick = 3, .bytes_per_tick = 100000, .max_rounds = 8};
    cg_replay_init(&r, &cfg);
    CHECK_INT(cg_replay_tick(&r, snap_cb, send_cb, &c), 1);
    CHECK_INT(c.n, 3);
    /* A new keyframe replaces the GOP before the old one was finished: the
     * replay goes on from the new keyframe. */
    uint16_t key2 = seq;
    push_frame(&c, &seq, ts + 10 * FRAME, 4, 1, 800);
    int rc;
    while ((rc = cg_replay_tick(&r, snap_cb, send_cb, &c)) == 1)
        ;
    CHECK_INT(rc, 0);
    CHECK(c.n >= 3 + 4);
    CHECK_INT(c.in_seq[c.n - 4], key2);
    CHECK(c.flags[c.n - 4] & CG_PKT_IDR);
    /* cg_gop_get finds kept packets by SSRC and seq, not others. */
    cg_pkt *p = NULL;
    CHECK_INT(cg_gop_get(c.gop, SSRC, (uint16_t)(key2 + 2), &p), 0);
    if (p)
        CHECK_INT(p->seq, (uint16_t)(key2 + 2));
    cg_pkt_unref(p);
    CHECK_INT(cg_gop_get(c.gop, SSRC, 100, &p), CG_ENOTFOUND);
    CHECK_INT(cg_gop_get(c.gop, SSRC + 1, key2, &p), CG_ENOTFOUND);
    cg_replay_release(&r);
    teardown(&c);

    /* max_rounds: a publisher that outruns the replay is given up on. */
    setup(&c);
    seq = 1;
    push_frame(&c, &seq, ts, 4, 1, 800);
    cfg = (cg_replay_cfg){.pkts_per_tick = 2, .bytes_per_tick = 100000, .max_rounds = 2};
    cg_replay_init(&r, &cfg);
    size_t ticks = 0;
    while ((rc = cg_replay_tick(&r, snap_cb, send_cb, &c)) == 1 && ticks++ < 50)
        push_frame(&c, &seq, ts + (uint32_t)(ticks + 1) * FRAME, 3, 0, 400);
    CHECK_INT(rc, 0);
    CHECK_INT(r.gave_up, 1);
    CHECK_INT(r.rounds, 2);
    cg_replay_release(&r);
    teardown(&c);

    /* Nothing cached: over at once, nothing sent. */
    setup(&c);
    cg_replay_init(&r, &cfg);
    CHECK_INT(cg_replay_tick(&r, snap_cb, send_cb, &c), 0);
    CHECK_INT(r.sent, 0);
    CHECK_INT(c.n, 0);
    teardown(&c);

    /* Failed sends are counted and cost budget; the replay goes on. */
    setup(&c);
    seq = 1;
    push_frame(&c, &seq, ts, 6, 1, 800);
    c.fail_every = 3;
    cfg = (cg_replay_cfg){.pkts_per_tick = 100, .bytes_per_tick = 1000000, .max_rounds = 4};
    cg_replay_init(&r, &cfg);
    CHECK_INT(cg_replay_tick(&r, snap_cb, send_cb, &c), 0);
    CHECK_INT(r.sent, 4);
    CHECK_INT(r.dropped, 2);
    cg_replay_release(&r);
    teardown(&c);
}

int main(void)
{
    RUN(test_paced_keyframe_first_and_live_during_replay);
    RUN(test_newer_gop_and_bounds);
    return TEST_RESULT();
}
