#include "rtcp.h"

#include <string.h>

#include "core/err.h"

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define NTP_UNIX_OFFSET 2208988800ull
#define US_PER_S 1000000ull

void cg_rtcp_iter_init(cg_rtcp_iter *it, const uint8_t *p, size_t n)
{
    cg_rd_init(&it->rd, p, n);
}

static int parse_report_blocks(cg_rd *b, cg_rtcp_pkt *pkt, unsigned count)
{
    if (cg_rd_left(b) < (size_t)count * 24)
        return CG_EPROTO;
    for (unsigned i = 0; i < count; i++) {
        cg_rtcp_report_block *rb = &pkt->reports[i];
        uint32_t lost24;
        (void)cg_rd_u32(b, &rb->ssrc);
        (void)cg_rd_u8(b, &rb->fraction_lost);
        (void)cg_rd_u24(b, &lost24);
        /* Sign-extend the 24-bit field: duplicates can make it negative. */
        rb->cumulative_lost = (lost24 & 0x800000) ? (int32_t)lost24 - 0x1000000 : (int32_t)lost24;
        (void)cg_rd_u32(b, &rb->ext_highest_seq);
        (void)cg_rd_u32(b, &rb->jitter);
        (void)cg_rd_u32(b, &rb->lsr);
        (void)cg_rd_u32(b, &rb->dlsr);
    }
    pkt->n_reports = count;
    return 0;
}

/* Chunks are 32-bit aligned relative to the start of the body, which is
 * itself aligned; each ends with one or more null bytes up to the boundary. */
static int parse_sdes(cg_rd *b, cg_rtcp_pkt *pkt, unsigned count)
{
    for (unsigned c = 0; c < count; c++) {
        uint32_t ssrc;
        if (cg_rd_u32(b, &ssrc))
            return CG_EPROTO;
        if (c == 0)
            pkt->sender_ssrc = ssrc;
        for (;;) {
            uint8_t type, len;
            if (cg_rd_u8(b, &type))
                return CG_EPROTO;
            if (type == 0)
                break;
            const uint8_t *v;
            if (cg_rd_u8(b, &len) || cg_rd_ptr(b, &v, len))
                return CG_EPROTO;
            if (type == 1 && c == 0 && !pkt->cname) {
                pkt->cname = v;
                pkt->cname_len = len;
            }
        }
        size_t pad = (4 - b->pos % 4) % 4;
        if (cg_rd_skip(b, pad))
            return CG_EPROTO;
    }
    return 0;
}

static void parse_nack(cg_rd *b, cg_rtcp_pkt *pkt)
{
    uint16_t pid, blp;
    while (cg_rd_left(b) >= 4) {
        (void)cg_rd_u16(b, &pid);
        (void)cg_rd_u16(b, &blp);
        for (int i = -1; i < 16; i++) {
            if (i >= 0 && !(blp & (1u << i)))
                continue;
            if (pkt->n_nack == CG_RTCP_MAX_NACK) {
                pkt->nack_truncated = 1;
                return;
            }
            pkt->nack[pkt->n_nack++] = (uint16_t)(pid + i + 1);
        }
    }
}

static void parse_remb(cg_rd *b, cg_rtcp_pkt *pkt)
{
    const uint8_t *id;
    uint8_t num_ssrc, b5;
    uint16_t lo;
    if (cg_rd_left(b) < 8)
        return;
    (void)cg_rd_ptr(b, &id, 4);
    if (memcmp(id, "REMB", 4) != 0)
        return;
    (void)cg_rd_u8(b, &num_ssrc);
    (void)cg_rd_u8(b, &b5);
    (void)cg_rd_u16(b, &lo);
    unsigned exp = b5 >> 2;
    uint64_t mantissa = ((uint64_t)(b5 & 3) << 16) | lo;
    pkt->is_remb = 1;
    /* A 6-bit exponent on an 18-bit mantissa can exceed 64 bits. */
    if (mantissa > (UINT64_MAX >> exp))
        pkt->remb_bps = UINT64_MAX;
    else
        pkt->remb_bps = mantissa << exp;
}

