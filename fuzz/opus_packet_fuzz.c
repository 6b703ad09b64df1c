/* Fuzz target for Opus packet framing (RFC 6716 §3) and the Opus RTP
 * depacketizer. Input: one Opus packet, as an RTP payload would carry it.
 * A packet accepted by the parser must be consistent with itself. */
#include <stdint.h>
#include <stdlib.h>

#include "core/frame.h"
#include "ingest/opus_depack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cg_opus_packet_info in;
    uint32_t samples = 1;
    int rc = cg_opus_packet_parse(data, size, &in);
    if (cg_opus_packet_samples(data, size, &samples) != rc)
        abort();
    if (rc == 0 && (in.frames < 1 || in.frames > 48 || in.samples != samples || samples > 5760 ||
                    in.padding > size))
        abort();
    if (rc != 0 && samples != 0)
        abort();

    cg_opus_depack *d;
    if (cg_opus_depack_new(&d))
        return 0;
    cg_frame *f = NULL;
    (void)cg_opus_depack_push(d, data, size, 0xfffffc40u, &f);
    if (f && (rc != 0 || in.all_empty || f->len != size || f->duration != (int64_t)samples))
        abort();
    cg_frame_unref(f);
    cg_opus_depack_free(d);
    return 0;
}
