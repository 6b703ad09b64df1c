/* Media frames: one access unit from a depacketizer, shared by reference
 * between the packager, the diagnostics dump and anything else that consumes
 * a stream. A frame is immutable once published; the last unref frees it.
 *
 * Timing: pts/dts are in units of `timescale` (90000 for video, 48000 for
 * Opus) counted from the broadcast's epoch, so every track of one broadcast
 * is on the same clock. wall_us is the capture time in wall-clock
 * microseconds (from RTCP sender reports when known, else arrival). */
#ifndef CG_FRAME_H
#define CG_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum cg_media_kind {
    CG_MEDIA_VIDEO = 0,
    CG_MEDIA_AUDIO = 1,
};

enum cg_codec {
    CG_CODEC_NONE = 0,
    CG_CODEC_H264 = 1, /* data: Annex B, start codes, SPS/PPS before each IDR */
    CG_CODEC_OPUS = 2, /* data: one Opus packet */
};

enum cg_frame_flags {
    CG_FRAME_KEY = 1u << 0,     /* IDR (video); every audio frame */
    CG_FRAME_CORRUPT = 1u << 1, /* assembled with a known gap */
};

typedef struct cg_frame {
    int kind;
    int codec;
    uint32_t flags;
    uint32_t timescale;
    int64_t pts;
    int64_t dts;
    int64_t duration; /* in timescale units, 0 if unknown */
    uint64_t wall_us;
    size_t len;
    uint8_t *data; /* points inside the same allocation */
    /* private */
    int refs_;
} cg_frame;

/* Gives a frame with refcount 1 and len bytes of uninitialised data.
 * Returns 0 or CG_ENOMEM. */
int cg_frame_new(cg_frame **out, size_t len);
/* Takes a new reference; returns f. Thread-safe. */
cg_frame *cg_frame_ref(cg_frame *f);
/* Drops a reference (frees on the last one); returns NULL. Accepts NULL. */
cg_frame *cg_frame_unref(cg_frame *f);

#endif
