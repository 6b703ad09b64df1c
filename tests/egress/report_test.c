/* egress/report: sender-report timestamps from the publisher's mapping
 * (the A/V relation the publisher stated survives a clock offset and
 * different arrival delays; arrival extrapolation before any SR; wrap),
 * and receiver-report figures (loss, cumulative lost, jitter, RTT only for
 * an LSR we sent). */
#include "cg_test.h"
#include "egress/report.h"
#include "rtc/rtcp.h"

static void test_sr_ts_keeps_publisher_av_relation(void)
{
    /* The publisher's clock is 5 s ahead of ours. Video ts 900000 was
     * captured at publisher wall 1000.000 s and arrived (our monotonic) at
     * 20.000 s; audio ts 480000 was captured at publisher wall 1000.100 s
     * but arrived late, at 20.300 s (a slower path). */
    cg_report_ref v = {.valid = 1,
                       .ssrc = 1,
                       .ts = 900000,
                       .arrival_us = 20000000,
                       .clock = 90000,
                       .have_wall = 1,
                       .wall_us = 1000000000};
    cg_report_ref a = {.valid = 1,
                       .ssrc = 2,
                       .ts = 480000,
                       .arrival_us = 20300000,
                       .clock = 48000,
                       .have_wall = 1,
                       .wall_us = 1000100000};
    uint64_t now = 20500000; /* 0.5 s after the video packet arrived */
    uint32_t vts = cg_report_ts_now(&v, &v, now);
    uint32_t ats = cg_report_ts_now(&a, &v, now);
    /* Video: its packet plus 0.5 s. */
    CHECK_INT(vts, 900000 + 45000);
    /* Audio: publisher wall now = 1000.5 s, its packet at 1000.1 s: 0.4 s
     * later, not the 0.2 s its own arrival would give. */
    CHECK_INT(ats, 480000 + 19200);
    /* Both map to the same publisher instant. */
    double v_wall = 1000.0 + (vts - 900000) / 90000.0;
    double a_wall = 1000.1 + (ats - 480000) / 48000.0;
    CHECK(v_wall - a_wall < 1e-6 && a_wall - v_wall < 1e-6);

    /* No SR yet: each track from its own last arrival. */
    a.have_wall = 0;
    CHECK_INT(cg_report_ts_now(&a, &v, now), 480000 + 9600);
    /* Timestamps wrap. */
    v.ts = 4294967000u;
    CHECK_INT(cg_report_ts_now(&v, &v, now), (uint32_t)(4294967000u + 45000u));
    /* A packet newer than now's estimate of the reference (clock drift):
     * the result may go back a little, never wildly. */
    a.have_wall = 1;
    a.wall_us = 1000600000;
    CHECK_INT(cg_report_ts_now(&a, &v, now), (uint32_t)(480000 - 4800));
}

static void test_rr_figures(void)
{
    cg_report_sr_log log = {0};
    uint64_t sent_wall = 1700000000000000ull;
    uint64_t ntp = cg_ntp_from_wall_us(sent_wall);
    cg_report_sr_sent(&log, ntp);
    cg_report_rx rx;
    cg_report_rx_init(&rx);
    CHECK_INT(rx.rtt_us, -1);
    /* The viewer held our SR 100 ms before reporting; the report arrives
     * 130 ms after the SR left: RTT 30 ms. */
    cg_rtcp_report_block rb = {.ssrc = 7,
                               .fraction_lost = 64, /* 25 % */
                               .cumulative_lost = 12,
                               .ext_highest_seq = 70000,
                               .jitter = 900, /* 90 kHz: 10 ms */
                               .lsr = cg_ntp_mid32(ntp),
                               .dlsr = 6554 /* 0.1 s in 1/65536 s */};
    cg_report_rx_apply(&rx, &rb, 90000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK_INT(rx.reports, 1);
    CHECK(rx.loss > 0.249 && rx.loss < 0.251);
    CHECK_INT(rx.cumulative_lost, 12);
    CHECK(rx.jitter_ms > 9.99 && rx.jitter_ms < 10.01);
    CHECK(rx.rtt_us > 29000 && rx.rtt_us < 31000);
    /* An LSR we never sent gives no RTT; the rest is still taken. */
    cg_report_rx_init(&rx);
    rb.lsr ^= 0x10000;
    rb.fraction_lost = 0;
    cg_report_rx_apply(&rx, &rb, 90000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK_INT(rx.rtt_us, -1);
    CHECK(rx.loss == 0);
    /* No SR yet (LSR 0): no RTT. A negative result (DLSR too big): none. */
    rb.lsr = 0;
    cg_report_rx_apply(&rx, &rb, 90000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK_INT(rx.rtt_us, -1);
    rb.lsr = cg_ntp_mid32(ntp);
    rb.dlsr = 65536; /* 1 s, longer than the 130 ms since */
    cg_report_rx_apply(&rx, &rb, 90000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK_INT(rx.rtt_us, -1);
    /* Audio clock for jitter. */
    rb.jitter = 480;
    cg_report_rx_apply(&rx, &rb, 48000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK(rx.jitter_ms > 9.99 && rx.jitter_ms < 10.01);
    /* The log keeps the last CG_REPORT_SR_LOG SRs. */
    for (int i = 1; i <= CG_REPORT_SR_LOG; i++)
        cg_report_sr_sent(&log, cg_ntp_from_wall_us(sent_wall + (uint64_t)i * 1000000));
    rb.dlsr = 6554;
    cg_report_rx_init(&rx);
    cg_report_rx_apply(&rx, &rb, 90000, &log, cg_ntp_from_wall_us(sent_wall + 130000));
    CHECK_INT(rx.rtt_us, -1); /* the first SR fell out of the log */
}

int main(void)
{
    RUN(test_sr_ts_keeps_publisher_av_relation);
    RUN(test_rr_figures);
    return TEST_RESULT();
}
