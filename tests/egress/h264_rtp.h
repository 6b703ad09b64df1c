/* Test helper: packetizes an Annex B fixture into RTP (RFC 6184) as real
 * senders do, giving refcounted egress packets with their keyframe flags.
 * Modes: single NAL units (SPS and PPS in their own packets, as OBS sends
 * them) or STAP-A for small NAL units of one access unit (libwebrtc);
 * NAL units above the MTU become FU-A. AUDs are left out. */
#ifndef CG_TEST_EGRESS_H264_RTP_H
#define CG_TEST_EGRESS_H264_RTP_H

#include "../ingest/h264_annexb.h"
#include "egress/pkt.h"
#include "rtc/rtp.h"

enum { RTPZ_SINGLE = 0, RTPZ_STAP = 1 };
#define RTPZ_MTU 1200

typedef struct rtpz {
    cg_pkt **pkts;
    size_t n, cap;
    uint16_t seq;
    uint32_t ssrc;
    uint32_t ts0;
    size_t *au_first; /* index of each AU's first packet */
    size_t n_au;
} rtpz;

static inline void rtpz_emit(rtpz *z, const uint8_t *pl, size_t len, uint32_t ts, int marker,
                             uint64_t now)
{
    uint8_t buf[RTPZ_MTU + 64];
    size_t n = 0;
    if (cg_rtp_build(buf, sizeof(buf), &n, 102, marker, z->seq++, ts, z->ssrc, pl, len) != 0)
        abort();
    if (z->n == z->cap) {
        z->cap = z->cap ? z->cap * 2 : 256;
        z->pkts = realloc(z->pkts, z->cap * sizeof(*z->pkts));
    }
    cg_pkt *p = NULL;
    if (cg_pkt_new(&p, buf, n, cg_pkt_h264_flags(pl, len), now) != 0)
        abort();
    z->pkts[z->n++] = p;
}

/* Packetizes access units [au0, au0 + n_au) of s. */
static inline void rtpz_pack(rtpz *z, const tstream *s, size_t au0, size_t n_au, int mode)
{
    uint8_t pl[RTPZ_MTU];
    z->au_first = realloc(z->au_first, (z->n_au + n_au) * sizeof(size_t));
    for (size_t a = au0; a < au0 + n_au && a < s->n_au; a++) {
        const tau *au = &s->au[a];
        uint32_t ts = z->ts0 + (uint32_t)(a * 3000u);
        uint64_t now = (uint64_t)a * 33333u;
        z->au_first[z->n_au++] = z->n;
        size_t last = au->first + au->count - 1;
        while (last > au->first && s->nal[last].type == 9)
            last--;
        size_t k = au->first;
        while (k < au->first + au->count) {
            const tnal *t = &s->nal[k];
            if (t->type == 9) {
                k++;
                continue;
            }
            if (t->len > RTPZ_MTU - 2) {
                const uint8_t *p = t->p + 1;
                size_t left = t->len - 1;
                int start = 1;
                while (left) {
                    size_t chunk = left > RTPZ_MTU - 2 ? RTPZ_MTU - 2 : left;
                    int end = chunk == left;
                    pl[0] = (uint8_t)((t->p[0] & 0xe0) | 28);
                    pl[1] = (uint8_t)((start ? 0x80 : 0) | (end ? 0x40 : 0) | (t->p[0] & 0x1f));
                    memcpy(pl + 2, p, chunk);
                    rtpz_emit(z, pl, chunk + 2, ts, end && k == last, now);
                    p += chunk;
                    left -= chunk;
                    start = 0;
                }
                k++;
                continue;
            }
            /* STAP-A: gather following small NAL units of this AU. */
            size_t j = k, used = 1;
            if (mode == RTPZ_STAP) {
                while (j <= last && s->nal[j].type != 9 && s->nal[j].len <= RTPZ_MTU - 2 &&
                       used + 2 + s->nal[j].len <= RTPZ_MTU)
                    used += 2 + s->nal[j++].len;
            }
            if (mode == RTPZ_STAP && j - k >= 2) {
                size_t o = 1;
                uint8_t nri = 0;
                for (size_t q = k; q < j; q++) {
                    pl[o++] = (uint8_t)(s->nal[q].len >> 8);
                    pl[o++] = (uint8_t)s->nal[q].len;
                    memcpy(pl + o, s->nal[q].p, s->nal[q].len);
                    o += s->nal[q].len;
                    if ((s->nal[q].p[0] & 0x60) > nri)
                        nri = s->nal[q].p[0] & 0x60;
                }
                pl[0] = (uint8_t)(nri | 24);
                rtpz_emit(z, pl, o, ts, j - 1 == last, now);
                k = j;
            } else {
                rtpz_emit(z, t->p, t->len, ts, k == last, now);
                k++;
            }
        }
    }
}

static inline void rtpz_free(rtpz *z)
{
    for (size_t i = 0; i < z->n; i++)
        cg_pkt_unref(z->pkts[i]);
    free(z->pkts);
    free(z->au_first);
    memset(z, 0, sizeof(*z));
}

#endif
