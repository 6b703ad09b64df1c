/* SRTP / SRTCP protection for one WebRTC session (RFC 3711, RFC 7714),
 * a thin wrapper over libsrtp2's 2.x API with keys from DTLS-SRTP.
 *
 * One cg_srtp holds two libsrtp sessions, because a libsrtp session takes
 * only one wildcard ("any SSRC") template: inbound, keyed with the remote
 * key, accepting any SSRC the peer sends; outbound, keyed with the local
 * key, for any SSRC we send. Inbound replay protection is on with a
 * 1024-packet window, wide enough for video whose losses are repaired by
 * NACK/RTX. Outbound allows re-protecting a packet with the same sequence
 * number, so answering a NACK by resending the original packet works (the
 * payload must then be identical, which history resends are); a sequence
 * number more than the window behind the newest one sent is refused.
 *
 * Everything works in place. protect needs room after the packet for the
 * trailer: CG_SRTP_MAX_RTP_TRAILER / CG_SRTP_MAX_RTCP_TRAILER bytes are
 * always enough (exactly: 10 or 16 bytes of tag for RTP, plus 4 bytes of
 * SRTCP index for RTCP, for AES-CM and GCM).
 *
 * A cg_srtp belongs to one thread; different cg_srtp may be used on
 * different threads. libsrtp is initialised once per process on first use. */
#ifndef CG_SRTP_H
#define CG_SRTP_H

#include <stddef.h>
#include <stdint.h>

#include "rtc/dtls.h" /* cg_srtp_keys, enum cg_srtp_profile */

#define CG_SRTP_MAX_RTP_TRAILER 16
#define CG_SRTP_MAX_RTCP_TRAILER 20

typedef struct cg_srtp cg_srtp;

/* keys: borrowed for the call (copied into libsrtp). Profile
 * CG_SRTP_AEAD_AES_128_GCM needs key_len 16 and salt_len 12,
 * CG_SRTP_AES128_CM_SHA1_80 key_len 16 and salt_len 14.
 * Gives *out (cg_srtp_free). Returns 0, CG_EINVAL (NULL, lengths not
 * matching the profile), CG_EUNSUPP (unknown profile), CG_ENOMEM,
 * CG_ECRYPTO (libsrtp failed to initialise or refused the policy, e.g. a
 * build without GCM). */
/* Initialises libsrtp now (it self-tests its ciphers, ~100 ms) instead of
 * on the first session, so the media thread never stalls on it. Idempotent,
 * thread-safe. Returns 0 or CG_ECRYPTO. */
int cg_srtp_global_init(void);

int cg_srtp_new(cg_srtp **out, const cg_srtp_keys *keys);
/* NULL is fine. */
void cg_srtp_free(cg_srtp *s);

/* Trailer bytes protect adds for this profile's RTP / RTCP packets. */
size_t cg_srtp_rtp_trailer(const cg_srtp *s);
size_t cg_srtp_rtcp_trailer(const cg_srtp *s);

/* Authenticates and decrypts in place; *len in: packet length, out:
 * plaintext length. Returns 0, CG_EAUTH (authentication failed; the packet
 * is unchanged or garbled, drop it), CG_EPROTO (replayed, too old for the
 * window, or not an RTP/RTCP packet), CG_EINVAL, CG_ECRYPTO. */
int cg_srtp_unprotect(cg_srtp *s, uint8_t *pkt, size_t *len);
int cg_srtp_unprotect_rtcp(cg_srtp *s, uint8_t *pkt, size_t *len);

/* Encrypts and authenticates in place; cap is the size of the buffer at
 * pkt, which needs cg_srtp_*_trailer bytes after *len. Returns 0,
 * CG_ENOSPC (cap too small; packet untouched), CG_EPROTO (not an RTP/RTCP
 * packet, or a sequence number too far behind), CG_EINVAL, CG_ECRYPTO. */
int cg_srtp_protect(cg_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int cg_srtp_protect_rtcp(cg_srtp *s, uint8_t *pkt, size_t *len, size_t cap);

#endif
