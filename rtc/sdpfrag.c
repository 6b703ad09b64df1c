/* Trickle / ICE restart fragments (see sdpfrag.h). Lines are read through
 * cg_rd sub-readers as in sdp.c; candidates go through the shared
 * cg_sdp_candidate_parse so both paths accept exactly the same grammar. */
#include "rtc/sdpfrag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "rtc/sdp_internal.h"

typedef struct fctx {
    cg_sdpfrag *f;
    unsigned line;
    char *why;
    size_t why_cap;
    bool in_media;
    char mid[CG_SDP_MID_MAX + 1];
} fctx;

__attribute__((format(printf, 2, 3))) static int bad(fctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cg_sdp_line_whyv(c->why, c->why_cap, c->line, fmt, ap);
    va_end(ap);
    return rc;
}

/* Stores a credential; a repeat (session and media level both carry it in
 * some clients) must agree, or the fragment is ambiguous. */
static int set_cred(fctx *c, cg_rd *v, char *dst, size_t cap, const char *attr)
{
    cg_sdp_rd_trim(v);
    if (!cg_sdp_tok_ice_chars(*v, 1, CG_SDP_CRED_MAX))
        return bad(c, "a=%s must be 1 to %d ice-chars (letters, digits, '+', '/')", attr,
                   CG_SDP_CRED_MAX);
    size_t n = cg_rd_left(v);
    if (dst[0]) {
        if (strlen(dst) != n || memcmp(dst, cg_rd_cur(v), n) != 0)
            return bad(c, "a second, different a=%s in one fragment", attr);
        return 0;
    }
    if (n >= cap)
        return bad(c, "a=%s is too long", attr);
    memcpy(dst, cg_rd_cur(v), n);
    dst[n] = '\0';
    return 0;
}

static int frag_attr(fctx *c, cg_rd *v)
{
    cg_sdpfrag *f = c->f;
    cg_rd name = cg_rd_field(v, ':');
    if (cg_sdp_tok_is(&name, "ice-ufrag"))
        return set_cred(c, v, f->ice_ufrag, sizeof(f->ice_ufrag), "ice-ufrag");
    if (cg_sdp_tok_is(&name, "ice-pwd"))
        return set_cred(c, v, f->ice_pwd, sizeof(f->ice_pwd), "ice-pwd");
    if (cg_sdp_tok_is(&name, "end-of-candidates")) {
        f->end_of_candidates = true;
        return 0;
    }
    if (cg_sdp_tok_is(&name, "mid")) {
        cg_sdp_rd_trim(v);
        if (!c->in_media)
            return bad(c, "a=mid belongs after an m= line");
        if (cg_rd_left(v) == 0 || cg_rd_left(v) > CG_SDP_MID_MAX)
            return bad(c, "a=mid must be 1 to %d characters", CG_SDP_MID_MAX);
        memcpy(c->mid, cg_rd_cur(v), cg_rd_left(v));
        c->mid[cg_rd_left(v)] = '\0';
        return 0;
    }
    if (cg_sdp_tok_is(&name, "candidate")) {
        const char *err;
        if (f->n_cand == CG_SDPFRAG_MAX_CAND)
            return bad(c, "more than %d candidates in one fragment", CG_SDPFRAG_MAX_CAND);
        cg_sdpfrag_cand *fc = &f->cand[f->n_cand];
        if (cg_sdp_candidate_parse((const char *)cg_rd_cur(v), cg_rd_left(v), &fc->cand, &err))
            return bad(c, "a=candidate %s", err);
        memcpy(fc->mid, c->mid, sizeof(fc->mid));
        f->n_cand++;
        return 0;
    }
    return 0; /* ice-options, group, ice-lite...: nothing to do */
}

static int frag_line(fctx *c, cg_rd *line)
{
    uint8_t type, eq;
    if (cg_rd_u8(line, &type) || cg_rd_u8(line, &eq) || eq != '=' || type < 'a' || type > 'z')
        return bad(c, "expected <letter>=<value>");
    if (type == 'm') {
        /* A new media description: its mid comes on a later a=mid line. */
        c->in_media = true;
        c->mid[0] = '\0';
        return 0;
    }
    if (type == 'a')
        return frag_attr(c, line);
    return 0;
}

