/* What the SDP parser, negotiation and answer builder (sdp_parse.c,
 * sdp_negotiate.c, sdp_answer.c) and the fragment parser (sdpfrag.c) share
 * and nothing else uses: the parsed offer's body and the token checks that
 * reading and writing apply. */
#ifndef CG_SDP_INTERNAL_H
#define CG_SDP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "rtc/sdp.h"

struct cg_sdp {
    cg_sdp_session s;
    size_t n_media;
    cg_sdp_media *media[CG_SDP_MAX_MEDIA];
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* a=setup and direction attribute names, indexed by their enums. */
extern const char *const cg_sdp_setup_names[];
extern const char *const cg_sdp_dir_names[];

/* Writes "line N: <sentence>" into why (cap bytes; nothing when why is
 * NULL) and returns CG_EPROTO: how a syntax error names its line. */
int cg_sdp_line_whyv(char *why, size_t cap, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* t without leading and trailing spaces and tabs. */
void cg_sdp_rd_trim(cg_rd *t);
/* t is exactly s. */
bool cg_sdp_tok_is(const cg_rd *t, const char *s);
/* min to max RFC 8839 ice-chars (ALPHA / DIGIT / "+" / "/"). */
bool cg_sdp_tok_ice_chars(cg_rd t, size_t min, size_t max);
/* Decimal without sign or leading '+', at most max. */
bool cg_sdp_tok_u32(cg_rd t, uint32_t max, uint32_t *v);
/* 1 to max RFC 8866 token characters (visible ASCII). */
bool cg_sdp_tok_token(cg_rd t, size_t max);
/* min to max RFC 8839 ice-chars (s NUL-terminated, borrowed). */
bool cg_sdp_str_ice_chars(const char *s, size_t min, size_t max);
/* Copies src (NULL: empty) into dst of cap bytes, cut to fit. */
void cg_sdp_copy_str(char *dst, size_t cap, const char *src);

#endif
