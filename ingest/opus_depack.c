#include "ingest/opus_depack.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/rtp.h"

/* RFC 6716 §3.2.1: no frame may be longer than this. */
#define OPUS_MAX_FRAME_BYTES 1275
/* R5: a packet holds at most 120 ms = 5760 samples at 48 kHz. */
#define OPUS_MAX_PACKET_SAMPLES 5760

/* Frame size of each TOC config (Table 2), in 48 kHz samples: SILK-only
 * 10/20/40/60 ms in NB, MB, WB; hybrid 10/20 ms in SWB, FB; CELT-only
 * 2.5/5/10/20 ms in NB, WB, SWB, FB. */
static const uint16_t config_samples[32] = {
    480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
    480, 960, 480, 960,
    120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
};

/* §3.2.1: one or two bytes. */
static int read_frame_len(cg_rd *r, size_t *len)
{
    uint8_t b0, b1;
    if (cg_rd_u8(r, &b0))
        return CG_EPROTO;
    if (b0 < 252) {
        *len = b0;
        return 0;
    }
    if (cg_rd_u8(r, &b1))
        return CG_EPROTO;
    *len = (size_t)b1 * 4 + b0;
    return 0;
}

int cg_opus_packet_parse(const uint8_t *p, size_t n, cg_opus_packet_info *info)
{
    cg_opus_packet_info in;
    memset(&in, 0, sizeof(in));
    cg_rd r;
    cg_rd_init(&r, p, n);
    uint8_t toc;
    if (cg_rd_u8(&r, &toc)) /* R1 */
        return CG_EPROTO;
    in.config = toc >> 3;
    in.stereo = (toc >> 2) & 1;
    in.code = toc & 3;
    in.frame_samples = config_samples[in.config];
    size_t total = 0; /* bytes of frame data */

    switch (in.code) {
    case 0:
        in.frames = 1;
        total = cg_rd_left(&r);
        if (total > OPUS_MAX_FRAME_BYTES) /* R2 */
            return CG_EPROTO;
        break;
    case 1:
        in.frames = 2;
        total = cg_rd_left(&r);
        if (total % 2 || total / 2 > OPUS_MAX_FRAME_BYTES) /* R3, R2 */
            return CG_EPROTO;
        break;
    case 2: {
        size_t first;
        in.frames = 2;
        if (read_frame_len(&r, &first) || first > cg_rd_left(&r)) /* R4 */
            return CG_EPROTO;
        total = cg_rd_left(&r);
        if (total - first > OPUS_MAX_FRAME_BYTES)
            return CG_EPROTO;
        break;
    }
    default: {
        uint8_t cb;
        if (cg_rd_u8(&r, &cb)) /* R5 */
            return CG_EPROTO;
        int vbr = cb & 0x80, has_pad = cb & 0x40;
        in.frames = cb & 0x3f;
        if (in.frames == 0 || (uint32_t)in.frames * in.frame_samples > OPUS_MAX_PACKET_SAMPLES)
            return CG_EPROTO;
        size_t pad = 0, pad_hdr = 0;
        if (has_pad) {
            /* §3.2.5: 255 means 254 bytes and another length byte. */
            uint8_t b;
            do {
                if (cg_rd_u8(&r, &b))
                    return CG_EPROTO;
                pad_hdr++;
                pad += b == 255 ? 254 : b;
            } while (b == 255);
        }
        if (cg_rd_left(&r) < pad)
            return CG_EPROTO;
        in.padding = pad + pad_hdr;
        if (!vbr) {
            size_t rest = cg_rd_left(&r) - pad; /* R6 */
            if (rest % in.frames || rest / in.frames > OPUS_MAX_FRAME_BYTES)
                return CG_EPROTO;
            total = rest;
        } else {
            size_t sum = 0; /* R7 */
            for (int i = 0; i + 1 < in.frames; i++) {
                size_t len;
                if (read_frame_len(&r, &len))
                    return CG_EPROTO;
                sum += len;
            }
            if (cg_rd_left(&r) < pad || cg_rd_left(&r) - pad < sum)
                return CG_EPROTO;
            size_t last = cg_rd_left(&r) - pad - sum;
            if (last > OPUS_MAX_FRAME_BYTES)
                return CG_EPROTO;
            total = sum + last;
        }
        break;
    }
    }
    in.samples = (uint32_t)in.frames * in.frame_samples;
    in.all_empty = total == 0;
    *info = in;
    return 0;
}

int cg_opus_packet_samples(const uint8_t *p, size_t n, uint32_t *samples)
{
    cg_opus_packet_info in;
    int rc = cg_opus_packet_parse(p, n, &in);
    *samples = rc ? 0 : in.samples;
    return rc;
}

struct cg_opus_depack {
    cg_rtp_ts_ext ts; /* RTP timestamps extended to 64 bits */
    cg_opus_depack_stats st;
};

int cg_opus_depack_new(cg_opus_depack **out)
{
    cg_opus_depack *d = calloc(1, sizeof(*d));
    if (!d)
        return CG_ENOMEM;
    *out = d;
    return 0;
}

void cg_opus_depack_free(cg_opus_depack *d)
{
    free(d);
}

int cg_opus_depack_push(cg_opus_depack *d, const uint8_t *payload, size_t len, uint32_t rtp_ts,
                        cg_frame **out)
{
    *out = NULL;
    d->st.packets++;
    if (len == 0) {
        d->st.empty++;
        return 0;
    }
    int64_t ext = cg_rtp_ts_extend(&d->ts, rtp_ts);
    cg_opus_packet_info in;
    if (cg_opus_packet_parse(payload, len, &in)) {
        d->st.invalid++;
        return 0;
    }
    /* DTX: the sender had nothing to say; the gap in timestamps tells the
     * player to conceal, so there is nothing worth storing. */
    if (in.all_empty) {
        d->st.empty++;
        return 0;
    }
    cg_frame *f;
    if (cg_frame_new(&f, len))
        return CG_ENOMEM;
    memcpy(f->data, payload, len);
    f->kind = CG_MEDIA_AUDIO;
    f->codec = CG_CODEC_OPUS;
    f->flags = CG_FRAME_KEY;
    f->timescale = 48000;
    f->pts = f->dts = ext;
    f->duration = in.samples;
    d->st.frames++;
    *out = f;
    return 0;
}

void cg_opus_depack_get_stats(const cg_opus_depack *d, cg_opus_depack_stats *st)
{
    *st = d->st;
}
