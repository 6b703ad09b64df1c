#include "egress/report.h"

#include <string.h>

/* Ticks of clock in d microseconds (d may be negative). */
static int64_t ticks(int64_t d_us, uint32_t clock)
{
    /* Split to keep d_us * clock inside 64 bits for any interval. */
    int64_t s = d_us / 1000000, r = d_us % 1000000;
    return s * (int64_t)clock + r * (int64_t)clock / 1000000;
}

uint32_t cg_report_ts_now(const cg_report_ref *t, const cg_report_ref *ref, uint64_t now_us)
{
    if (t->have_wall && ref->have_wall) {
        /* The publisher's wall clock now, through the reference track. */
        int64_t pub_now = (int64_t)ref->wall_us + (int64_t)(now_us - ref->arrival_us);
        return t->ts + (uint32_t)ticks(pub_now - (int64_t)t->wall_us, t->clock);
    }
    return t->ts + (uint32_t)ticks((int64_t)(now_us - t->arrival_us), t->clock);
}

void cg_report_sr_sent(cg_report_sr_log *log, uint64_t ntp)
{
    log->mid[log->next] = cg_ntp_mid32(ntp);
    log->next = (log->next + 1) % CG_REPORT_SR_LOG;
}

void cg_report_rx_init(cg_report_rx *rx)
{
    memset(rx, 0, sizeof(*rx));
    rx->rtt_us = -1;
}

static int sr_known(const cg_report_sr_log *log, uint32_t lsr)
{
    for (size_t i = 0; i < CG_REPORT_SR_LOG; i++)
        if (log->mid[i] == lsr)
            return 1;
    return 0;
}

void cg_report_rx_apply(cg_report_rx *rx, const cg_rtcp_report_block *rb, uint32_t clock,
                        const cg_report_sr_log *log, uint64_t now_ntp)
{
    rx->reports++;
    rx->loss = rb->fraction_lost / 256.0;
    rx->cumulative_lost = rb->cumulative_lost;
    rx->ext_highest_seq = rb->ext_highest_seq;
    rx->jitter_ms = clock ? rb->jitter * 1000.0 / clock : 0;
    if (rb->lsr == 0 || !sr_known(log, rb->lsr))
        return;
    /* RFC 3550 6.4.1: A - LSR - DLSR, in 1/65536 s, modulo 2^32. */
    uint32_t rtt = cg_ntp_mid32(now_ntp) - rb->lsr - rb->dlsr;
    if (rtt >= 0x80000000u)
        return;
    rx->rtt_us = (int64_t)((uint64_t)rtt * 1000000u / 65536u);
}
