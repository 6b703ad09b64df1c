/* Opus RTP depacketizer (RFC 7587) and packet framing (RFC 6716 §3).
 *
 * One RTP payload is one Opus packet, so depacketizing is validating the
 * packet's framing, timing it and wrapping it in a frame. The RTP clock is
 * always 48 kHz whatever the coded bandwidth. Sans-I/O, no logging; not
 * thread-safe (one per track). */
#ifndef CG_OPUS_DEPACK_H
#define CG_OPUS_DEPACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

/* What the TOC byte and framing of one packet say (RFC 6716 §3.1-3.2). */
typedef struct cg_opus_packet_info {
    uint8_t config;          /* TOC config 0..31 (mode, bandwidth, frame size) */
    uint8_t stereo;          /* TOC s bit */
    uint8_t code;            /* frame count code 0..3 */
    uint8_t frames;          /* 1..48 */
    uint32_t frame_samples;  /* per frame, at 48 kHz: 120..2880 */
    uint32_t samples;        /* frames * frame_samples */
    size_t padding;          /* code 3 padding, length bytes included */
    int all_empty;           /* every frame has length 0 (DTX / lost) */
} cg_opus_packet_info;

/* Parses and validates a whole packet against the rules R1-R7 of RFC 6716
 * §3.4. Borrows p; fills *info only on success.
 * Returns 0 or CG_EPROTO. */
int cg_opus_packet_parse(const uint8_t *p, size_t n, cg_opus_packet_info *info);

/* Number of 48 kHz samples in an Opus packet from its TOC byte and frame
 * count code (RFC 6716 §3.1). Borrows p.
 * Returns 0, or CG_EPROTO for an invalid packet with *samples = 0. */
int cg_opus_packet_samples(const uint8_t *p, size_t n, uint32_t *samples);

typedef struct cg_opus_depack cg_opus_depack;

typedef struct cg_opus_depack_stats {
    uint64_t packets; /* payloads pushed */
    uint64_t frames;  /* frames given out */
    uint64_t empty;   /* empty payloads and DTX packets (no frame) */
    uint64_t invalid; /* packets breaking RFC 6716 §3.4 (no frame) */
} cg_opus_depack_stats;

/* Gives *out. Returns 0 or CG_ENOMEM. */
int cg_opus_depack_new(cg_opus_depack **out);
/* Accepts NULL. */
void cg_opus_depack_free(cg_opus_depack *d);

/* One RTP payload = one Opus packet (RFC 7587). Borrows payload. Gives one
 * frame through *out (the caller takes it: CG_FRAME_KEY, kind audio, codec
 * Opus, timescale 48000, pts = dts = the extended RTP timestamp unwrapped
 * across 2^32, duration from the TOC), or *out = NULL for an empty or DTX
 * packet, or an invalid one (each counted).
 * Returns 0 or CG_ENOMEM. */
int cg_opus_depack_push(cg_opus_depack *d, const uint8_t *payload, size_t len, uint32_t rtp_ts,
                        cg_frame **out);

void cg_opus_depack_get_stats(const cg_opus_depack *d, cg_opus_depack_stats *st);

#endif