int cg_sdpfrag_parse(const char *text, size_t len, cg_sdpfrag *out, char *why, size_t why_cap)
{
    if (why && why_cap)
        why[0] = '\0';
    if (!out || (!text && len))
        return CG_EINVAL;
    memset(out, 0, sizeof(*out));
    fctx c = {.f = out, .why = why, .why_cap = why_cap};
    if (len > CG_SDPFRAG_MAX_TEXT) {
        if (why && why_cap)
            snprintf(why, why_cap, "the fragment is %zu bytes; at most %d are accepted", len,
                     CG_SDPFRAG_MAX_TEXT);
        return CG_EPROTO;
    }
    cg_rd r;
    cg_rd_init(&r, text ? text : "", len);
    while (cg_rd_left(&r)) {
        c.line++;
        cg_rd line = cg_rd_field(&r, '\n');
        size_t n = cg_rd_left(&line);
        if (n && cg_rd_cur(&line)[n - 1] == '\r')
            line.len--;
        if (cg_rd_left(&line) > CG_SDP_MAX_LINE)
            return bad(&c, "longer than %d bytes", CG_SDP_MAX_LINE);
        for (size_t i = 0; i < cg_rd_left(&line); i++) {
            uint8_t ch = cg_rd_cur(&line)[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return bad(&c, "contains the control byte 0x%02x", ch);
        }
        if (cg_rd_left(&line) == 0)
            continue;
        int rc = frag_line(&c, &line);
        if (rc)
            return rc;
    }
    if (!out->ice_ufrag[0] != !out->ice_pwd[0]) {
        if (why && why_cap)
            snprintf(why, why_cap,
                     "the fragment has a=%s without a=%s; an ICE restart sends "
                     "both",
                     out->ice_ufrag[0] ? "ice-ufrag" : "ice-pwd",
                     out->ice_ufrag[0] ? "ice-pwd" : "ice-ufrag");
        return CG_EPROTO;
    }
    return 0;
}

bool cg_sdpfrag_is_restart(const cg_sdpfrag *f, const char *cur_ufrag, const char *cur_pwd)
{
    if (!f || !f->ice_ufrag[0])
        return false;
    return strcmp(f->ice_ufrag, cur_ufrag ? cur_ufrag : "") != 0 ||
           strcmp(f->ice_pwd, cur_pwd ? cur_pwd : "") != 0;
}

int cg_sdpfrag_build_restart_answer(const cg_sdp_choice *ch, const char *ice_ufrag,
                                    const char *ice_pwd, const char *const *addrs, size_t n_addrs,
                                    uint16_t port, cg_dbuf *out)
{
    if (!ch || !out || !cg_sdp_str_ice_chars(ice_ufrag, 1, CG_SDP_CRED_MAX) ||
        !cg_sdp_str_ice_chars(ice_pwd, 1, CG_SDP_CRED_MAX) || ch->bundle_tag < 0 ||
        (size_t)ch->bundle_tag >= ch->n_media || ch->n_media > CG_SDP_MAX_MEDIA ||
        !ch->media[ch->bundle_tag].accepted)
        return CG_EINVAL;
    for (size_t i = 0; i < ch->n_media; i++)
        if (!memchr(ch->media[i].mid, 0, sizeof(ch->media[i].mid)) ||
            strpbrk(ch->media[i].mid, " \r\n"))
            return CG_EINVAL;
    /* Validate the candidates before writing anything, so a refused call
     * leaves out as it was. */
    cg_dbuf cands;
    cg_dbuf_init(&cands, 8192);
    int rc = cg_sdp_write_host_candidates(&cands, addrs, n_addrs, port);
    if (rc) {
        cg_dbuf_free(&cands);
        return rc;
    }
    const cg_sdp_track *tag = &ch->media[ch->bundle_tag];
    cg_dbuf_printf(out, "a=ice-lite\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ice_ufrag, ice_pwd);
    cg_sdp_write_bundle(out, ch);
    /* RFC 8840 section 9: the m= line of a fragment is a placeholder; the
     * candidates belong to the bundle tag, identified by its mid. */
    cg_dbuf_printf(out, "m=%s 9 RTP/AVP 0\r\n", tag->kind == CG_SDP_VIDEO ? "video" : "audio");
    if (tag->mid[0])
        cg_dbuf_printf(out, "a=mid:%s\r\n", tag->mid);
    cg_dbuf_add(out, cg_dbuf_str(&cands), cands.len);
    cg_dbuf_free(&cands);
    return cg_dbuf_err(out);
}
