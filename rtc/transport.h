/* WebRTC transport shared by WHIP publishers and WHEP viewers: one UDP
 * socket for every session (ICE-lite), demultiplexed per RFC 7983 into STUN,
 * DTLS and SRTP, and one cg_peer per session holding its ICE agent, DTLS
 * endpoint and SRTP contexts.
 *
 * Threads: everything here runs on the media loop thread that owns the
 * transport. Peers are found by the local ICE ufrag (STUN) and by the
 * authenticated remote address (DTLS, SRTP); a packet from an address that
 * has not passed an ICE check is dropped and counted.
 *
 * Ownership: the owner (a WHIP or WHEP session) creates its peer and frees
 * it. Callbacks run on the loop thread; after on_closed the transport does
 * not touch the peer again, so the owner may free it inside that callback. */
#ifndef CG_RTC_TRANSPORT_H
#define CG_RTC_TRANSPORT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "rtc/cert.h"

typedef struct cg_transport cg_transport;
typedef struct cg_peer cg_peer;

enum cg_peer_close_reason {
    CG_PEER_CLOSED_CONSENT = 1, /* no valid ICE check within the consent timeout */
    CG_PEER_CLOSED_DTLS = 2,    /* DTLS failed (fingerprint mismatch, alert) */
};

typedef struct cg_peer_cbs {
    /* Decrypted RTP / compound RTCP; pkt may be modified in place. */
    void (*on_rtp)(void *owner, uint8_t *pkt, size_t len, uint64_t now_us);
    void (*on_rtcp)(void *owner, uint8_t *pkt, size_t len, uint64_t now_us);
    /* DTLS done and SRTP keyed: media may flow both ways. */
    void (*on_connected)(void *owner, uint64_t now_us);
    void (*on_closed)(void *owner, int reason);
} cg_peer_cbs;

typedef struct cg_peer_params {
    const char *id;           /* for logs (session id); copied */
    const char *local_ufrag;  /* copied */
    const char *local_pwd;
    const char *remote_ufrag; /* may be NULL */
    const char *remote_pwd;   /* may be NULL */
    int dtls_role;            /* CG_DTLS_SERVER or CG_DTLS_CLIENT */
    const char *remote_fp_alg;
    const char *remote_fp;
    uint64_t consent_timeout_us;
} cg_peer_params;

typedef struct cg_peer_stats {
    uint64_t stun_requests, stun_bad_auth, stun_malformed;
    uint64_t dtls_in, dtls_out;
    uint64_t srtp_in, srtcp_in, srtp_auth_fail, srtp_replay;
    uint64_t rtp_out, rtcp_out, send_errors;
    uint64_t bytes_in, bytes_out;
    uint64_t connected_at_us;   /* monotonic, 0 until connected */
    uint64_t first_check_at_us; /* monotonic, 0 until the first valid check */
    int srtp_profile;
} cg_peer_stats;

typedef struct cg_transport_stats {
    uint64_t datagrams, unknown_class, no_peer, unauthenticated_addr, recv_errors;
} cg_transport_stats;

/* Binds a UDP socket on bind_addr:port and registers it with loop.
 * cert is borrowed and must outlive the transport.
 * Returns 0, CG_EIO (socket/bind failed, errno kept) or CG_ENOMEM. */
int cg_transport_new(cg_transport **out, cg_loop *loop, const char *bind_addr, uint16_t port,
                     const cg_cert *cert);
/* Accepts NULL. All peers must have been freed first. */
void cg_transport_free(cg_transport *t);
const cg_cert *cg_transport_cert(const cg_transport *t);
uint16_t cg_transport_port(const cg_transport *t);
void cg_transport_get_stats(const cg_transport *t, cg_transport_stats *st);

/* Creates a peer waiting for ICE checks. cbs and owner are borrowed.
 * Returns 0, CG_ENOMEM, CG_EEXIST (local ufrag already in use). */
int cg_peer_new(cg_peer **out, cg_transport *t, const cg_peer_params *p, const cg_peer_cbs *cbs,
                void *owner);
/* Accepts NULL. Unregisters the peer; no callback runs after this. */
void cg_peer_free(cg_peer *peer);

/* Protects pkt in place (cap: buffer size, >= len + 16) and sends it to
 * the selected address. 0, CG_ESTATE (not connected), CG_EIO, CG_ENOSPC. */
int cg_peer_send_rtp(cg_peer *peer, uint8_t *pkt, size_t len, size_t cap);
int cg_peer_send_rtcp(cg_peer *peer, uint8_t *pkt, size_t len, size_t cap);
int cg_peer_connected(const cg_peer *peer);
/* Remote address media comes from (selected pair), 0 or CG_ENOTFOUND. */
int cg_peer_remote_addr(const cg_peer *peer, struct sockaddr_storage *addr);
void cg_peer_get_stats(const cg_peer *peer, cg_peer_stats *st);
/* ICE restart with new credentials on both sides (strings copied). */
int cg_peer_ice_restart(cg_peer *peer, const char *local_ufrag, const char *local_pwd,
                        const char *remote_ufrag, const char *remote_pwd);

/* "1.2.3.4:5678" */
void cg_addr_format(const struct sockaddr_storage *a, char *out, size_t cap);

#endif
