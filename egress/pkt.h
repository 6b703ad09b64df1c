/* Refcounted RTP packet shared by every WHEP viewer of a stream.
 *
 * The media thread makes one cg_pkt per decrypted publisher packet; the
 * stream's history, its GOP cache and each viewer's send path take
 * references instead of copies. Each viewer copies the payload exactly once,
 * into its own output buffer, when it rewrites the header and protects it
 * with SRTP (egress/rewriter.h). A packet is immutable once made; the
 * refcount is atomic so a worker thread may hold one safely. */
#ifndef CG_EGRESS_PKT_H
#define CG_EGRESS_PKT_H

#include <stddef.h>
#include <stdint.h>

/* Flags from the H.264 payload (cg_pkt_h264_flags); 0 for other codecs. */
enum cg_pkt_flag {
    CG_PKT_SPS = 1u << 0,      /* carries a sequence parameter set */
    CG_PKT_PPS = 1u << 1,      /* carries a picture parameter set */
    CG_PKT_IDR = 1u << 2,      /* starts an IDR slice (whole NAL, STAP-A or FU-A start) */
    CG_PKT_IDR_PART = 1u << 3, /* a later FU-A fragment of an IDR slice */
};
/* A packet that may begin a keyframe: the SPS before an IDR, or the IDR. */
#define CG_PKT_KEY_START (CG_PKT_SPS | CG_PKT_IDR)
/* A packet that belongs to a keyframe's access unit. */
#define CG_PKT_KEY (CG_PKT_SPS | CG_PKT_PPS | CG_PKT_IDR | CG_PKT_IDR_PART)

typedef struct cg_pkt {
    const uint8_t *data; /* the whole RTP packet, inside the same allocation */
    size_t len;
    size_t payload_off; /* after CSRCs and header extension */
    size_t payload_len; /* padding removed */
    uint32_t ssrc;
    uint32_t ts;
    uint16_t seq;
    uint8_t pt;
    uint8_t marker;
    uint32_t flags;      /* enum cg_pkt_flag */
    uint64_t arrival_us; /* the `now` given to cg_pkt_new */
    /* private */
    int refs_;
} cg_pkt;

/* Copies the RTP packet (borrowed) into a new packet with refcount 1, parses
 * it and stores flags and arrival. Gives *out. Returns 0, CG_EINVAL (NULL),
 * CG_ETRUNC/CG_EPROTO (as cg_rtp_parse), CG_ENOMEM. */
int cg_pkt_new(cg_pkt **out, const uint8_t *rtp, size_t n, uint32_t flags, uint64_t now_us);

/* Takes a new reference; returns p. Thread-safe. */
cg_pkt *cg_pkt_ref(cg_pkt *p);
/* Drops a reference (frees on the last one); returns NULL. Accepts NULL. */
cg_pkt *cg_pkt_unref(cg_pkt *p);

/* Borrowed view of the payload. */
static inline const uint8_t *cg_pkt_payload(const cg_pkt *p)
{
    return p->data + p->payload_off;
}

/* Classifies an H.264 RTP payload (RFC 6184; borrowed): single NAL unit,
 * STAP-A (every aggregated NAL) and FU-A (type of the fragmented NAL; IDR
 * only counts as CG_PKT_IDR on the start fragment). Malformed or truncated
 * aggregates are classified as far as they parse. Returns the flags. */
uint32_t cg_pkt_h264_flags(const uint8_t *payload, size_t len);

#endif
