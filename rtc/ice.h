/* ICE-lite agent for one WebRTC session (RFC 8445 §2.5, lite implementation,
 * always in the controlled role).
 *
 * A lite agent never sends checks: it answers the peer's binding requests,
 * learns the peer's address from the checks that pass (peer-reflexive
 * learning), takes the address the peer nominates with USE-CANDIDATE, and
 * tracks consent (RFC 7675) as "last valid check + timeout". The media loop
 * owns the socket and the clock; this module only sees bytes, addresses and
 * `now`, and answers into a caller buffer.
 *
 * Authenticated addresses form a bounded list (CG_ICE_MAX_ADDRS): when full,
 * the least recently checked address that is not the selected one is
 * dropped. DTLS and SRTP are accepted only from addresses on that list.
 *
 * Requests that fail authentication are never answered (not even with 401):
 * the shared port would otherwise reflect packets at spoofed sources. */
#ifndef CG_ICE_H
#define CG_ICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cg_ice cg_ice;

enum cg_ice_event {
    CG_ICE_EV_NEW_ADDR = 1u << 0,  /* `from` passed a check for the first time */
    CG_ICE_EV_NOMINATED = 1u << 1, /* USE-CANDIDATE: `from` is the selected address */
    CG_ICE_EV_REJECTED = 1u << 2,  /* an authenticated request got an error answer (420/487) */
};

#define CG_ICE_MAX_ADDRS 8
#define CG_ICE_CRED_MAX 256 /* RFC 8445 §5.3: ufrag and pwd are at most 256 chars */

/* Creates an agent. Copies the strings (caller keeps its own). local ufrag
 * and pwd are required (1..CG_ICE_CRED_MAX chars, no ':' in the ufrag);
 * remote_ufrag/remote_pwd may be NULL (OBS and others: then USERNAME's
 * remote part is not checked). Consent expires consent_timeout_us after the
 * last valid check; before any check, after now_us + consent_timeout_us.
 * Writes *out only on success. Returns 0, CG_EINVAL or CG_ENOMEM. */
int cg_ice_new(cg_ice **out, const char *local_ufrag, const char *local_pwd,
               const char *remote_ufrag, const char *remote_pwd, uint64_t consent_timeout_us,
               uint64_t now_us);
/* Accepts NULL. */
void cg_ice_free(cg_ice *ice);

/* Fresh local credentials from the kernel's CSPRNG: ufrag 8 chars and pwd
 * 24 chars of [A-Za-z0-9] (~142 bits), both NUL-terminated. Returns 0 or
 * CG_EIO. */
int cg_ice_gen_credentials(char ufrag[9], char pwd[25]);

/* Handles one STUN datagram p[0..n) from `from` (borrowed, AF_INET or
 * AF_INET6) received at now_us. *out_len is set to the number of bytes to
 * send back to `from` (0 if none) and *events to a set of cg_ice_event bits
 * (events may be NULL).
 *
 * A valid binding request (our ufrag first in USERNAME, the remote ufrag
 * second when known, MESSAGE-INTEGRITY with our pwd, FINGERPRINT if present)
 * writes a success response with XOR-MAPPED-ADDRESS = from and returns 0;
 * it sets NEW_ADDR when `from` was not yet authenticated, NOMINATED when
 * USE-CANDIDATE is present (`from` becomes the selected address), and moves
 * the consent deadline to now_us + timeout. PRIORITY and ICE-CONTROLLING are
 * optional (FFmpeg's WHIP muxer sends neither). After cg_ice_restart, the
 * first valid check (necessarily with the new credentials) replaces the old
 * address list and selection.
 *
 * An authenticated request that we must refuse is answered and returns 0
 * with CG_ICE_EV_REJECTED: ICE-CONTROLLED (the peer is controlled too: 487
 * Role Conflict, a lite agent cannot take the controlling role) or unknown
 * comprehension-required attributes (420). Such requests change no state.
 *
 * Returns 0; CG_EAUTH (wrong or missing USERNAME/MESSAGE-INTEGRITY, bad
 * FINGERPRINT: nothing written, the caller counts and drops); CG_EPROTO
 * (malformed); CG_EAGAIN (a response or indication: nothing to send);
 * CG_EUNSUPP (a request for another method than binding); CG_ENOSPC (cap too
 * small for the answer; no state changed); CG_EINVAL; CG_ECRYPTO. */
int cg_ice_handle(cg_ice *ice, const uint8_t *p, size_t n, const struct sockaddr_storage *from,
                  uint64_t now_us, uint8_t *out, size_t cap, size_t *out_len, unsigned *events);

/* 1 if addr has passed a valid check and is still on the bounded list, else
 * 0. Compares family, address, port (and IPv6 scope id). */
int cg_ice_addr_ok(const cg_ice *ice, const struct sockaddr_storage *addr);

/* Copies the selected (nominated) address into *addr, or the most recently
 * authenticated one if nothing is nominated yet. Returns 0 or CG_ENOTFOUND. */
int cg_ice_selected(const cg_ice *ice, struct sockaddr_storage *addr);

/* Monotonic deadline (same clock as now_us) after which consent has
 * expired: last valid check + consent timeout (before any check: creation
 * time + timeout). */
uint64_t cg_ice_consent_deadline(const cg_ice *ice);
/* Extends consent to now_us + timeout on other proof that the peer is alive
 * and holds the session keys: an SRTP/SRTCP packet that authenticated.
 * Some agents (libnice, GStreamer) keep the pair alive with binding
 * indications only, which carry no integrity and cannot count. */
void cg_ice_consent_refresh(cg_ice *ice, uint64_t now_us);

/* ICE restart (RFC 8445 §9): new local and remote credentials (copied; the
 * remote ones may be NULL as in cg_ice_new). Checks with the old credentials
 * fail from now on, but the authenticated addresses stay usable for media
 * until a check with the new credentials arrives. The caller must re-key its
 * ufrag → session map with cg_ice_local_ufrag(). Returns 0 or CG_EINVAL (then
 * nothing changed). */
int cg_ice_restart(cg_ice *ice, const char *local_ufrag, const char *local_pwd,
                   const char *remote_ufrag, const char *remote_pwd);

/* Borrowed; valid until the next cg_ice_restart or cg_ice_free. */
const char *cg_ice_local_ufrag(const cg_ice *ice);
const char *cg_ice_local_pwd(const cg_ice *ice);

#endif
