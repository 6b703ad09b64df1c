#include "rtp.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"

int cg_rtp_parse(cg_rtp_hdr *h, const uint8_t *p, size_t n)
{
    if (!h || (!p && n))
        return CG_EINVAL;
    memset(h, 0, sizeof(*h));
    cg_rd rd;
    cg_rd_init(&rd, p, n);
    uint8_t b0, b1;
    if (cg_rd_u8(&rd, &b0) || cg_rd_u8(&rd, &b1) || cg_rd_u16(&rd, &h->seq) ||
        cg_rd_u32(&rd, &h->ts) || cg_rd_u32(&rd, &h->ssrc))
        return CG_ETRUNC;
    h->version = b0 >> 6;
    h->padding = (b0 >> 5) & 1;
    h->extension = (b0 >> 4) & 1;
    h->csrc_count = b0 & 0x0f;
    h->marker = b1 >> 7;
    h->pt = b1 & 0x7f;
    if (h->version != 2)
        return CG_EPROTO;
    if (cg_rd_skip(&rd, (size_t)h->csrc_count * 4))
        return CG_ETRUNC;
    if (h->extension) {
        uint16_t words;
        if (cg_rd_u16(&rd, &h->ext_profile) || cg_rd_u16(&rd, &words) ||
            cg_rd_ptr(&rd, &h->ext, (size_t)words * 4))
            return CG_ETRUNC;
        h->ext_len = (size_t)words * 4;
    }
    h->header_len = rd.pos;
    size_t body = cg_rd_left(&rd);
    if (h->padding) {
        /* The count includes itself, so 0 is impossible; a count reaching
         * into the header is a forged or corrupted packet. */
        if (body == 0)
            return CG_EPROTO;
        uint8_t pad = p[n - 1];
        if (pad == 0 || pad > body)
            return CG_EPROTO;
        h->padding_len = pad;
        body -= pad;
    }
    h->payload = cg_rd_cur(&rd);
    h->payload_len = body;
    return 0;
}

/* One-byte form (RFC 8285 4.2): ID 0 is a padding byte, ID 15 ends the
 * block; two-byte form (4.3): ID 0 is a padding byte. */
int cg_rtp_ext_find(const cg_rtp_hdr *h, uint8_t id, const uint8_t **val, size_t *len)
{
    if (!h || !h->extension || id == 0)
        return CG_ENOTFOUND;
    int one_byte;
    if (h->ext_profile == 0xBEDE)
        one_byte = 1;
    else if ((h->ext_profile & 0xfff0) == 0x1000)
        one_byte = 0;
    else
        return CG_ENOTFOUND;
    if (one_byte && id > 14)
        return CG_ENOTFOUND;
    cg_rd rd;
    cg_rd_init(&rd, h->ext, h->ext_len);
    while (cg_rd_left(&rd) > 0) {
        uint8_t b, eid, elen;
        (void)cg_rd_u8(&rd, &b);
        if (b == 0)
            continue;
        if (one_byte) {
            eid = b >> 4;
            if (eid == 15)
                return CG_ENOTFOUND;
            elen = (uint8_t)((b & 0x0f) + 1);
        } else {
            eid = b;
            if (cg_rd_u8(&rd, &elen))
                return CG_EPROTO;
        }
        const uint8_t *v;
        if (cg_rd_ptr(&rd, &v, elen))
            return CG_EPROTO;
        if (eid == id) {
            if (val)
                *val = v;
            if (len)
                *len = elen;
            return 0;
        }
    }
    return CG_ENOTFOUND;
}

int cg_rtp_build(uint8_t *out, size_t cap, size_t *len, uint8_t pt, int marker, uint16_t seq,
                 uint32_t ts, uint32_t ssrc, const uint8_t *payload, size_t payload_len)
{
    if (!out || !len || pt > 127 || (!payload && payload_len))
        return CG_EINVAL;
    cg_wr w;
    cg_wr_init(&w, out, cap);
    cg_wr_u8(&w, 0x80);
    cg_wr_u8(&w, (uint8_t)((marker ? 0x80 : 0) | pt));
    cg_wr_u16(&w, seq);
    cg_wr_u32(&w, ts);
    cg_wr_u32(&w, ssrc);
    cg_wr_bytes(&w, payload, payload_len);
    if (cg_wr_err(&w))
        return CG_ENOSPC;
    *len = cg_wr_len(&w);
    return 0;
}

/* Copies the header of the parsed packet with pt/seq/ssrc replaced and the
 * padding bit cleared (the rebuilt packet never carries padding). */
static void put_header(cg_wr *w, const uint8_t *src, const cg_rtp_hdr *h, uint8_t pt, uint16_t seq,
                       uint32_t ssrc)
{
    cg_wr_u8(w, (uint8_t)(src[0] & ~0x20));
    cg_wr_u8(w, (uint8_t)((h->marker << 7) | pt));
    cg_wr_u16(w, seq);
    cg_wr_u32(w, h->ts);
    cg_wr_u32(w, ssrc);
    cg_wr_bytes(w, src + CG_RTP_HDR_LEN, h->header_len - CG_RTP_HDR_LEN);
}

int cg_rtp_rtx_unwrap(const uint8_t *rtx, size_t n, uint8_t orig_pt, uint32_t orig_ssrc,
                      uint8_t *out, size_t cap, size_t *len)
{
    if (!out || !len || orig_pt > 127)
        return CG_EINVAL;
    cg_rtp_hdr h;
    int rc = cg_rtp_parse(&h, rtx, n);
    if (rc)
        return rc;
    if (h.payload_len < 2)
        return CG_ETRUNC;
    uint16_t osn = cg_load_u16(h.payload);
    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, rtx, &h, orig_pt, osn, orig_ssrc);
    cg_wr_bytes(&w, h.payload + 2, h.payload_len - 2);
    if (cg_wr_err(&w))
        return CG_ENOSPC;
    *len = cg_wr_len(&w);
    return 0;
}

int cg_rtp_rtx_wrap(const uint8_t *orig, size_t n, uint8_t rtx_pt, uint32_t rtx_ssrc,
                    uint16_t rtx_seq, uint8_t *out, size_t cap, size_t *len)
{
    if (!out || !len || rtx_pt > 127)
        return CG_EINVAL;
    cg_rtp_hdr h;
    int rc = cg_rtp_parse(&h, orig, n);
    if (rc)
        return rc;
    cg_wr w;
    cg_wr_init(&w, out, cap);
    put_header(&w, orig, &h, rtx_pt, rtx_seq, rtx_ssrc);
    cg_wr_u16(&w, h.seq);
    cg_wr_bytes(&w, h.payload, h.payload_len);
    if (cg_wr_err(&w))
        return CG_ENOSPC;
    *len = cg_wr_len(&w);
    return 0;
}

int64_t cg_rtp_ts_extend(cg_rtp_ts_ext *e, uint32_t ts)
{
    if (!e->have) {
        e->have = 1;
        e->ext = ts;
    } else {
        uint32_t diff = ts - e->last;
        e->ext += diff < 0x80000000u ? (int64_t)diff : (int64_t)diff - ((int64_t)1 << 32);
    }
    e->last = ts;
    return e->ext;
}
