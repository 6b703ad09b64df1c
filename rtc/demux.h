/* First-byte demultiplexing of the shared media UDP port (RFC 7983).
 *
 * One socket carries STUN, DTLS and SRTP/SRTCP for every session; the first
 * byte tells them apart without any per-session state, so the media loop can
 * route a datagram before it knows which session owns it. */
#ifndef CG_DEMUX_H
#define CG_DEMUX_H

#include <stddef.h>
#include <stdint.h>

enum cg_pkt_class { CG_PKT_UNKNOWN = 0, CG_PKT_STUN, CG_PKT_DTLS, CG_PKT_RTP, CG_PKT_RTCP };

/* Classifies one datagram; returns an enum cg_pkt_class value (never fails).
 * Borrows p for the call. STUN is first byte 0..3, DTLS 20..63, RTP/RTCP
 * 128..191 (RFC 7983); ZRTP, TURN channels and everything else are
 * CG_PKT_UNKNOWN, as is an empty datagram. RTP and RTCP are told apart by
 * the second byte (RFC 5761): with the marker bit masked off, 64..95 (i.e.
 * RTCP packet types 192..223) is RTCP. RTP/RTCP need n >= 2. */
int cg_demux_classify(const uint8_t *p, size_t n);

#endif
