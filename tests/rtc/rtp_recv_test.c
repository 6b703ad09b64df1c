/* Per-SSRC receiver: ordering, loss, NACK timing, RTX recovery, sequence
 * wrap and restart, the span bound, RFC 3550 jitter and reception report,
 * and the SR wall-clock mapping. Times are synthetic microseconds. */
#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/rtp_recv.h"
#include "cg_test.h"

#define MS 1000ull

static cg_rtp_recv *mk(uint32_t rate, size_t max_packets, uint64_t delay_us, int nack,
                       unsigned retries)
{
    cg_rtp_recv_cfg cfg = {
        .clock_rate = rate,
        .max_packets = max_packets,
        .max_delay_us = delay_us,
        .nack_enabled = nack,
        .nack_max_retries = retries,
    };
    cg_rtp_recv *r = NULL;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), 0);
    return r;
}

/* 14-byte packet whose payload repeats the sequence number. */
static int push(cg_rtp_recv *r, uint16_t seq, uint32_t ts, uint64_t now, int rtx)
{
    uint8_t pkt[32], pl[2];
    size_t n;
    cg_store_u16(pl, seq);
    if (cg_rtp_build(pkt, sizeof(pkt), &n, 96, 0, seq, ts, 0x1234, pl, 2))
        return -1000;
    return cg_rtp_recv_push(r, pkt, n, rtx, now);
}

/* Pops one packet: its seq, or the (negative) error code. */
static int pop(cg_rtp_recv *r, uint64_t now, int *gap)
{
    uint8_t out[1500];
    size_t len = 0;
    int g = -1;
    int rc = cg_rtp_recv_pop(r, now, out, sizeof(out), &len, &g);
    if (rc)
        return rc;
    cg_rtp_hdr h;
    if (cg_rtp_parse(&h, out, len) || h.payload_len != 2 || cg_load_u16(h.payload) != h.seq)
        return -2000;
    if (gap)
        *gap = g;
    return h.seq;
}

static cg_rtp_recv_stats stats(const cg_rtp_recv *r)
{
    cg_rtp_recv_stats st;
    cg_rtp_recv_get_stats(r, &st);
    return st;
}

static void test_in_order(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    CHECK(cg_rtp_recv_deadline(r) == UINT64_MAX);
    CHECK_INT(pop(r, 0, NULL), CG_EAGAIN);
    for (int i = 0; i < 10; i++) {
        uint64_t now = (uint64_t)i * 33 * MS;
        CHECK_INT(push(r, (uint16_t)(1000 + i), (uint32_t)(3000 * i), now, 0), 0);
        CHECK_INT(cg_rtp_recv_deadline(r), 0);
        int gap = -1;
        CHECK_INT(pop(r, now, &gap), 1000 + i);
        CHECK_INT(gap, 0);
        CHECK_INT(pop(r, now, &gap), CG_EAGAIN);
        CHECK(cg_rtp_recv_deadline(r) == UINT64_MAX);
    }
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.packets, 10);
    CHECK_INT(st.bytes, 140);
    CHECK_INT(st.lost, 0);
    CHECK_INT(st.reordered, 0);
    CHECK_INT(st.duplicates, 0);
    CHECK_INT(st.ext_highest_seq, 1009);
    uint16_t seqs[8];
    CHECK_INT(cg_rtp_recv_nacks(r, 400 * MS, seqs, 8), 0);
    cg_rtp_recv_free(r);
}

static void test_reorder(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    int gap = -1;
    CHECK_INT(push(r, 0, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 0);
    CHECK_INT(push(r, 2, 6000, 10 * MS, 0), 0);
    CHECK_INT(pop(r, 10 * MS, &gap), CG_EAGAIN);
    CHECK(cg_rtp_recv_deadline(r) == 160 * MS);
    CHECK_INT(push(r, 1, 3000, 11 * MS, 0), 0);
    CHECK_INT(pop(r, 11 * MS, &gap), 1);
    CHECK_INT(gap, 0);
    CHECK_INT(pop(r, 11 * MS, &gap), 2);
    CHECK_INT(gap, 0);
    CHECK_INT(pop(r, 11 * MS, &gap), CG_EAGAIN);
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.reordered, 1);
    CHECK_INT(st.recovered, 0);
    CHECK_INT(st.lost, 0);
    CHECK_INT(st.packets, 3);
    cg_rtp_recv_free(r);
}