static int parse_body(cg_rd *b, cg_rtcp_pkt *pkt)
{
    unsigned count = pkt->count_or_fmt;
    switch (pkt->type) {
    case CG_RTCP_SR:
        if (cg_rd_u32(b, &pkt->sender_ssrc) || cg_rd_u64(b, &pkt->ntp) ||
            cg_rd_u32(b, &pkt->rtp_ts) || cg_rd_u32(b, &pkt->packet_count) ||
            cg_rd_u32(b, &pkt->octet_count))
            return CG_EPROTO;
        return parse_report_blocks(b, pkt, count);
    case CG_RTCP_RR:
        if (cg_rd_u32(b, &pkt->sender_ssrc))
            return CG_EPROTO;
        return parse_report_blocks(b, pkt, count);
    case CG_RTCP_SDES:
        return parse_sdes(b, pkt, count);
    case CG_RTCP_BYE:
        if (cg_rd_left(b) < (size_t)count * 4)
            return CG_EPROTO;
        if (count)
            (void)cg_rd_u32(b, &pkt->sender_ssrc);
        return 0;
    case CG_RTCP_APP:
        /* SSRC and a 4-character name are mandatory. */
        if (cg_rd_left(b) < 8)
            return CG_EPROTO;
        (void)cg_rd_u32(b, &pkt->sender_ssrc);
        return 0;
    case CG_RTCP_XR:
        if (cg_rd_u32(b, &pkt->sender_ssrc))
            return CG_EPROTO;
        return 0;
    case CG_RTCP_RTPFB:
    case CG_RTCP_PSFB:
        if (cg_rd_u32(b, &pkt->sender_ssrc) || cg_rd_u32(b, &pkt->media_ssrc))
            return CG_EPROTO;
        if (pkt->type == CG_RTCP_RTPFB) {
            if (count == CG_RTCP_FMT_NACK)
                parse_nack(b, pkt);
            return 0;
        }
        if (count == CG_RTCP_FMT_FIR) {
            if (cg_rd_u32(b, &pkt->fir_ssrc) || cg_rd_u8(b, &pkt->fir_seq) || cg_rd_skip(b, 3))
                return CG_EPROTO;
        } else if (count == CG_RTCP_FMT_AFB) {
            parse_remb(b, pkt);
        }
        return 0;
    default:
        return 0;
    }
}

int cg_rtcp_next(cg_rtcp_iter *it, cg_rtcp_pkt *pkt)
{
    memset(pkt, 0, sizeof(*pkt));
    /* Work on a copy so that an error leaves the iterator where it was. */
    cg_rd rd = it->rd;
    if (cg_rd_left(&rd) == 0)
        return CG_ENOTFOUND;
    const uint8_t *start = cg_rd_cur(&rd);
    uint8_t b0, type;
    uint16_t words;
    if (cg_rd_u8(&rd, &b0) || cg_rd_u8(&rd, &type) || cg_rd_u16(&rd, &words))
        return CG_ETRUNC;
    if ((b0 >> 6) != 2)
        return CG_EPROTO;
    cg_rd body;
    if (cg_rd_sub(&rd, &body, (size_t)words * 4))
        return CG_ETRUNC;
    if (b0 & 0x20) {
        /* The last byte counts the padding, itself included. */
        size_t blen = cg_rd_left(&body);
        if (blen == 0)
            return CG_EPROTO;
        uint8_t pad = body.p[blen - 1];
        if (pad == 0 || pad > blen)
            return CG_EPROTO;
        body.len -= pad;
    }
    pkt->type = type;
    pkt->count_or_fmt = b0 & 0x1f;
    pkt->raw = start;
    pkt->raw_len = 4 + (size_t)words * 4;
    int rc = parse_body(&body, pkt);
    if (rc)
        return rc;
    it->rd = rd;
    return 0;
}

static void put_header(cg_wr *w, uint8_t count, uint8_t type, size_t body_len)
{
    cg_wr_u8(w, (uint8_t)(0x80 | count));
    cg_wr_u8(w, type);
    cg_wr_u16(w, (uint16_t)(body_len / 4));
}

static void put_report_block(cg_wr *w, const cg_rtcp_report_block *rb)
{
    int32_t lost = rb->cumulative_lost;
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    cg_wr_u32(w, rb->ssrc);
    cg_wr_u8(w, rb->fraction_lost);
    cg_wr_u24(w, (uint32_t)lost & 0xffffff);
    cg_wr_u32(w, rb->ext_highest_seq);
    cg_wr_u32(w, rb->jitter);
    cg_wr_u32(w, rb->lsr);
    cg_wr_u32(w, rb->dlsr);
}

static void bad_arg(cg_wr *w)
{
    if (!w->err)
        w->err = CG_EINVAL;
}

void cg_rtcp_build_rr(cg_wr *w, uint32_t sender_ssrc, const cg_rtcp_report_block *blocks, size_t n)
{
    if (n > CG_RTCP_MAX_REPORTS || (n && !blocks)) {
        bad_arg(w);
        return;
    }
    put_header(w, (uint8_t)n, CG_RTCP_RR, 4 + 24 * n);
    cg_wr_u32(w, sender_ssrc);
    for (size_t i = 0; i < n; i++)
        put_report_block(w, &blocks[i]);
}

