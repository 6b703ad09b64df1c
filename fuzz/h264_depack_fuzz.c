/* Fuzz target for the H.264 depacketizer (and through it the SPS and
 * slice header parsers and the sprop base64 decoder).
 *
 * Input: one byte choosing max_frame_bytes (256 << (b % 13)), then records
 *   flags:u8 length:u16 payload[length]   (length cut to what is left)
 * flags bit 0 marker, bit 1 gap_before, bits 2-3 timestamp step (same,
 * +3000, -3000, +2^31 + 1), bit 4 the payload is an sprop-parameter-sets
 * string instead of RTP, bit 5 flush after this record.
 * Every frame given out must be well formed Annex B. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "ingest/h264_depack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frames(cg_frame **out, size_t n, size_t max)
{
    if (n > 2)
        abort();
    for (size_t i = 0; i < n; i++) {
        cg_frame *f = out[i];
        if (f->len < 5 || f->len > max + 4096 || memcmp(f->data, "\0\0\0\1", 4) != 0 ||
            f->timescale != 90000 || f->codec != CG_CODEC_H264)
            abort();
        cg_frame_unref(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (size_t)256 << (data[0] % 13);
    cg_h264_depack *d;
    if (cg_h264_depack_new(&d, max))
        return 0;
    size_t pos = 1;
    uint32_t ts = 0x12345678;
    while (pos + 3 <= size) {
        uint8_t flags = data[pos];
        size_t len = ((size_t)data[pos + 1] << 8) | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        static const uint32_t steps[4] = {0, 3000, (uint32_t)-3000, 0x80000001u};
        ts += steps[(flags >> 2) & 3];
        cg_frame *out[2];
        size_t n = 0;
        if (flags & 0x10) {
            char *s = malloc(len + 1);
            if (s) {
                memcpy(s, data + pos, len);
                s[len] = 0;
                (void)cg_h264_depack_set_sprop(d, s);
                free(s);
            }
        } else {
            /* Exact-size copy so a read past the payload is caught. */
            uint8_t *p = malloc(len ? len : 1);
            if (p) {
                memcpy(p, data + pos, len);
                (void)cg_h264_depack_push(d, p, len, ts, flags & 1, (flags >> 1) & 1, out, &n);
                check_frames(out, n, max);
                free(p);
            }
        }
        if (flags & 0x20) {
            n = 0;
            (void)cg_h264_depack_flush(d, out, &n);
            check_frames(out, n, max);
        }
        pos += len;
    }
    cg_frame *out[2];
    size_t n = 0;
    (void)cg_h264_depack_flush(d, out, &n);
    check_frames(out, n, max);
    cg_h264_depack_stats st;
    cg_h264_depack_get_stats(d, &st);
    const uint8_t *a, *b;
    size_t al, bl;
    if (cg_h264_depack_params(d, &a, &al, &b, &bl) == 0 && (al == 0 || bl == 0))
        abort();
    cg_h264_depack_free(d);
    return 0;
}