static void test_loss(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    int gap = -1;
    CHECK_INT(push(r, 10, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 10);
    CHECK_INT(push(r, 12, 6000, 10 * MS, 0), 0);
    CHECK_INT(pop(r, 10 * MS, &gap), CG_EAGAIN);
    CHECK(cg_rtp_recv_deadline(r) == 160 * MS);
    CHECK_INT(pop(r, 160 * MS - 1, &gap), CG_EAGAIN);
    CHECK_INT(pop(r, 160 * MS, &gap), 12);
    CHECK_INT(gap, 1);
    CHECK_INT(stats(r).lost, 1);
    /* Too late now. */
    CHECK_INT(push(r, 11, 3000, 170 * MS, 0), CG_ERANGE);
    CHECK_INT(stats(r).late, 1);
    CHECK_INT(push(r, 13, 9000, 180 * MS, 0), 0);
    CHECK_INT(pop(r, 180 * MS, &gap), 13);
    CHECK_INT(gap, 0);

    /* Three in a row lost: one gap, counted three times. */
    CHECK_INT(push(r, 17, 21000, 200 * MS, 0), 0);
    CHECK_INT(pop(r, 349 * MS, &gap), CG_EAGAIN);
    CHECK_INT(pop(r, 350 * MS, &gap), 17);
    CHECK_INT(gap, 1);
    CHECK_INT(stats(r).lost, 4);

    /* Two gaps seen at different times are each held from their own
     * detection. */
    CHECK_INT(push(r, 20, 30000, 400 * MS, 0), 0);
    CHECK_INT(push(r, 23, 39000, 450 * MS, 0), 0);
    CHECK(cg_rtp_recv_deadline(r) == 550 * MS);
    CHECK_INT(pop(r, 550 * MS, &gap), 20);
    CHECK_INT(gap, 1);
    CHECK_INT(pop(r, 550 * MS, &gap), CG_EAGAIN);
    CHECK(cg_rtp_recv_deadline(r) == 600 * MS);
    CHECK_INT(pop(r, 600 * MS, &gap), 23);
    CHECK_INT(gap, 1);
    CHECK_INT(stats(r).lost, 8);
    CHECK(cg_rtp_recv_deadline(r) == UINT64_MAX);
    cg_rtp_recv_free(r);
}

static void test_nack(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 1, 3);
    if (!r)
        return;
    uint16_t s[8];
    int gap = -1;
    CHECK_INT(push(r, 0, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 0);
    CHECK_INT(push(r, 3, 9000, 1 * MS, 0), 0);
    /* First NACK is due at once; the give-up is at 151 ms. */
    CHECK(cg_rtp_recv_deadline(r) == 1 * MS);
    CHECK_INT(cg_rtp_recv_nacks(r, 1 * MS, s, 8), 2);
    CHECK_INT(s[0], 1);
    CHECK_INT(s[1], 2);
    CHECK_INT(cg_rtp_recv_nacks(r, 1 * MS, s, 8), 0);
    /* Retries are spaced by 20 ms without an RTT. */
    CHECK(cg_rtp_recv_deadline(r) == 21 * MS);
    CHECK_INT(cg_rtp_recv_nacks(r, 21 * MS - 1, s, 8), 0);
    CHECK_INT(cg_rtp_recv_nacks(r, 21 * MS, s, 8), 2);
    CHECK_INT(cg_rtp_recv_nacks(r, 41 * MS, s, 1), 1); /* cap respected */
    CHECK_INT(s[0], 1);
    CHECK_INT(cg_rtp_recv_nacks(r, 42 * MS, s, 8), 1);
    CHECK_INT(s[0], 2);
    /* Three each: no more, and the next event is the give-up. */
    CHECK_INT(cg_rtp_recv_nacks(r, 100 * MS, s, 8), 0);
    CHECK(cg_rtp_recv_deadline(r) == 151 * MS);
    CHECK_INT(stats(r).nacks_sent, 6);

    /* 1 arrives after being NACKed: recovered. 2 never does. */
    CHECK_INT(push(r, 1, 3000, 70 * MS, 0), 0);
    CHECK_INT(pop(r, 70 * MS, &gap), 1);
    CHECK_INT(gap, 0);
    CHECK_INT(pop(r, 70 * MS, &gap), CG_EAGAIN);
    CHECK_INT(pop(r, 151 * MS, &gap), 3);
    CHECK_INT(gap, 1);
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.recovered, 1);
    CHECK_INT(st.reordered, 0);
    CHECK_INT(st.lost, 1);

    /* With an RTT of 50 ms the retries are 50 ms apart; an RTX copy counts
     * as recovered. */
    cg_rtp_recv_set_rtt(r, 50 * MS);
    CHECK_INT(push(r, 5, 15000, 200 * MS, 0), 0);
    CHECK_INT(cg_rtp_recv_nacks(r, 200 * MS, s, 8), 1);
    CHECK_INT(s[0], 4);
    CHECK(cg_rtp_recv_deadline(r) == 250 * MS);
    CHECK_INT(cg_rtp_recv_nacks(r, 240 * MS, s, 8), 0);
    CHECK_INT(cg_rtp_recv_nacks(r, 250 * MS, s, 8), 1);
    CHECK_INT(push(r, 4, 12000, 260 * MS, 1), 0);
    CHECK_INT(pop(r, 260 * MS, &gap), 4);
    CHECK_INT(gap, 0);
    CHECK_INT(pop(r, 260 * MS, &gap), 5);
    CHECK_INT(stats(r).recovered, 2);

    /* Once a gap has waited max_delay, NACKing it is pointless. */
    CHECK_INT(push(r, 8, 24000, 300 * MS, 0), 0);
    CHECK_INT(cg_rtp_recv_nacks(r, 300 * MS, s, 8), 2);
    CHECK_INT(cg_rtp_recv_nacks(r, 450 * MS, s, 8), 0);
    /* A late RTX copy still inside the window counts as recovered. */
    CHECK_INT(push(r, 7, 21000, 451 * MS, 1), 0);
    CHECK_INT(stats(r).recovered, 3);
    cg_rtp_recv_free(r);
}

