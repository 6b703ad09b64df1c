/* RTP packet parsing and building (RFC 3550 section 5.1), header extensions
 * (RFC 8285 one-byte and two-byte forms) and RTX wrapping (RFC 4588).
 *
 * Sans-I/O: every function works on caller buffers. The parser never copies:
 * the pointers it fills borrow from the input, which must outlive them. */
#ifndef CG_RTC_RTP_H
#define CG_RTC_RTP_H

#include <stddef.h>
#include <stdint.h>

#define CG_RTP_HDR_LEN 12

typedef struct cg_rtp_hdr {
    uint8_t version, padding, extension, csrc_count, marker, pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint16_t ext_profile;
    const uint8_t *ext; /* extension body (after the 4-byte profile/length), borrowed */
    size_t ext_len;
    const uint8_t *payload; /* borrowed; padding removed */
    size_t payload_len;
    size_t header_len;  /* fixed header + CSRCs + extension */
    size_t padding_len; /* padding bytes at the end, including the count byte */
} cg_rtp_hdr;

/* Parses an RTP packet; h borrows from p. Returns 0, CG_EINVAL (NULL
 * argument), CG_ETRUNC (shorter than the fixed header, the CSRC list or the
 * extension it announces), CG_EPROTO (version != 2, padding count of zero or
 * bigger than the payload). */
int cg_rtp_parse(cg_rtp_hdr *h, const uint8_t *p, size_t n);

/* Finds header-extension element `id` in the one-byte (profile 0xBEDE, ids
 * 1..14) or two-byte (profile 0x100X, ids 1..255) form. *val borrows from
 * the packet h was parsed from; a two-byte element may have *len == 0.
 * Returns 0, CG_ENOTFOUND (no extension, other profile, id absent or out of
 * range for the form), CG_EPROTO (an element before it overruns the block). */
int cg_rtp_ext_find(const cg_rtp_hdr *h, uint8_t id, const uint8_t **val, size_t *len);

/* Writes a 12-byte header (no CSRC, no extension, no padding) followed by the
 * payload into out (borrowed). Returns 0, CG_EINVAL (pt > 127 or NULL),
 * CG_ENOSPC (cap too small; nothing useful written). */
int cg_rtp_build(uint8_t *out, size_t cap, size_t *len, uint8_t pt, int marker, uint16_t seq,
                 uint32_t ts, uint32_t ssrc, const uint8_t *payload, size_t payload_len);

/* RFC 4588: an RTX packet's payload starts with the original sequence number
 * (OSN). Rebuilds the original packet into out: original pt and ssrc,
 * seq = OSN, same timestamp, marker, CSRCs and extensions; the RTX packet's
 * padding is dropped. rtx and out are borrowed and must not overlap.
 * Returns 0, CG_EINVAL (orig_pt > 127), CG_ETRUNC/CG_EPROTO (as
 * cg_rtp_parse), CG_ETRUNC also when the payload is shorter than the OSN —
 * libwebrtc's padding-only bandwidth probes on the RTX stream land here and
 * should be dropped — CG_ENOSPC (cap too small). */
int cg_rtp_rtx_unwrap(const uint8_t *rtx, size_t n, uint8_t orig_pt, uint32_t orig_ssrc,
                      uint8_t *out, size_t cap, size_t *len);

/* Wraps an original packet as RTX: pt, ssrc and seq replaced, the original
 * sequence number prepended to the payload, padding dropped. orig and out
 * are borrowed and must not overlap. Returns 0, CG_EINVAL (rtx_pt > 127),
 * CG_ETRUNC/CG_EPROTO (as cg_rtp_parse), CG_ENOSPC. */
int cg_rtp_rtx_wrap(const uint8_t *orig, size_t n, uint8_t rtx_pt, uint32_t rtx_ssrc,
                    uint16_t rtx_seq, uint8_t *out, size_t cap, size_t *len);

/* RTP timestamps wrap every 2^32 ticks (13 h at 90 kHz, 25 h at 48 kHz);
 * this extends them to 64 bits by each one's signed distance from the one
 * before, so a stream that wraps or steps back a little keeps its order.
 * Zero-initialise; the first timestamp extends to itself. */
typedef struct cg_rtp_ts_ext {
    int have;
    uint32_t last;
    int64_t ext;
} cg_rtp_ts_ext;

/* The 64-bit extension of ts after the ones e has seen. */
int64_t cg_rtp_ts_extend(cg_rtp_ts_ext *e, uint32_t ts);

#endif
