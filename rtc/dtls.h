/* DTLS 1.2 driver for DTLS-SRTP (RFC 5764, RFC 8842): OpenSSL over memory,
 * no sockets.
 *
 * The media loop demultiplexes the shared UDP port (RFC 7983) and hands each
 * DTLS datagram to cg_dtls_feed; after every call it sends what
 * cg_dtls_pull yields, in order, one UDP datagram each. Nothing here reads
 * a socket or sleeps. Once the state is CG_DTLS_CONNECTED the SRTP master
 * keys are available (cg_dtls_srtp_keys) and the session creates its
 * cg_srtp (rtc/srtp.h).
 *
 * Peer authentication is the SDP fingerprint: the peer must present a
 * certificate whose hash equals the a=fingerprint the session was created
 * with; chains and names are not checked (certificates are self-signed).
 * The check runs when the peer's Certificate message arrives, so a
 * mismatching peer never gets keys.
 *
 * Time: OpenSSL 3.0 runs its retransmission timer on the wall clock
 * (gettimeofday) and offers no way to hand it a time. cg_dtls_deadline
 * therefore converts OpenSSL's remaining time into the caller's monotonic
 * clock, using the `now` of the last call. If the loop fires
 * cg_dtls_on_timeout a little before OpenSSL's own clock agrees, nothing is
 * sent and the deadline moves a few milliseconds later; a wall-clock step
 * can delay or hasten one retransmission. Retransmission starts at 1 s
 * (RFC 6347 4.2.4.1), doubles up to 60 s, and OpenSSL gives up after 12
 * timeouts: callers should still bound a handshake with their own deadline.
 *
 * A cg_dtls belongs to one thread. Each call clears and consumes that
 * thread's OpenSSL error queue. */
#ifndef CG_DTLS_H
#define CG_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include "rtc/cert.h"

enum cg_dtls_role { CG_DTLS_SERVER = 0, CG_DTLS_CLIENT = 1 };
enum cg_dtls_state { CG_DTLS_HANDSHAKING = 0, CG_DTLS_CONNECTED, CG_DTLS_FAILED, CG_DTLS_CLOSED };
/* IANA DTLS-SRTP protection profile ids. */
enum cg_srtp_profile { CG_SRTP_AES128_CM_SHA1_80 = 1, CG_SRTP_AEAD_AES_128_GCM = 7 };

/* SRTP master keys of one session. local_*: we protect with these (our
 * sending direction); remote_*: we unprotect with these. Only the first
 * key_len / salt_len bytes are used: 16 + 14 for AES-CM, 16 + 12 for GCM. */
typedef struct cg_srtp_keys {
    int profile; /* enum cg_srtp_profile */
    uint8_t local_key[16];
    uint8_t local_salt[14];
    uint8_t remote_key[16];
    uint8_t remote_salt[14];
    size_t key_len, salt_len;
} cg_srtp_keys;

/* Counters for logs and metrics. */
typedef struct cg_dtls_stats {
    uint64_t rx_datagrams; /* datagrams given to cg_dtls_feed */
    uint64_t rx_malformed; /* of those, not a well-formed run of DTLS records: the
                              malformed part was dropped before OpenSSL saw it */
    uint64_t tx_datagrams; /* datagrams produced for cg_dtls_pull */
    uint64_t tx_dropped;   /* produced while the output queue was full (dropped) */
    uint64_t retransmits;  /* timeouts that re-sent a flight */
    uint64_t rx_app_bytes; /* application data received and discarded */
} cg_dtls_stats;

#define CG_DTLS_DEFAULT_MTU 1200
/* Datagrams waiting for cg_dtls_pull; beyond this the newest is dropped and
 * counted (a handshake flight is 1-4 datagrams; retransmission repairs). */
#define CG_DTLS_MAX_QUEUED 32

typedef struct cg_dtls cg_dtls;

/* cert is borrowed and must outlive d. role: enum cg_dtls_role.
 * remote_fp_alg/remote_fp: from the peer's SDP a=fingerprint (copied; the
 * hex is compared case-insensitively); the peer certificate must match,
 * otherwise the handshake fails with CG_EAUTH. Gives *out (cg_dtls_free).
 * Returns 0, CG_EINVAL (NULL argument, bad role, fingerprint longer than
 * CG_CERT_FP_MAX), CG_EUNSUPP (unknown hash name), CG_ENOMEM, CG_ECRYPTO. */
