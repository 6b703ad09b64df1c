/* Fuzz target for egress/pkt.c, egress/gop.c, egress/history.c and
 * egress/rewriter.c. The input is an RTP packet: its payload is classified
 * as H.264 (flags must be consistent: IDR start and IDR fragment never
 * together), then it goes through a packet, a GOP, a history and a
 * rewriter, whose output must parse back to the same payload.
 * Violations abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "egress/gop.h"
#include "egress/history.h"
#include "egress/pkt.h"
#include "egress/rewriter.h"
#include "rtc/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t f = cg_pkt_h264_flags(data, size);
    if ((f & CG_PKT_IDR) && (f & CG_PKT_IDR_PART))
        abort();
    cg_pkt *p = NULL;
    if (cg_pkt_new(&p, data, size, 0, 0) != 0)
        return 0;
    f = cg_pkt_h264_flags(cg_pkt_payload(p), p->payload_len);
    cg_pkt_unref(p);
    if (cg_pkt_new(&p, data, size, f, 0) != 0)
        abort();
    if (p->payload_off + p->payload_len > p->len)
        abort();
    cg_gop *g = NULL;
    cg_history *h = NULL;
    cg_rewriter *rw = NULL;
    const cg_rewriter_cfg cfg = {.ssrc = 1, .pt = 96, .map_size = 16, .trailer = 16};
    if (cg_gop_new(&g, 4, 1 << 16) || cg_history_new(&h, 4, 1000) || cg_rewriter_new(&rw, &cfg))
        abort();
    cg_gop_push(g, p);
    cg_history_put(h, p);
    uint8_t *out = malloc(size + 32);
    size_t len = 0;
    if (!out || cg_rewriter_write(rw, p, out, size + 32, &len) != 0)
        abort();
    cg_rtp_hdr hd;
    if (cg_rtp_parse(&hd, out, len) != 0 || hd.payload_len != p->payload_len ||
        memcmp(hd.payload, cg_pkt_payload(p), p->payload_len) != 0)
        abort();
    free(out);
    cg_pkt_unref(p);
    cg_rewriter_free(rw);
    cg_history_free(h);
    cg_gop_free(g);
    return 0;
}