void cg_rtcp_build_sr(cg_wr *w, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                      uint32_t octets, const cg_rtcp_report_block *blocks, size_t n)
{
    if (n > CG_RTCP_MAX_REPORTS || (n && !blocks)) {
        bad_arg(w);
        return;
    }
    put_header(w, (uint8_t)n, CG_RTCP_SR, 24 + 24 * n);
    cg_wr_u32(w, ssrc);
    cg_wr_u64(w, ntp);
    cg_wr_u32(w, rtp_ts);
    cg_wr_u32(w, packets);
    cg_wr_u32(w, octets);
    for (size_t i = 0; i < n; i++)
        put_report_block(w, &blocks[i]);
}

void cg_rtcp_build_sdes_cname(cg_wr *w, uint32_t ssrc, const char *cname)
{
    size_t len = cname ? strlen(cname) : 0;
    if (!cname || len > 255) {
        bad_arg(w);
        return;
    }
    /* SSRC, CNAME item, then at least one null byte up to the boundary. */
    size_t chunk = 4 + 2 + len + 1;
    size_t body = (chunk + 3) & ~(size_t)3;
    put_header(w, 1, CG_RTCP_SDES, body);
    cg_wr_u32(w, ssrc);
    cg_wr_u8(w, 1);
    cg_wr_u8(w, (uint8_t)len);
    cg_wr_bytes(w, cname, len);
    cg_wr_zero(w, body - (chunk - 1));
}

void cg_rtcp_build_nack(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc, const uint16_t *seqs,
                        size_t n)
{
    if (n == 0)
        return;
    if (!seqs) {
        bad_arg(w);
        return;
    }
    size_t start = cg_wr_len(w);
    put_header(w, CG_RTCP_FMT_NACK, CG_RTCP_RTPFB, 0);
    cg_wr_u32(w, sender_ssrc);
    cg_wr_u32(w, media_ssrc);
    size_t pairs = 0, blp_off = 0;
    uint16_t pid = 0, blp = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t d = (uint16_t)(seqs[i] - pid);
        if (pairs && d == 0)
            continue;
        if (pairs && d <= 16) {
            blp = (uint16_t)(blp | (1u << (d - 1)));
            cg_wr_put_u16_at(w, blp_off, blp);
            continue;
        }
        pid = seqs[i];
        blp = 0;
        cg_wr_u16(w, pid);
        blp_off = cg_wr_len(w);
        cg_wr_u16(w, 0);
        pairs++;
    }
    cg_wr_put_u16_at(w, start + 2, (uint16_t)(2 + pairs));
}

void cg_rtcp_build_pli(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    put_header(w, CG_RTCP_FMT_PLI, CG_RTCP_PSFB, 8);
    cg_wr_u32(w, sender_ssrc);
    cg_wr_u32(w, media_ssrc);
}

void cg_rtcp_build_fir(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq)
{
    put_header(w, CG_RTCP_FMT_FIR, CG_RTCP_PSFB, 16);
    cg_wr_u32(w, sender_ssrc);
    cg_wr_u32(w, 0);
    cg_wr_u32(w, media_ssrc);
    cg_wr_u8(w, seq);
    cg_wr_zero(w, 3);
}

void cg_rtcp_build_bye(cg_wr *w, uint32_t ssrc)
{
    put_header(w, 1, CG_RTCP_BYE, 4);
    cg_wr_u32(w, ssrc);
}

uint64_t cg_ntp_from_wall_us(uint64_t wall_us)
{
    uint64_t sec = wall_us / US_PER_S + NTP_UNIX_OFFSET;
    uint64_t frac = ((wall_us % US_PER_S << 32) + US_PER_S / 2) / US_PER_S;
    /* The seconds field wraps in 2036 (NTP era 1); the reader undoes it. */
    return ((sec & 0xffffffffull) << 32) | frac;
}

uint64_t cg_ntp_to_wall_us(uint64_t ntp)
{
    uint64_t sec = ntp >> 32;
    if (!(sec & 0x80000000ull))
        sec += 1ull << 32;
    if (sec < NTP_UNIX_OFFSET)
        return 0;
    uint64_t frac_us = ((ntp & 0xffffffffull) * US_PER_S + (1ull << 31)) >> 32;
    return (sec - NTP_UNIX_OFFSET) * US_PER_S + frac_us;
}