int cg_dtls_new(cg_dtls **out, const cg_cert *cert, int role, const char *remote_fp_alg,
                const char *remote_fp);
/* NULL is fine. Does not send close_notify (see cg_dtls_close). */
void cg_dtls_free(cg_dtls *d);

/* Settings; only before cg_dtls_start / the first cg_dtls_feed.
 * mtu: largest datagram produced, 256..16384 (default 1200, which fits
 * IPv6 + UDP + TURN overhead on a 1280 path).
 * Returns 0, CG_EINVAL (out of range), CG_ESTATE (already started). */
int cg_dtls_set_mtu(cg_dtls *d, size_t mtu);
/* Offer/accept only these SRTP profiles, most preferred first (default:
 * GCM, then AES-CM). Unknown ids: CG_EINVAL. For tests of negotiation and
 * for operators who must pin a profile. */
int cg_dtls_set_srtp_profiles(cg_dtls *d, const int *profiles, size_t n);
/* First retransmission timeout in microseconds, 20 ms..60 s (default
 * 1 s); later ones double up to 60 s. */
int cg_dtls_set_initial_timeout(cg_dtls *d, uint32_t us);

/* Client role: produces the ClientHello (then cg_dtls_pull). Server role:
 * no-op. Returns 0, CG_ESTATE (called twice, or after failure),
 * CG_EPROTO (OpenSSL refused to start; state FAILED). */
int cg_dtls_start(cg_dtls *d, uint64_t now_us);

/* Feeds one received DTLS datagram (borrowed for the call).
 * Returns 0 (maybe now connected; malformed or silently dropped records
 * are not fatal and are counted in stats), CG_EAUTH (fingerprint mismatch:
 * state FAILED), CG_EPROTO (fatal alert or protocol error: state FAILED;
 * an alert for the peer may be waiting in cg_dtls_pull), CG_ESTATE (client
 * not started, or state FAILED/CLOSED: the datagram is ignored),
 * CG_EINVAL. A close_notify from the peer moves the state to CLOSED and
 * returns 0. */
int cg_dtls_feed(cg_dtls *d, const uint8_t *p, size_t n, uint64_t now_us);

/* Moves the next datagram to send into out[0..cap), *len its size.
 * Returns 0, CG_EAGAIN (nothing pending), CG_ENOSPC (cap smaller than the
 * datagram; it stays queued), CG_EINVAL. Datagrams never exceed the MTU. */
int cg_dtls_pull(cg_dtls *d, uint8_t *out, size_t cap, size_t *len);

/* Monotonic deadline (caller's clock, microseconds) of the next
 * retransmission, UINT64_MAX if none. */
uint64_t cg_dtls_deadline(const cg_dtls *d);
/* Call when the deadline is reached; may queue datagrams to pull.
 * Returns 0 (also when OpenSSL's clock says it is not time yet; the deadline
 * is then recomputed), CG_ETIMEDOUT (OpenSSL gave up: state FAILED). */
int cg_dtls_on_timeout(cg_dtls *d, uint64_t now_us);

/* enum cg_dtls_state. */
int cg_dtls_state(const cg_dtls *d);

/* After CONNECTED: the SRTP master keys exported with label
 * "EXTRACTOR-dtls_srtp" (RFC 5764 4.2), split into client/server halves and
 * mapped to local/remote by our role. Returns 0, CG_ESTATE (not connected),
 * CG_EINVAL. */
int cg_dtls_srtp_keys(const cg_dtls *d, cg_srtp_keys *out);

/* Human-readable reason of the failure (for logs / API), "" if none.
 * Borrowed, lives with d. */
const char *cg_dtls_error(const cg_dtls *d);

/* Sends close_notify (queue it with cg_dtls_pull) and moves to CLOSED.
 * Returns 0 or CG_ESTATE (already FAILED/CLOSED). */
int cg_dtls_close(cg_dtls *d);

void cg_dtls_get_stats(const cg_dtls *d, cg_dtls_stats *out);

#endif
