/* Fuzz target for rtc/rtcp.c: walks the input as a compound RTCP packet to
 * its end or first error. Each packet must lie inside the input, and what
 * the builders can express must survive a rebuild: SR/RR report blocks,
 * SDES CNAME, and the set of NACKed sequence numbers. Report blocks also go
 * through the WHEP receiver-report figures (egress/report.h), whose loss,
 * jitter and RTT must stay in range. Violations abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "egress/report.h"
#include "rtc/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cg_rtcp_pkt pkt, again;

static size_t sorted_unique(uint16_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint16_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m == 0 || v[m - 1] != v[i])
            v[m++] = v[i];
    }
    return m;
}

static void reparse(const uint8_t *buf, cg_wr *w)
{
    if (cg_wr_err(w))
        abort();
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, buf, cg_wr_len(w));
    if (cg_rtcp_next(&it, &again) || cg_rtcp_next(&it, &again) != CG_ENOTFOUND)
        abort();
    cg_rtcp_iter_init(&it, buf, cg_wr_len(w));
    (void)cg_rtcp_next(&it, &again);
}

static void rebuild(void)
{
    static uint8_t buf[2048];
    cg_wr w;
    cg_wr_init(&w, buf, sizeof(buf));
    if (pkt.type == CG_RTCP_SR || pkt.type == CG_RTCP_RR) {
        if (pkt.n_reports != pkt.count_or_fmt)
            abort();
        if (pkt.type == CG_RTCP_SR)
            cg_rtcp_build_sr(&w, pkt.sender_ssrc, pkt.ntp, pkt.rtp_ts, pkt.packet_count,
                             pkt.octet_count, pkt.reports, pkt.n_reports);
        else
            cg_rtcp_build_rr(&w, pkt.sender_ssrc, pkt.reports, pkt.n_reports);
        reparse(buf, &w);
        if (again.sender_ssrc != pkt.sender_ssrc || again.n_reports != pkt.n_reports ||
            again.ntp != pkt.ntp ||
            memcmp(again.reports, pkt.reports, pkt.n_reports * sizeof(pkt.reports[0])) != 0)
            abort();
    } else if (pkt.type == CG_RTCP_SDES && pkt.cname) {
        char name[256];
        memcpy(name, pkt.cname, pkt.cname_len);
        name[pkt.cname_len] = 0;
        if (strlen(name) != pkt.cname_len)
            return; /* an embedded NUL is not expressible as a C string */
        cg_rtcp_build_sdes_cname(&w, pkt.sender_ssrc, name);
        reparse(buf, &w);
        if (again.cname_len != pkt.cname_len || memcmp(again.cname, pkt.cname, pkt.cname_len))
            abort();
    } else if (pkt.type == CG_RTCP_RTPFB && pkt.count_or_fmt == CG_RTCP_FMT_NACK && pkt.n_nack &&
               !pkt.nack_truncated) {
        cg_rtcp_build_nack(&w, pkt.sender_ssrc, pkt.media_ssrc, pkt.nack, pkt.n_nack);
        reparse(buf, &w);
        uint16_t a[CG_RTCP_MAX_NACK], b[CG_RTCP_MAX_NACK];
        memcpy(a, pkt.nack, pkt.n_nack * 2);
        memcpy(b, again.nack, again.n_nack * 2);
        size_t na = sorted_unique(a, pkt.n_nack), nb = sorted_unique(b, again.n_nack);
        if (again.nack_truncated || na != nb || memcmp(a, b, na * 2) != 0)
            abort();
    }
}

/* What a WHEP viewer's report blocks give, with each block's LSR known (as
 * if we had sent that SR) so the RTT arithmetic runs on any value. */
static void viewer_figures(uint64_t now_ntp)
{
    for (size_t i = 0; i < pkt.n_reports; i++) {
        const cg_rtcp_report_block *rb = &pkt.reports[i];
        cg_report_sr_log log = {0};
        cg_report_sr_sent(&log, (uint64_t)rb->lsr << 16);
        cg_report_rx rx;
        cg_report_rx_init(&rx);
        cg_report_rx_apply(&rx, rb, i % 2 ? 48000 : 90000, &log, now_ntp);
        if (rx.reports != 1 || rx.loss < 0 || rx.loss >= 1 || rx.jitter_ms < 0 ||
            rx.rtt_us < -1 || rx.rtt_us > 32768000000ll || (rb->lsr == 0 && rx.rtt_us != -1))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_rtcp_iter it;
    cg_rtcp_iter_init(&it, data, size);
    size_t seen = 0;
    int rc;
    while ((rc = cg_rtcp_next(&it, &pkt)) == 0) {
        if (pkt.raw != data + seen || pkt.raw_len < 4 || pkt.raw_len % 4 ||
            pkt.raw_len > size - seen)
            abort();
        if (pkt.n_reports > CG_RTCP_MAX_REPORTS || pkt.n_nack > CG_RTCP_MAX_NACK)
            abort();
        if (pkt.cname && (pkt.cname < pkt.raw || pkt.cname + pkt.cname_len > pkt.raw + pkt.raw_len))
            abort();
        seen += pkt.raw_len;
        (void)cg_ntp_to_wall_us(pkt.ntp);
        viewer_figures(pkt.ntp ? pkt.ntp : 0xe5a1c3d2b4f60000ull);
        rebuild();
    }
    if (rc != CG_ENOTFOUND && rc != CG_ETRUNC && rc != CG_EPROTO)
        abort();
    if (rc == CG_ENOTFOUND && seen != size)
        abort();
    return 0;
}
