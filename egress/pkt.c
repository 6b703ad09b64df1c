#include "egress/pkt.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtp.h"

enum { NAL_IDR = 5, NAL_SPS = 7, NAL_PPS = 8, NAL_STAP_A = 24, NAL_FU_A = 28 };

int cg_pkt_new(cg_pkt **out, const uint8_t *rtp, size_t n, uint32_t flags, uint64_t now_us)
{
    if (!out || !rtp)
        return CG_EINVAL;
    cg_rtp_hdr h;
    int rc = cg_rtp_parse(&h, rtp, n);
    if (rc < 0)
        return rc;
    /* One allocation: the struct followed by the packet bytes. */
    cg_pkt *p = malloc(sizeof(*p) + n);
    if (!p)
        return CG_ENOMEM;
    uint8_t *bytes = (uint8_t *)(p + 1);
    memcpy(bytes, rtp, n);
    p->data = bytes;
    p->len = n;
    p->payload_off = (size_t)(h.payload - rtp);
    p->payload_len = h.payload_len;
    p->ssrc = h.ssrc;
    p->ts = h.ts;
    p->seq = h.seq;
    p->pt = h.pt;
    p->marker = h.marker;
    p->flags = flags;
    p->arrival_us = now_us;
    p->refs_ = 1;
    *out = p;
    return 0;
}

cg_pkt *cg_pkt_ref(cg_pkt *p)
{
    if (p)
        __atomic_add_fetch(&p->refs_, 1, __ATOMIC_RELAXED);
    return p;
}

cg_pkt *cg_pkt_unref(cg_pkt *p)
{
    if (p && __atomic_sub_fetch(&p->refs_, 1, __ATOMIC_ACQ_REL) == 0)
        free(p);
    return NULL;
}

static uint32_t nal_flag(uint8_t type)
{
    switch (type) {
    case NAL_IDR:
        return CG_PKT_IDR;
    case NAL_SPS:
        return CG_PKT_SPS;
    case NAL_PPS:
        return CG_PKT_PPS;
    default:
        return 0;
    }
}

uint32_t cg_pkt_h264_flags(const uint8_t *payload, size_t len)
{
    if (!payload || len < 1)
        return 0;
    uint8_t type = payload[0] & 0x1f;
    if (type >= 1 && type <= 23)
        return nal_flag(type);
    if (type == NAL_STAP_A) {
        cg_rd r;
        cg_rd_init(&r, payload + 1, len - 1);
        uint32_t flags = 0;
        uint16_t size;
        uint8_t hdr;
        while (cg_rd_u16(&r, &size) == 0 && size > 0 && cg_rd_left(&r) >= size) {
            if (cg_rd_u8(&r, &hdr) < 0)
                break;
            flags |= nal_flag(hdr & 0x1f);
            cg_rd_skip(&r, size - 1u);
        }
        return flags;
    }
    if (type == NAL_FU_A && len >= 2) {
        uint8_t fu = payload[1];
        uint32_t f = nal_flag(fu & 0x1f);
        if (f == CG_PKT_IDR && !(fu & 0x80))
            return CG_PKT_IDR_PART;
        /* A fragmented SPS/PPS counts on its start fragment only. */
        return (fu & 0x80) ? f : 0;
    }
    return 0;
}