static void test_duplicates(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    int gap;
    CHECK_INT(push(r, 0, 0, 0, 0), 0);
    CHECK_INT(push(r, 0, 0, 1, 0), CG_EEXIST); /* still held */
    CHECK_INT(pop(r, 1, &gap), 0);
    CHECK_INT(push(r, 0, 0, 2, 0), CG_EEXIST); /* already released */
    CHECK_INT(push(r, 2, 6000, 3, 0), 0);
    CHECK_INT(push(r, 2, 6000, 4, 0), CG_EEXIST);
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.duplicates, 3);
    CHECK_INT(st.packets, 2);
    CHECK_INT(st.late, 0);
    /* Garbage is refused without touching the state. */
    const uint8_t junk[5] = {0x80, 0x60, 0, 1, 2};
    CHECK_INT(cg_rtp_recv_push(r, junk, sizeof(junk), 0, 5), CG_EPROTO);
    CHECK_INT(stats(r).packets, 2);
    cg_rtp_recv_free(r);
}

static void test_wrap(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    /* 65533, 65534, 0, 65535, 1, 2: one swap across the wrap. */
    const uint16_t in[] = {65533, 65534, 0, 65535, 1, 2};
    const int out_after[][3] = {{65533, -1, -1}, {65534, -1, -1}, {-1, -1, -1},
                                {65535, 0, -1},  {1, -1, -1},     {2, -1, -1}};
    for (int i = 0; i < 6; i++) {
        uint64_t now = (uint64_t)i * 10 * MS;
        CHECK_INT(push(r, in[i], (uint32_t)(900 * i), now, 0), 0);
        for (int k = 0; k < 3; k++) {
            int gap = -1;
            int got = pop(r, now, &gap);
            if (out_after[i][k] < 0) {
                CHECK_INT(got, CG_EAGAIN);
                break;
            }
            CHECK_INT(got, out_after[i][k]);
            CHECK_INT(gap, 0);
        }
    }
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.ext_highest_seq, 0x00010002);
    CHECK_INT(st.lost, 0);
    CHECK_INT(st.reordered, 1);
    cg_rtcp_report_block rb;
    cg_rtp_recv_report(r, 100 * MS, 0xabcdef01, &rb);
    CHECK_INT(rb.ssrc, 0xabcdef01);
    CHECK_INT(rb.ext_highest_seq, 0x00010002);
    CHECK_INT(rb.cumulative_lost, 0);
    CHECK_INT(rb.fraction_lost, 0);
    cg_rtp_recv_free(r);
}

