/* Trickle ICE and ICE restart SDP fragments (RFC 8840,
 * application/trickle-ice-sdpfrag), as WHIP (RFC 9725 section 4.3) sends
 * them in PATCH requests and expects them in ICE restart responses.
 *
 * Sans-I/O like rtc/sdp.h: text in, a value struct out; a fragment text out
 * into a cg_dbuf. A parsed fragment is a plain value with inline strings,
 * so the HTTP thread can parse it and post a copy to the media loop.
 *
 * A fragment carries session-level or media-level ice-ufrag/ice-pwd (both
 * placements occur: RFC 9725's examples put them inside the m= section),
 * then per m= section a mid, candidates and maybe end-of-candidates. The
 * m= line itself is a placeholder ("m=audio 9 RTP/AVP 0") and is ignored. */
#ifndef CG_SDPFRAG_H
#define CG_SDPFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "rtc/sdp.h"

#define CG_SDPFRAG_MAX_TEXT (16 * 1024) /* bytes of fragment text */
#define CG_SDPFRAG_MAX_CAND 32          /* candidates in one fragment */

typedef struct cg_sdpfrag_cand {
    char mid[CG_SDP_MID_MAX + 1]; /* mid of the m= section; "" before any */
    cg_sdp_candidate cand;
} cg_sdpfrag_cand;

typedef struct cg_sdpfrag {
    char ice_ufrag[CG_SDP_CRED_MAX + 1]; /* "" when absent */
    char ice_pwd[CG_SDP_CRED_MAX + 1];   /* "" when absent */
    size_t n_cand;
    cg_sdpfrag_cand cand[CG_SDPFRAG_MAX_CAND];
    bool end_of_candidates;
} cg_sdpfrag;

/* Parses a fragment (LF or CRLF line ends) into *out, which is fully
 * overwritten. ice-ufrag and ice-pwd must come together or not at all, and
 * repeats must agree. why (may be NULL when why_cap is 0) gets
 * "line N: ..." on CG_EPROTO, "" otherwise.
 * Returns 0, CG_EINVAL (NULL argument) or CG_EPROTO (malformed, over a
 * bound, or a line that is not an RFC 8840 fragment line). */
int cg_sdpfrag_parse(const char *text, size_t len, cg_sdpfrag *out, char *why, size_t why_cap);

/* True when the fragment carries credentials that differ from the current
 * remote ones: RFC 8839 section 4.4.1.1.1 calls that an ICE restart
 * (RFC 9725 sends it with If-Match: "*"). cur_* borrowed; NULL counts
 * as "". */
bool cg_sdpfrag_is_restart(const cg_sdpfrag *f, const char *cur_ufrag, const char *cur_pwd);

/* Writes the 200 body of an ICE restart (RFC 9725 section 4.4.1):
 * a=ice-lite, our new a=ice-ufrag/a=ice-pwd, a=group:BUNDLE of the accepted
 * mids, then the bundle tag's placeholder m= section with its a=mid, our
 * host candidates and a=end-of-candidates. CRLF line ends. Appends to out.
 * choice: the session's negotiated choice (borrowed). addrs: n IPv4/IPv6
 * literals (borrowed).
 * Returns 0, CG_EINVAL (NULL argument, no accepted track, credentials that
 * are not ice-chars, bad address or port 0) or the dbuf's error. */
int cg_sdpfrag_build_restart_answer(const cg_sdp_choice *choice, const char *ice_ufrag,
                                    const char *ice_pwd, const char *const *addrs, size_t n_addrs,
                                    uint16_t port, cg_dbuf *out);

#endif
