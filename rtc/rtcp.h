/* RTCP parsing and building: SR/RR/SDES/BYE (RFC 3550 section 6), generic
 * NACK and PLI (RFC 4585), FIR (RFC 5104), REMB
 * (draft-alvestrand-rmcat-remb), and NTP timestamp helpers.
 *
 * Sans-I/O. A compound packet is walked with an iterator; each step checks
 * the common header against the bytes that remain, so one malformed packet
 * stops the walk instead of misreading the ones after it. Builders append to
 * a cg_wr, whose sticky error tells the caller once, at the end, whether the
 * compound packet fit. */
#ifndef CG_RTC_RTCP_H
#define CG_RTC_RTCP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum {
    CG_RTCP_SR = 200,
    CG_RTCP_RR = 201,
    CG_RTCP_SDES = 202,
    CG_RTCP_BYE = 203,
    CG_RTCP_APP = 204,
    CG_RTCP_RTPFB = 205,
    CG_RTCP_PSFB = 206,
    CG_RTCP_XR = 207,
};

/* Feedback message types (FMT) used here. */
enum {
    CG_RTCP_FMT_NACK = 1, /* RTPFB generic NACK */
    CG_RTCP_FMT_PLI = 1,  /* PSFB picture loss indication */
    CG_RTCP_FMT_FIR = 4,  /* PSFB full intra request */
    CG_RTCP_FMT_AFB = 15, /* PSFB application layer feedback (REMB) */
};

#define CG_RTCP_MAX_REPORTS 31
#define CG_RTCP_MAX_NACK 256

typedef struct cg_rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed on the wire */
    uint32_t ext_highest_seq, jitter, lsr, dlsr;
} cg_rtcp_report_block;

typedef struct cg_rtcp_pkt {
    uint8_t type;
    uint8_t count_or_fmt; /* RC / SC / FMT */
    uint32_t sender_ssrc; /* SR/RR/APP/XR/feedback sender; SDES/BYE: first SSRC */
    uint32_t media_ssrc;  /* feedback only */
    /* SR */
    uint64_t ntp;
    uint32_t rtp_ts, packet_count, octet_count;
    /* SR/RR */
    size_t n_reports;
    cg_rtcp_report_block reports[CG_RTCP_MAX_REPORTS];
    /* RTPFB fmt 1 generic NACK: expanded list, in wire order. A NACK that
     * expands to more than CG_RTCP_MAX_NACK entries is cut there and
     * nack_truncated is set. */
    size_t n_nack;
    uint16_t nack[CG_RTCP_MAX_NACK];
    int nack_truncated;
    /* PSFB fmt 1 PLI: nothing more. fmt 4 FIR: the first FCI entry. */
    uint32_t fir_ssrc;
    uint8_t fir_seq;
    /* PSFB fmt 15 REMB (remb_bps 0 and no SSRCs when fmt 15 is not REMB;
     * saturates at UINT64_MAX) */
    uint64_t remb_bps;
    int is_remb;
    /* SDES: the first chunk's CNAME, borrowed (not NUL-terminated) */
    const uint8_t *cname;
    size_t cname_len;
    /* The whole packet, header and padding included; borrowed. */
    const uint8_t *raw;
    size_t raw_len;
} cg_rtcp_pkt;

typedef struct cg_rtcp_iter {
    cg_rd rd;
} cg_rtcp_iter;

/* Borrows p for the life of the iteration. */
void cg_rtcp_iter_init(cg_rtcp_iter *it, const uint8_t *p, size_t n);
/* Fills pkt with the next packet (pointers borrow from the iterated bytes).
 * Returns 0, CG_ENOTFOUND at the end, CG_ETRUNC (the length field runs past
 * the data), CG_EPROTO (version != 2, bad padding, a body too short for its
 * type or count, malformed SDES). After an error the iterator stays at the
 * bad packet, so stop iterating. Unknown types and unknown feedback formats
 * are returned with only type, count_or_fmt, the SSRCs their layout puts
 * first, and raw set. */
int cg_rtcp_next(cg_rtcp_iter *it, cg_rtcp_pkt *pkt);

/* Builders append one packet to w (borrowed). A compound packet is built by
 * calling several in a row; check cg_wr_err(w) once at the end. Passing
 * more than CG_RTCP_MAX_REPORTS blocks, or a CNAME longer than 255 bytes,
 * writes nothing and sets the writer's sticky error to CG_EINVAL. */
void cg_rtcp_build_rr(cg_wr *w, uint32_t sender_ssrc, const cg_rtcp_report_block *blocks, size_t n);
void cg_rtcp_build_sr(cg_wr *w, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                      uint32_t octets, const cg_rtcp_report_block *blocks, size_t n);
void cg_rtcp_build_sdes_cname(cg_wr *w, uint32_t ssrc, const char *cname);
/* Packs seqs into PID/BLP pairs. Each seq joins the last pair when it lies
 * 1..16 after its PID, so ascending (wrapping) input packs tightest; any
 * order is still correct. n == 0 writes nothing. */
void cg_rtcp_build_nack(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc, const uint16_t *seqs,
                        size_t n);
void cg_rtcp_build_pli(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc);
/* RFC 5104 4.3.1: the common header's media SSRC is 0 and media_ssrc goes
 * into the FCI entry with the command sequence number seq. */
void cg_rtcp_build_fir(cg_wr *w, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seq);
void cg_rtcp_build_bye(cg_wr *w, uint32_t ssrc);

/* NTP helpers: wall-clock microseconds since the Unix epoch <-> 64-bit NTP
 * (32.32 fixed point since 1900). Conversions round to nearest, so
 * us -> ntp -> us is exact. cg_ntp_to_wall_us reads NTP era 1 (after 2036)
 * when the seconds' top bit is clear (RFC 4330 section 3); times before 1970
 * give 0. */
uint64_t cg_ntp_from_wall_us(uint64_t wall_us);
uint64_t cg_ntp_to_wall_us(uint64_t ntp);
/* Middle 32 bits of an NTP timestamp: the LSR field of a report block. */
static inline uint32_t cg_ntp_mid32(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

#endif
