/* Opus to AAC-LC transcoder (libavcodec): decodes WebRTC Opus packets,
 * re-chunks the samples into 1024-sample frames and encodes them with the
 * native "aac" encoder, 48 kHz stereo.
 *
 * Timing: the output keeps the input's clock. Each AAC packet's pts (48 kHz
 * units, same epoch as the Opus pts) is the time of the audio it decodes
 * to; the encoder's priming packet comes first, 1024 samples before the
 * first input sample, and the caller drops what falls before its own
 * start. Gaps in the input (lost packets) are filled with silence up to
 * CG_AAC_MAX_FILL samples; a longer jump, or a step backwards, restarts the
 * sample clock at the new pts. Overlapping input is trimmed.
 *
 * Not thread-safe; one thread drives it. */
#ifndef CG_AAC_H
#define CG_AAC_H

#include <stddef.h>
#include <stdint.h>

typedef struct cg_aac cg_aac;

#define CG_AAC_RATE 48000
#define CG_AAC_FRAME 1024
#define CG_AAC_MAX_FILL (CG_AAC_RATE * 2)
/* Encoded packets held between push and pull. */
#define CG_AAC_MAX_PENDING 256

/* Gives a transcoder; bitrate in bit/s (128000 by default when 0).
 * Returns 0, CG_ENOMEM, CG_EUNSUPP (codec missing or refused). */
int cg_aac_new(cg_aac **out, uint32_t bitrate);
/* Accepts NULL. */
void cg_aac_free(cg_aac *a);

/* AudioSpecificConfig for the sample entry (borrowed, lives with a). */
const uint8_t *cg_aac_config(const cg_aac *a, size_t *len);

/* Decodes one Opus packet (borrowed) whose first sample is at pts and
 * encodes every complete frame. Returns 0, CG_EPROTO (undecodable packet:
 * skipped, the clock is kept), CG_ELIMIT (too many packets not pulled),
 * CG_ENOMEM or CG_EIO. */
int cg_aac_push(cg_aac *a, const uint8_t *opus, size_t len, int64_t pts);
/* Encodes what is left (padded with silence) and flushes the encoder;
 * later pushes are refused. Returns 0, CG_ENOMEM, CG_EIO. */
int cg_aac_drain(cg_aac *a);

/* Gives the next encoded packet: *data borrowed until the next call on a.
 * Returns 0 or CG_EAGAIN when none is pending. */
int cg_aac_pull(cg_aac *a, const uint8_t **data, size_t *len, int64_t *pts, int64_t *duration);

#endif
