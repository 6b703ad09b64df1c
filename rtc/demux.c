#include "demux.h"

int cg_demux_classify(const uint8_t *p, size_t n)
{
    if (!p || n < 1)
        return CG_PKT_UNKNOWN;
    uint8_t b = p[0];
    if (b <= 3)
        return CG_PKT_STUN;
    if (b >= 20 && b <= 63)
        return CG_PKT_DTLS;
    if (b >= 128 && b <= 191) {
        if (n < 2)
            return CG_PKT_UNKNOWN;
        /* RFC 5761 §4: RTP payload types 64..95 would collide with RTCP
         * packet types 192..223 once the marker bit is ignored, so that
         * range is reserved for RTCP on a muxed port. */
        uint8_t pt = p[1] & 0x7f;
        return (pt >= 64 && pt <= 95) ? CG_PKT_RTCP : CG_PKT_RTP;
    }
    return CG_PKT_UNKNOWN;
}