static void test_buffer_full(void)
{
    /* Span bound 8: 0 released, 1 missing, 2..8 held (span 7); 9 pushes
     * the gap out at once, whatever max_delay says. */
    cg_rtp_recv *r = mk(90000, 8, 10000 * MS, 0, 3);
    if (!r)
        return;
    int gap = -1;
    CHECK_INT(push(r, 0, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 0);
    for (uint16_t s = 2; s <= 8; s++)
        CHECK_INT(push(r, s, s * 3000u, s * MS, 0), 0);
    CHECK_INT(pop(r, 9 * MS, &gap), CG_EAGAIN);
    CHECK(cg_rtp_recv_deadline(r) == 10002 * MS);
    CHECK_INT(push(r, 9, 27000, 9 * MS, 0), 0);
    CHECK_INT(cg_rtp_recv_deadline(r), 0);
    CHECK_INT(pop(r, 9 * MS, &gap), 2);
    CHECK_INT(gap, 1);
    for (int s = 3; s <= 9; s++) {
        CHECK_INT(pop(r, 9 * MS, &gap), s);
        CHECK_INT(gap, 0);
    }
    CHECK_INT(pop(r, 9 * MS, &gap), CG_EAGAIN);
    CHECK_INT(stats(r).lost, 1);
    cg_rtp_recv_free(r);

    /* A caller that stops popping: bound 4 (ring of 8), 1 missing, 2..20
     * pushed. Only the newest 8 survive; every seq is released once or
     * counted lost once, in order. */
    r = mk(90000, 4, 10000 * MS, 0, 3);
    if (!r)
        return;
    CHECK_INT(push(r, 0, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 0);
    for (uint16_t s = 2; s <= 20; s++)
        CHECK_INT(push(r, s, s * 3000u, s * MS, 0), 0);
    int first = 1, popped = 0, last = 0, got;
    while ((got = pop(r, 21 * MS, &gap)) >= 0) {
        CHECK(got > last);
        CHECK_INT(gap, first);
        first = 0;
        last = got;
        popped++;
    }
    CHECK_INT(got, CG_EAGAIN);
    CHECK_INT(last, 20);
    CHECK_INT(popped, 8);
    CHECK_INT(stats(r).lost, 12);
    cg_rtp_recv_free(r);

    /* Forward jumps past the bound with 2 and 3 held behind a gap (bound 8,
     * ring 16). The new window [to - 7, to] still waits for its gap; what is
     * below it is released or given up at once. To 60: 2 and 3 stay in the
     * ring and go out first. To 40: the seqs awaited in the new window
     * (33..39) take their slots, so they are dropped and counted lost.
     * Either way each seq is released or lost exactly once. */
    for (int jump = 0; jump < 2; jump++) {
        uint16_t to = jump ? 40 : 60;
        r = mk(90000, 8, 10000 * MS, 0, 3);
        if (!r)
            return;
        CHECK_INT(push(r, 0, 0, 0, 0), 0);
        CHECK_INT(pop(r, 0, &gap), 0);
        CHECK_INT(push(r, 2, 6000, 1 * MS, 0), 0);
        CHECK_INT(push(r, 3, 9000, 2 * MS, 0), 0);
        CHECK_INT(pop(r, 2 * MS, &gap), CG_EAGAIN);
        CHECK_INT(push(r, to, to * 3000u, 3 * MS, 0), 0);
        if (!jump) {
            CHECK_INT(pop(r, 3 * MS, &gap), 2);
            CHECK_INT(gap, 1);
            CHECK_INT(pop(r, 3 * MS, &gap), 3);
            CHECK_INT(gap, 0);
        }
        CHECK_INT(pop(r, 3 * MS, &gap), CG_EAGAIN);
        CHECK_INT(stats(r).lost, to - 8 - (jump ? 0 : 2)); /* 1..to-8, less 2 and 3 */
        CHECK(cg_rtp_recv_deadline(r) == 10003 * MS);
        CHECK_INT(pop(r, 10003 * MS, &gap), to);
        CHECK_INT(gap, 1);
        CHECK_INT(stats(r).lost, to - 1 - (jump ? 0 : 2));
        cg_rtp_recv_free(r);
    }
}

static void test_jitter(void)
{
    /* Perfect pacing: 10 ms apart, 900 ticks apart at 90 kHz. */
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    int gap;
    for (int i = 0; i < 50; i++) {
        CHECK_INT(
            push(r, (uint16_t)i, 12345u + 900u * (uint32_t)i, 5000 * MS + (uint64_t)i * 10 * MS, 0),
            0);
        pop(r, 0, &gap);
    }
    CHECK_INT(stats(r).jitter, 0);
    cg_rtp_recv_free(r);

    /* Arrivals 0, 11, 20, 32, 40 ms for timestamps 0, 900, 1800, 2700,
     * 3600: transit 0, 90, 0, 180, 0 ticks, so D = 90, 90, 180, 180.
     * RFC 3550 A.8, J += (|D| - J) / 16: 5.625, 10.898, 21.467, 31.375 -> 31.
     * The timestamps also wrap between the 3rd and 4th packet. */
    r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    const uint64_t at[] = {0, 11 * MS, 20 * MS, 32 * MS, 40 * MS};
    const uint32_t base = 0xFFFFF000u;
    for (uint32_t i = 0; i < 5; i++)
        CHECK_INT(push(r, (uint16_t)(7 + i), base + 900 * i, at[i], 0), 0);
    CHECK_INT(stats(r).jitter, 31);
    cg_rtcp_report_block rb;
    cg_rtp_recv_report(r, 50 * MS, 1, &rb);
    CHECK_INT(rb.jitter, 31);
    /* A retransmission arrives late on purpose: even when it advances the
     * sequence (12, 100 ms after its time) it does not count as jitter. */
    CHECK_INT(push(r, 12, base + 900 * 5, 150 * MS, 1), 0);
    CHECK_INT(stats(r).jitter, 31);
    /* The same packet as plain media would have: transit 9000 ticks. */
    CHECK_INT(push(r, 13, base + 900 * 6, 160 * MS, 0), 0);
    CHECK(stats(r).jitter > 31);
    cg_rtp_recv_free(r);
}

static void test_sr_mapping(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 0, 3);
    if (!r)
        return;
    uint64_t wall;
    CHECK_INT(cg_rtp_recv_wall_us(r, 0, &wall), CG_ENOTFOUND);
    const uint64_t sr_wall = 1700000000000000ull; /* 2023-11-14T22:13:20Z */
    const uint64_t ntp = cg_ntp_from_wall_us(sr_wall);
    const uint32_t sr_ts = 0xFFFF5038u; /* 2^32 - 45000 */
    cg_rtp_recv_on_sr(r, ntp, sr_ts, 5000 * MS);
    CHECK_INT(cg_rtp_recv_wall_us(r, sr_ts, &wall), 0);
    CHECK(wall == sr_wall);
    /* 90000 ticks later, across the 32-bit wrap: one second. */
    CHECK_INT(cg_rtp_recv_wall_us(r, 45000, &wall), 0);
    CHECK(wall == sr_wall + 1000000);
    CHECK_INT(cg_rtp_recv_wall_us(r, sr_ts + 4500u, &wall), 0);
    CHECK(wall == sr_wall + 50000);
    /* Before the SR. */
    CHECK_INT(cg_rtp_recv_wall_us(r, sr_ts - 90000u, &wall), 0);
    CHECK(wall == sr_wall - 1000000);
    /* A newer SR replaces the mapping. */
    cg_rtp_recv_on_sr(r, cg_ntp_from_wall_us(sr_wall + 2000000), 90000u * 2 - 45000u, 7000 * MS);
    CHECK_INT(cg_rtp_recv_wall_us(r, 45000, &wall), 0);
    CHECK(wall == sr_wall + 1000000);

    /* LSR is the middle of the SR's NTP; DLSR counts 1/65536 s since it
     * arrived: 0.5 s = 32768. */
    cg_rtcp_report_block rb;
    cg_rtp_recv_report(r, 7500 * MS, 9, &rb);
    CHECK_INT(rb.lsr, cg_ntp_mid32(cg_ntp_from_wall_us(sr_wall + 2000000)));
    CHECK_INT(rb.dlsr, 32768);
    cg_rtp_recv_free(r);

    /* Opus at 48 kHz: 960 samples before the wrap to 960 after = 40 ms. */
    r = mk(48000, 64, 60 * MS, 0, 3);
    if (!r)
        return;
    cg_rtp_recv_on_sr(r, ntp, 0xFFFFFC40u, 0);
    CHECK_INT(cg_rtp_recv_wall_us(r, 960, &wall), 0);
    CHECK(wall == sr_wall + 40000);
    cg_rtp_recv_free(r);
}

static void test_report(void)
{
    cg_rtp_recv *r = mk(90000, 64, 50 * MS, 0, 3);
    if (!r)
        return;
    int gap;
    cg_rtcp_report_block rb;
    cg_rtp_recv_report(r, 0, 5, &rb);
    CHECK_INT(rb.ext_highest_seq, 0);
    CHECK_INT(rb.lsr, 0);
    /* 0..9 with 3 and 7 missing: 10 expected, 8 received. */
    for (uint16_t s = 0; s < 10; s++) {
        if (s != 3 && s != 7)
            CHECK_INT(push(r, s, s * 3000u, s * MS, 0), 0);
    }
    while (pop(r, 200 * MS, &gap) >= 0)
        ;
    cg_rtp_recv_report(r, 200 * MS, 5, &rb);
    CHECK_INT(rb.cumulative_lost, 2);
    CHECK_INT(rb.fraction_lost, 51); /* 2 * 256 / 10 */
    CHECK_INT(rb.ext_highest_seq, 9);
    /* Ten more, all there: nothing lost in this interval. */
    for (uint16_t s = 10; s < 20; s++)
        CHECK_INT(push(r, s, s * 3000u, 200 * MS + s * MS, 0), 0);
    cg_rtp_recv_report(r, 300 * MS, 5, &rb);
    CHECK_INT(rb.fraction_lost, 0);
    CHECK_INT(rb.cumulative_lost, 2);
    /* A late copy of 3 is received after all (RFC 3550 A.3). */
    CHECK_INT(push(r, 3, 9000, 301 * MS, 0), CG_ERANGE);
    cg_rtp_recv_report(r, 302 * MS, 5, &rb);
    CHECK_INT(rb.cumulative_lost, 1);
    CHECK_INT(rb.fraction_lost, 0);
    /* The block survives a trip through the RR builder and parser. */
    uint8_t buf[64];
    cg_wr w;
    cg_wr_init(&w, buf, sizeof(buf));
    cg_rtcp_build_rr(&w, 77, &rb, 1);
    cg_rtcp_iter it;
    static cg_rtcp_pkt pkt;
    cg_rtcp_iter_init(&it, buf, cg_wr_len(&w));
    CHECK_INT(cg_rtcp_next(&it, &pkt), 0);
    CHECK_INT(pkt.reports[0].cumulative_lost, 1);
    CHECK_INT(pkt.reports[0].ext_highest_seq, 19);
    cg_rtp_recv_free(r);
}

static void test_restart(void)
{
    cg_rtp_recv *r = mk(90000, 64, 150 * MS, 1, 3);
    if (!r)
        return;
    int gap = -1;
    for (uint16_t s = 100; s <= 105; s++) {
        CHECK_INT(push(r, s, s * 3000u, s * MS, 0), 0);
        CHECK_INT(pop(r, s * MS, &gap), s);
    }
    /* A single stray far away is held as a candidate, not acted on. */
    CHECK_INT(push(r, 50000, 1, 106 * MS, 0), 0);
    CHECK_INT(pop(r, 106 * MS, &gap), CG_EAGAIN);
    CHECK_INT(push(r, 106, 106 * 3000u, 107 * MS, 0), 0);
    CHECK_INT(pop(r, 107 * MS, &gap), 106);
    CHECK_INT(gap, 0);
    CHECK_INT(stats(r).resyncs, 0);

    /* The publisher restarts at 40000: confirmed by 40001. */
    CHECK_INT(push(r, 40000, 7, 200 * MS, 0), 0);
    CHECK_INT(pop(r, 200 * MS, &gap), CG_EAGAIN);
    CHECK_INT(push(r, 40001, 3007, 210 * MS, 0), 0);
    CHECK_INT(pop(r, 210 * MS, &gap), 40000);
    CHECK_INT(gap, 1);
    CHECK_INT(pop(r, 210 * MS, &gap), 40001);
    CHECK_INT(gap, 0);
    cg_rtp_recv_stats st = stats(r);
    CHECK_INT(st.resyncs, 1);
    CHECK_INT(st.lost, 0);
    /* Cycles restart with the new sequence. */
    CHECK_INT(st.ext_highest_seq, 40001);
    /* NACKs speak the new sequence numbers. */
    CHECK_INT(push(r, 40003, 9007, 220 * MS, 0), 0);
    uint16_t s[4];
    CHECK_INT(cg_rtp_recv_nacks(r, 220 * MS, s, 4), 1);
    CHECK_INT(s[0], 40002);
    CHECK_INT(push(r, 40002, 6007, 230 * MS, 1), 0);
    CHECK_INT(pop(r, 230 * MS, &gap), 40002);
    CHECK_INT(pop(r, 230 * MS, &gap), 40003);
    /* The expected count carries on across the splice: nothing lost. */
    cg_rtcp_report_block rb;
    cg_rtp_recv_report(r, 240 * MS, 1, &rb);
    CHECK_INT(rb.cumulative_lost, 0);
    CHECK_INT(rb.ext_highest_seq, 40003);

    /* A restart backwards, with a packet still held behind a gap: the held
     * one goes out first, its gap counted lost. */
    CHECK_INT(push(r, 40005, 15007, 250 * MS, 0), 0); /* 40004 missing */
    CHECK_INT(push(r, 10, 0, 260 * MS, 0), 0);
    CHECK_INT(push(r, 11, 3000, 261 * MS, 0), 0);
    CHECK_INT(pop(r, 261 * MS, &gap), 40005);
    CHECK_INT(gap, 1);
    CHECK_INT(pop(r, 261 * MS, &gap), 10);
    CHECK_INT(gap, 1);
    CHECK_INT(pop(r, 261 * MS, &gap), 11);
    CHECK_INT(gap, 0);
    st = stats(r);
    CHECK_INT(st.resyncs, 2);
    CHECK_INT(st.lost, 1);
    CHECK_INT(st.ext_highest_seq, 11);
    cg_rtp_recv_free(r);
}

static void test_edges(void)
{
    cg_rtp_recv_cfg cfg = {.clock_rate = 90000, .max_packets = 16, .max_delay_us = 0};
    cg_rtp_recv *r = NULL;
    cfg.clock_rate = 0;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), CG_EINVAL);
    cfg.clock_rate = 90000;
    cfg.max_packets = 0;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), CG_EINVAL);
    cfg.max_packets = 40000;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), CG_EINVAL);
    cfg.max_packets = 16;
    cfg.nack_max_retries = 256;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), CG_EINVAL);
    CHECK(r == NULL);
    cg_rtp_recv_free(NULL);
    cfg.nack_max_retries = 1;
    CHECK_INT(cg_rtp_recv_new(&r, &cfg), 0);
    if (!r)
        return;
    /* max_delay 0: a gap is given up as soon as pop looks. */
    int gap;
    CHECK_INT(push(r, 100, 0, 0, 0), 0);
    /* Before the first packet: already behind the start. */
    CHECK_INT(push(r, 99, 0, 0, 0), CG_ERANGE);
    CHECK_INT(push(r, 102, 0, 0, 0), 0);
    CHECK_INT(pop(r, 0, &gap), 100);
    CHECK_INT(pop(r, 0, &gap), 102);
    CHECK_INT(gap, 1);
    /* Output buffer too small: the packet stays for the next call. */
    CHECK_INT(push(r, 103, 0, 0, 0), 0);
    uint8_t small[8];
    size_t len;
    CHECK_INT(cg_rtp_recv_pop(r, 0, small, sizeof(small), &len, &gap), CG_ENOSPC);
    CHECK_INT(pop(r, 0, &gap), 103);
    /* Big packets are copied whole. */
    uint8_t big[4000], pl[3000], out[4000];
    size_t n;
    memset(pl, 0x5a, sizeof(pl));
    CHECK_INT(cg_rtp_build(big, sizeof(big), &n, 96, 1, 104, 0, 1, pl, sizeof(pl)), 0);
    CHECK_INT(cg_rtp_recv_push(r, big, n, 0, 0), 0);
    CHECK_INT(cg_rtp_recv_pop(r, 0, out, sizeof(out), &len, &gap), 0);
    CHECK(len == n && memcmp(out, big, n) == 0);
    cg_rtp_recv_free(r);
}

int main(void)
{
    RUN(test_in_order);
    RUN(test_reorder);
    RUN(test_loss);
    RUN(test_nack);
    RUN(test_duplicates);
    RUN(test_wrap);
    RUN(test_buffer_full);
    RUN(test_jitter);
    RUN(test_sr_mapping);
    RUN(test_report);
    RUN(test_restart);
    RUN(test_edges);
    return TEST_RESULT();
}
