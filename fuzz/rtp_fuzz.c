/* Fuzz target for rtc/rtp.c and rtc/rtp_recv.c.
 *
 * The input is used twice. First as one RTP packet: parse, look up every
 * extension id, RTX unwrap and wrap back, checking that every borrowed
 * pointer stays inside the input and that the round trip gives back the
 * packet minus its padding. Then as a script driving one cg_rtp_recv:
 *   byte 0: config (bits 0-3 max_packets - 1, bit 4 nack, bits 5-6 max delay)
 *   then records, by op & 3:
 *     0: synthesized packet: int8 seq delta, u8 time step (ms), op bit 2 = RTX
 *     1: raw packet: u8 length, bytes
 *     2: pop everything releasable, collect NACKs, read the deadline
 *     3: SR with a u32 RTP timestamp, then a report and a wall-clock lookup
 * Released packets must parse and never outnumber the accepted ones; pop
 * ends only in CG_EAGAIN (the buffer is big enough). Violations abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/rtp_recv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const uint8_t *p, size_t n, const uint8_t *q, size_t len)
{
    if (len && (q < p || q > p + n || len > (size_t)(p + n - q)))
        abort();
}

static void one_packet(const uint8_t *p, size_t n)
{
    cg_rtp_hdr h;
    int parsed = cg_rtp_parse(&h, p, n) == 0;
    if (parsed) {
        if (h.header_len + h.payload_len + h.padding_len != n)
            abort();
        check_inside(p, n, h.payload, h.payload_len);
        check_inside(p, n, h.ext, h.ext_len);
        for (unsigned id = 0; id < 256; id++) {
            const uint8_t *v = NULL;
            size_t len = 0;
            if (cg_rtp_ext_find(&h, (uint8_t)id, &v, &len) == 0)
                check_inside(h.ext, h.ext_len, v, len);
        }
    }
    size_t cap = n + 16;
    uint8_t *out = malloc(cap), *back = malloc(cap);
    if (!out || !back)
        goto done;
    size_t len = 0, blen = 0;
    if (cg_rtp_rtx_unwrap(p, n, 96, 0x01020304, out, cap, &len) == 0) {
        if (!parsed || len + 2 != h.header_len + h.payload_len)
            abort();
        cg_rtp_hdr u;
        if (cg_rtp_parse(&u, out, len) || u.padding || u.seq != cg_load_u16(h.payload))
            abort();
        /* Wrapping the result again restores the input without padding. */
        if (cg_rtp_rtx_wrap(out, len, h.pt, h.ssrc, h.seq, back, cap, &blen))
            abort();
        if (blen != h.header_len + h.payload_len || back[0] != (p[0] & ~0x20) ||
            memcmp(back + 1, p + 1, blen - 1) != 0)
            abort();
    }
    if (cg_rtp_rtx_wrap(p, n, 97, 0x05060708, 7, out, cap, &len) == 0) {
        if (!parsed || len != h.header_len + h.payload_len + 2)
            abort();
    }
done:
    free(out);
    free(back);
}

static void drive_receiver(const uint8_t *data, size_t size)
{
    cg_rd rd;
    cg_rd_init(&rd, data, size);
    uint8_t cfgb;
    if (cg_rd_u8(&rd, &cfgb))
        return;
    cg_rtp_recv_cfg cfg = {
        .clock_rate = (cfgb & 0x80) ? 48000 : 90000,
        .max_packets = (size_t)(cfgb & 0x0f) + 1,
        .max_delay_us = (uint64_t)((cfgb >> 5) & 3) * 20000,
        .nack_enabled = (cfgb >> 4) & 1,
        .nack_max_retries = 3,
    };
    cg_rtp_recv *r = NULL;
    if (cg_rtp_recv_new(&r, &cfg))
        return;
    uint16_t seq = 1000;
    uint64_t now = 1000000;
    uint64_t popped = 0;
    uint8_t out[1500];
    uint8_t op;
    while (cg_rd_u8(&rd, &op) == 0) {
        switch (op & 3) {
        case 0: {
            uint8_t delta, dt, pl[4];
            size_t n;
            uint8_t pkt[32];
            if (cg_rd_u8(&rd, &delta) || cg_rd_u8(&rd, &dt))
                goto end;
            seq = (uint16_t)(seq + (int8_t)delta);
            now += (uint64_t)dt * 1000;
            cg_store_u16(pl, seq);
            cg_store_u16(pl + 2, (uint16_t)popped);
            if (cg_rtp_build(pkt, sizeof(pkt), &n, 96, op >> 7, seq, (uint32_t)(now / 11), 42, pl,
                             sizeof(pl)))
                abort();
            (void)cg_rtp_recv_push(r, pkt, n, (op >> 2) & 1, now);
            break;
        }
        case 1: {
            uint8_t len;
            const uint8_t *p;
            if (cg_rd_u8(&rd, &len) || cg_rd_ptr(&rd, &p, len))
                goto end;
            (void)cg_rtp_recv_push(r, p, len, (op >> 2) & 1, now);
            break;
        }
        case 2: {
            size_t len;
            int gap;
            int rc;
            while ((rc = cg_rtp_recv_pop(r, now, out, sizeof(out), &len, &gap)) == 0) {
                cg_rtp_hdr h;
                if (cg_rtp_parse(&h, out, len) || (gap != 0 && gap != 1))
                    abort();
                popped++;
            }
            if (rc != CG_EAGAIN)
                abort();
            uint16_t nacks[64];
            if (cg_rtp_recv_nacks(r, now, nacks, 64) > 64)
                abort();
            uint64_t dl = cg_rtp_recv_deadline(r);
            if (dl != UINT64_MAX && dl > now)
                now = dl; /* jump the clock to the next event */
            break;
        }
        default: {
            uint32_t ts;
            if (cg_rd_u32(&rd, &ts))
                goto end;
            cg_rtp_recv_on_sr(r, cg_ntp_from_wall_us(1700000000000000ull + now), ts, now);
            cg_rtcp_report_block rb;
            cg_rtp_recv_report(r, now + 1000, 5, &rb);
            uint64_t wall;
            if (cg_rtp_recv_wall_us(r, ts ^ 0x80000000u, &wall))
                abort();
            break;
        }
        }
        cg_rtp_recv_stats st;
        cg_rtp_recv_get_stats(r, &st);
        if (popped > st.packets)
            abort();
    }
end:
    cg_rtp_recv_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_packet(data, size);
    drive_receiver(data, size);
    return 0;
}
