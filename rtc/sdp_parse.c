/* SDP offer parser (see sdp.h); negotiation is in sdp_negotiate.c, the
 * answer in sdp_answer.c.
 *
 * Parsing works line by line through cg_rd readers: a line is a sub-reader,
 * each field a sub-reader of the line, so no byte outside the input is ever
 * touched and nothing depends on a NUL at text[len]. Kept strings are copied
 * into one arena allocated up front at twice the input size (every kept
 * string is a distinct piece of the input plus a NUL), so the views handed
 * out never move and the parse makes one allocation per m= section plus two.
 *
 * Attributes are dispatched through a const table; each handler knows
 * whether it is at session level (c->m == NULL) or inside an m= section.
 * Media-level ICE/DTLS values fall back to session-level ones in one pass
 * after the last line (resolve()), so no handler depends on the order in
 * which a peer writes its attributes. */
#include "rtc/sdp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "rtc/sdp_internal.h"

/* ---- field helpers over cg_rd ------------------------------------------ */

static int rd_peek(const cg_rd *r)
{
    return cg_rd_left(r) ? cg_rd_cur(r)[0] : -1;
}

static void rd_skip_spaces(cg_rd *r)
{
    while (rd_peek(r) == ' ' || rd_peek(r) == '\t')
        cg_rd_skip(r, 1);
}

/* Next space-separated word. Runs of spaces are tolerated: some stacks
 * write two spaces after the attribute value's first field. */
static cg_rd rd_word(cg_rd *r)
{
    rd_skip_spaces(r);
    return cg_rd_field(r, ' ');
}

void cg_sdp_rd_trim(cg_rd *t)
{
    rd_skip_spaces(t);
    while (cg_rd_left(t) &&
           (cg_rd_cur(t)[cg_rd_left(t) - 1] == ' ' || cg_rd_cur(t)[cg_rd_left(t) - 1] == '\t'))
        t->len--;
}

bool cg_sdp_tok_is(const cg_rd *t, const char *s)
{
    size_t n = strlen(s);
    return cg_rd_left(t) == n && memcmp(cg_rd_cur(t), s, n) == 0;
}

static bool tok_icase(const cg_rd *t, const char *s)
{
    size_t n = strlen(s);
    return cg_rd_left(t) == n && strncasecmp((const char *)cg_rd_cur(t), s, n) == 0;
}

/* Decimal without sign or leading '+', at most max. */
bool cg_sdp_tok_u32(cg_rd t, uint32_t max, uint32_t *v)
{
    uint8_t d;
    uint64_t acc = 0;
    if (cg_rd_left(&t) == 0 || cg_rd_left(&t) > 10)
        return false;
    while (cg_rd_u8(&t, &d) == 0) {
        if (d < '0' || d > '9')
            return false;
        acc = acc * 10 + (uint64_t)(d - '0');
    }
    if (acc > max)
        return false;
    *v = (uint32_t)acc;
    return true;
}

/* RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/". */
static bool is_ice_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

bool cg_sdp_tok_ice_chars(cg_rd t, size_t min, size_t max)
{
    uint8_t ch;
    if (cg_rd_left(&t) < min || cg_rd_left(&t) > max)
        return false;
    while (cg_rd_u8(&t, &ch) == 0)
        if (!is_ice_char(ch))
            return false;
    return true;
}

/* RFC 8866 token (visible ASCII without the tspecials SDP cares about). */
bool cg_sdp_tok_token(cg_rd t, size_t max)
{
    uint8_t ch;
    if (cg_rd_left(&t) == 0 || cg_rd_left(&t) > max)
        return false;
    while (cg_rd_u8(&t, &ch) == 0)
        if (ch <= 0x20 || ch >= 0x7f)
            return false;
    return true;
}

bool cg_sdp_str_ice_chars(const char *s, size_t min, size_t max)
{
    cg_rd t;
    if (!s)
        return false;
    cg_rd_init(&t, s, strlen(s));
    return cg_sdp_tok_ice_chars(t, min, max);
}

/* Copies t into a fixed array (cap includes the NUL); false if too long. */
static bool tok_copy(const cg_rd *t, char *dst, size_t cap)
{
    size_t n = cg_rd_left(t);
    if (n >= cap)
        return false;
    memcpy(dst, cg_rd_cur(t), n);
    dst[n] = '\0';
    return true;
}

void cg_sdp_copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- candidates -------------------------------------------------------- */

static const char *cand_parse(cg_rd *r, cg_sdp_candidate *out)
{
    uint32_t v;
    memset(out, 0, sizeof(*out));
    if (cg_rd_left(r) >= 10 && strncasecmp((const char *)cg_rd_cur(r), "candidate:", 10) == 0)
        cg_rd_skip(r, 10);
    cg_rd f = rd_word(r);
    if (!cg_sdp_tok_ice_chars(f, 1, 32) || !tok_copy(&f, out->foundation, sizeof(out->foundation)))
        return "foundation must be 1 to 32 ice-chars";
    f = rd_word(r);
    if (!cg_sdp_tok_u32(f, 256, &v) || v == 0)
        return "component must be a number from 1 to 256";
    out->component = v;
    f = rd_word(r);
    if (!cg_sdp_tok_token(f, sizeof(out->transport) - 1) ||
        !tok_copy(&f, out->transport, sizeof(out->transport)))
        return "transport must be a short token such as udp or tcp";
    f = rd_word(r);
    if (!cg_sdp_tok_u32(f, UINT32_MAX, &v) || v == 0)
        return "priority must be a number from 1 to 4294967295";
    out->priority = v;
    f = rd_word(r);
    if (!cg_sdp_tok_token(f, CG_SDP_ADDR_MAX) || !tok_copy(&f, out->address, sizeof(out->address)))
        return "address must be an IP address or a host name of at most 63 characters";
    f = rd_word(r);
    if (!cg_sdp_tok_u32(f, 65535, &v))
        return "port must be a number from 0 to 65535";
    out->port = (uint16_t)v;
    f = rd_word(r);
    if (!cg_sdp_tok_is(&f, "typ"))
        return "expected \"typ\" after the port";
    f = rd_word(r);
    if (!cg_sdp_tok_token(f, sizeof(out->type) - 1) || !tok_copy(&f, out->type, sizeof(out->type)))
        return "type must be host, srflx, prflx or relay";
    /* Extensions come as name/value pairs; only tcptype matters here. */
    while (rd_skip_spaces(r), cg_rd_left(r)) {
        cg_rd name = rd_word(r);
        cg_rd val = rd_word(r);
        if (cg_sdp_tok_is(&name, "tcptype") && !tok_copy(&val, out->tcptype, sizeof(out->tcptype)))
            return "tcptype must be active, passive or so";
    }
    return NULL;
}

int cg_sdp_candidate_parse(const char *value, size_t len, cg_sdp_candidate *out, const char **err)
{
    cg_rd r;
    if (err)
        *err = NULL;
    if (!value || !out)
        return CG_EINVAL;
    cg_rd_init(&r, value, len);
    const char *e = cand_parse(&r, out);
    if (e) {
        if (err)
            *err = e;
        return CG_EPROTO;
    }
    return 0;
}

/* ---- parse context ----------------------------------------------------- */

typedef struct pctx {
    cg_sdp *s;
    unsigned line;
    char *why;
    size_t why_cap;
    cg_sdp_media *m;                /* current m= section; NULL: session */
    bool dir_set[CG_SDP_MAX_MEDIA]; /* media-level direction seen */
    bool sess_dir_set;
    enum cg_sdp_dir sess_dir;
    unsigned n_lines; /* non-blank lines so far */
    bool saw_o, saw_s;
} pctx;

int cg_sdp_line_whyv(char *why, size_t cap, unsigned line, const char *fmt, va_list ap)
{
    if (why && cap) {
        int n = snprintf(why, cap, "line %u: ", line);
        if (n >= 0 && (size_t)n < cap)
            vsnprintf(why + n, cap - (size_t)n, fmt, ap);
    }
    return CG_EPROTO;
}

/* Records "line N: <sentence>" and returns CG_EPROTO. */
__attribute__((format(printf, 2, 3))) static int bad(pctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cg_sdp_line_whyv(c->why, c->why_cap, c->line, fmt, ap);
    va_end(ap);
    return rc;
}

/* Copies t into the arena; NULL only if the arena bound is broken. */
static const char *keep(pctx *c, const cg_rd *t)
{
    cg_sdp *s = c->s;
    size_t n = cg_rd_left(t);
    if (n == 0)
        return "";
    if (s->arena_cap - s->arena_len < n + 1)
        return NULL;
    char *p = s->arena + s->arena_len;
    memcpy(p, cg_rd_cur(t), n);
    p[n] = '\0';
    s->arena_len += n + 1;
    return p;
}

#define KEEP(dst, c, t)                                                                            \
    do {                                                                                           \
        if (!((dst) = keep((c), (t))))                                                             \
            return CG_ENOMEM;                                                                      \
    } while (0)

static cg_sdp_transport *cur_tp(pctx *c)
{
    return c->m ? &c->m->tp : &c->s->s.tp;
}

static cg_sdp_codec *find_codec(cg_sdp_media *m, uint32_t pt)
{
    for (size_t i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* ---- attribute handlers ------------------------------------------------ */

typedef int (*attr_fn)(pctx *c, cg_rd *v);

static int a_ice_ufrag(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    cg_sdp_rd_trim(v);
    if (tp->ice_ufrag)
        return bad(c, "second a=ice-ufrag at the same level");
    if (!cg_sdp_tok_ice_chars(*v, 1, CG_SDP_CRED_MAX))
        return bad(c, "a=ice-ufrag must be 1 to 256 ice-chars (letters, digits, '+', '/')");
    KEEP(tp->ice_ufrag, c, v);
    return 0;
}

static int a_ice_pwd(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    cg_sdp_rd_trim(v);
    if (tp->ice_pwd)
        return bad(c, "second a=ice-pwd at the same level");
    if (!cg_sdp_tok_ice_chars(*v, 1, CG_SDP_CRED_MAX))
        return bad(c, "a=ice-pwd must be 1 to 256 ice-chars (letters, digits, '+', '/')");
    KEEP(tp->ice_pwd, c, v);
    return 0;
}

static int a_ice_options(pctx *c, cg_rd *v)
{
    cg_sdp_rd_trim(v);
    KEEP(cur_tp(c)->ice_options, c, v);
    return 0;
}

static int a_fingerprint(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    cg_rd alg = rd_word(v);
    cg_rd hex = rd_word(v);
    uint8_t ch;
    if (tp->n_fp == CG_SDP_MAX_FP)
        return bad(c, "more than %d a=fingerprint lines at one level", CG_SDP_MAX_FP);
    if (!cg_sdp_tok_token(alg, 16) || cg_rd_left(&hex) == 0 || cg_rd_left(&hex) > CG_SDP_FP_HEX_MAX)
        return bad(c, "a=fingerprint needs a hash name and colon-separated hex bytes");
    cg_rd h = hex;
    while (cg_rd_u8(&h, &ch) == 0)
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
              ch == ':'))
            return bad(c, "a=fingerprint value must be hex bytes separated by ':'");
    cg_sdp_fingerprint *fp = &tp->fp[tp->n_fp];
    KEEP(fp->alg, c, &alg);
    KEEP(fp->hex, c, &hex);
    tp->n_fp++;
    return 0;
}

const char *const cg_sdp_setup_names[] = {
    [CG_SDP_SETUP_ACTPASS] = "actpass",
    [CG_SDP_SETUP_ACTIVE] = "active",
    [CG_SDP_SETUP_PASSIVE] = "passive",
    [CG_SDP_SETUP_HOLDCONN] = "holdconn",
};

static int a_setup(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    cg_sdp_rd_trim(v);
    if (tp->setup != CG_SDP_SETUP_NONE)
        return bad(c, "second a=setup at the same level");
    for (int i = CG_SDP_SETUP_ACTPASS; i <= CG_SDP_SETUP_HOLDCONN; i++)
        if (cg_sdp_tok_is(v, cg_sdp_setup_names[i])) {
            tp->setup = (enum cg_sdp_setup)i;
            return 0;
        }
    return bad(c, "a=setup must be actpass, active, passive or holdconn");
}

static int a_group(pctx *c, cg_rd *v)
{
    cg_sdp_session *s = &c->s->s;
    cg_rd sem = rd_word(v);
    if (!tok_icase(&sem, "BUNDLE"))
        return 0; /* LS and others do not change what we do */
    if (c->m)
        return bad(c, "a=group belongs at session level, before the first m= line");
    if (s->n_bundle)
        return bad(c, "more than one a=group:BUNDLE; clipgate takes one BUNDLE group");
    while (rd_skip_spaces(v), cg_rd_left(v)) {
        cg_rd mid = rd_word(v);
        if (s->n_bundle == CG_SDP_MAX_BUNDLE)
            return bad(c, "a=group:BUNDLE lists more than %d mids", CG_SDP_MAX_BUNDLE);
        if (!cg_sdp_tok_token(mid, CG_SDP_MID_MAX))
            return bad(c, "a=group:BUNDLE mids must be tokens of at most %d characters",
                       CG_SDP_MID_MAX);
        KEEP(s->bundle[s->n_bundle], c, &mid);
        s->n_bundle++;
    }
    return 0;
}

static int a_ice_lite(pctx *c, cg_rd *v)
{
    if (!c->m)
        c->s->s.ice_lite = true;
    return 0;
}

static int a_mid(pctx *c, cg_rd *v)
{
    cg_sdp_rd_trim(v);
    if (!c->m)
        return bad(c, "a=mid belongs inside an m= section");
    if (c->m->mid)
        return bad(c, "second a=mid in one m= section");
    if (!cg_sdp_tok_token(*v, CG_SDP_MID_MAX))
        return bad(c, "a=mid must be a token of 1 to %d characters", CG_SDP_MID_MAX);
    KEEP(c->m->mid, c, v);
    return 0;
}

static int set_dir(pctx *c, enum cg_sdp_dir d)
{
    if (c->m) {
        size_t i = c->s->n_media - 1;
        if (c->dir_set[i])
            return bad(c, "second direction attribute in one m= section");
        c->dir_set[i] = true;
        c->m->dir = d;
    } else {
        if (c->sess_dir_set)
            return bad(c, "second direction attribute at session level");
        c->sess_dir_set = true;
        c->sess_dir = d;
    }
    return 0;
}

static int a_sendrecv(pctx *c, cg_rd *v)
{
    return set_dir(c, CG_SDP_SENDRECV);
}
static int a_sendonly(pctx *c, cg_rd *v)
{
    return set_dir(c, CG_SDP_SENDONLY);
}
static int a_recvonly(pctx *c, cg_rd *v)
{
    return set_dir(c, CG_SDP_RECVONLY);
}
static int a_inactive(pctx *c, cg_rd *v)
{
    return set_dir(c, CG_SDP_INACTIVE);
}

static int a_bundle_only(pctx *c, cg_rd *v)
{
    if (c->m)
        c->m->bundle_only = true;
    return 0;
}

static int a_rtcp_mux(pctx *c, cg_rd *v)
{
    if (c->m)
        c->m->rtcp_mux = true;
    return 0;
}

static int a_rtcp_mux_only(pctx *c, cg_rd *v)
{
    if (c->m)
        c->m->rtcp_mux_only = true;
    return 0;
}

static int a_end_of_candidates(pctx *c, cg_rd *v)
{
    if (c->m)
        c->m->end_of_candidates = true;
    else
        c->s->s.end_of_candidates = true;
    return 0;
}

static int a_msid(pctx *c, cg_rd *v)
{
    cg_sdp_rd_trim(v);
    if (c->m && !c->m->msid)
        KEEP(c->m->msid, c, v);
    return 0;
}

/* Reads the payload type that starts rtpmap/fmtp/rtcp-fb values. */
static int pt_of(pctx *c, cg_rd *v, const char *attr, cg_sdp_codec **codec)
{
    cg_rd f = rd_word(v);
    uint32_t pt;
    *codec = NULL;
    if (!c->m)
        return bad(c, "a=%s belongs inside an m= section", attr);
    if (!cg_sdp_tok_u32(f, 127, &pt))
        return bad(c, "a=%s must start with a payload type from 0 to 127", attr);
    /* Attributes for payload types the m= line does not list are ignored,
     * as RFC 8866 asks of unknown formats. */
    *codec = find_codec(c->m, pt);
    return 0;
}

static int a_rtpmap(pctx *c, cg_rd *v)
{
    cg_sdp_codec *k;
    int rc = pt_of(c, v, "rtpmap", &k);
    if (rc || !k)
        return rc;
    rd_skip_spaces(v);
    cg_rd enc = rd_word(v);
    cg_rd name = cg_rd_field(&enc, '/');
    cg_rd rate = cg_rd_field(&enc, '/');
    uint32_t hz, ch = 0;
    if (!cg_sdp_tok_token(name, 31) || !cg_sdp_tok_u32(rate, UINT32_MAX, &hz) || hz == 0)
        return bad(c, "a=rtpmap needs <payload type> <name>/<clock rate>[/<channels>]");
    if (cg_rd_left(&enc) && (!cg_sdp_tok_u32(enc, 255, &ch) || ch == 0))
        return bad(c, "a=rtpmap channels must be a number from 1 to 255");
    KEEP(k->name, c, &name);
    k->clock_rate = hz;
    k->channels = ch;
    return 0;
}

static int a_fmtp(pctx *c, cg_rd *v)
{
    cg_sdp_codec *k;
    int rc = pt_of(c, v, "fmtp", &k);
    if (rc || !k)
        return rc;
    cg_sdp_rd_trim(v);
    if (cg_rd_left(v) > CG_SDP_FMTP_MAX)
        return bad(c, "a=fmtp parameters are longer than %d bytes", CG_SDP_FMTP_MAX);
    KEEP(k->fmtp, c, v);
    return 0;
}

static unsigned fb_kind(cg_rd *v)
{
    cg_rd type = rd_word(v);
    cg_rd param = rd_word(v);
    bool none = cg_rd_left(&param) == 0;
    if (cg_sdp_tok_is(&type, "nack"))
        return none                           ? CG_SDP_FB_NACK
               : cg_sdp_tok_is(&param, "pli") ? CG_SDP_FB_PLI
                                              : CG_SDP_FB_OTHER;
    if (cg_sdp_tok_is(&type, "ccm"))
        return cg_sdp_tok_is(&param, "fir") ? CG_SDP_FB_FIR : CG_SDP_FB_OTHER;
    if (cg_sdp_tok_is(&type, "goog-remb"))
        return CG_SDP_FB_REMB;
    if (cg_sdp_tok_is(&type, "transport-cc"))
        return CG_SDP_FB_TWCC;
    return CG_SDP_FB_OTHER;
}

static int a_rtcp_fb(pctx *c, cg_rd *v)
{
    if (!c->m)
        return bad(c, "a=rtcp-fb belongs inside an m= section");
    rd_skip_spaces(v);
    if (rd_peek(v) == '*') {
        cg_rd_skip(v, 1);
        unsigned kind = fb_kind(v);
        for (size_t i = 0; i < c->m->n_codecs; i++)
            c->m->codecs[i].fb |= kind;
        return 0;
    }
    cg_sdp_codec *k;
    int rc = pt_of(c, v, "rtcp-fb", &k);
    if (rc || !k)
        return rc;
    k->fb |= fb_kind(v);
    return 0;
}

const char *const cg_sdp_dir_names[] = {
    [CG_SDP_SENDRECV] = "sendrecv",
    [CG_SDP_SENDONLY] = "sendonly",
    [CG_SDP_RECVONLY] = "recvonly",
    [CG_SDP_INACTIVE] = "inactive",
};

static int a_extmap(pctx *c, cg_rd *v)
{
    if (!c->m)
        return 0; /* session-level extmap: not used by WebRTC peers */
    cg_sdp_media *m = c->m;
    cg_rd head = rd_word(v);
    cg_rd idt = cg_rd_field(&head, '/');
    cg_rd uri = rd_word(v);
    uint32_t id;
    if (m->n_extmap == CG_SDP_MAX_EXTMAP)
        return bad(c, "more than %d a=extmap lines in one m= section", CG_SDP_MAX_EXTMAP);
    if (!cg_sdp_tok_u32(idt, 255, &id) || id == 0)
        return bad(c, "a=extmap id must be a number from 1 to 255");
    if (!cg_sdp_tok_token(uri, CG_SDP_MAX_LINE))
        return bad(c, "a=extmap needs a URI after the id");
    cg_sdp_extmap *e = &m->extmap[m->n_extmap];
    if (cg_rd_left(&head)) {
        bool ok = false;
        for (int d = CG_SDP_SENDRECV; d <= CG_SDP_INACTIVE; d++)
            if (cg_sdp_tok_is(&head, cg_sdp_dir_names[d])) {
                e->dir = (enum cg_sdp_dir)d;
                ok = true;
            }
        if (!ok)
            return bad(c, "a=extmap direction must be sendrecv, sendonly, recvonly or inactive");
        e->has_dir = true;
    }
    e->id = id;
    KEEP(e->uri, c, &uri);
    m->n_extmap++;
    return 0;
}

static int a_ssrc(pctx *c, cg_rd *v)
{
    if (!c->m)
        return bad(c, "a=ssrc belongs inside an m= section");
    cg_sdp_media *m = c->m;
    cg_rd num = rd_word(v);
    uint32_t ssrc;
    if (!cg_sdp_tok_u32(num, UINT32_MAX, &ssrc))
        return bad(c, "a=ssrc must start with an SSRC from 0 to 4294967295");
    rd_skip_spaces(v);
    cg_rd name = cg_rd_field(v, ':');
    cg_sdp_rd_trim(v);
    cg_sdp_ssrc *e = NULL;
    for (size_t i = 0; i < m->n_ssrc && !e; i++)
        if (m->ssrc[i].ssrc == ssrc)
            e = &m->ssrc[i];
    if (!e) {
        if (m->n_ssrc == CG_SDP_MAX_SSRC)
            return bad(c, "more than %d SSRCs in one m= section", CG_SDP_MAX_SSRC);
        e = &m->ssrc[m->n_ssrc++];
        e->ssrc = ssrc;
        e->cname = "";
        e->msid = "";
    }
    if (cg_sdp_tok_is(&name, "cname") && !*e->cname)
        KEEP(e->cname, c, v);
    else if (cg_sdp_tok_is(&name, "msid") && !*e->msid)
        KEEP(e->msid, c, v);
    return 0;
}

static int a_ssrc_group(pctx *c, cg_rd *v)
{
    if (!c->m)
        return bad(c, "a=ssrc-group belongs inside an m= section");
    cg_sdp_media *m = c->m;
    cg_rd sem = rd_word(v);
    if (!cg_sdp_tok_is(&sem, "FID"))
        return 0; /* SIM, FEC-FR: not used for ingest */
    cg_rd a = rd_word(v);
    cg_rd b = rd_word(v);
    uint32_t s1, s2;
    if (!cg_sdp_tok_u32(a, UINT32_MAX, &s1) || !cg_sdp_tok_u32(b, UINT32_MAX, &s2))
        return bad(c, "a=ssrc-group:FID needs two SSRCs (media, then retransmission)");
    if (m->n_fid == CG_SDP_MAX_FID)
        return bad(c, "more than %d a=ssrc-group:FID lines in one m= section", CG_SDP_MAX_FID);
    m->fid[m->n_fid].ssrc = s1;
    m->fid[m->n_fid].rtx_ssrc = s2;
    m->n_fid++;
    return 0;
}

static int a_candidate(pctx *c, cg_rd *v)
{
    if (!c->m)
        return bad(c, "a=candidate belongs inside an m= section");
    cg_sdp_media *m = c->m;
    if (m->n_cand == CG_SDP_MAX_CAND)
        return bad(c, "more than %d a=candidate lines in one m= section", CG_SDP_MAX_CAND);
    const char *e = cand_parse(v, &m->cand[m->n_cand]);
    if (e)
        return bad(c, "a=candidate %s", e);
    m->n_cand++;
    return 0;
}

static const struct {
    const char *name;
    attr_fn fn;
} attr_table[] = {
    {"ice-ufrag", a_ice_ufrag},
    {"ice-pwd", a_ice_pwd},
    {"ice-options", a_ice_options},
    {"ice-lite", a_ice_lite},
    {"fingerprint", a_fingerprint},
    {"setup", a_setup},
    {"group", a_group},
    {"mid", a_mid},
    {"msid", a_msid},
    {"sendrecv", a_sendrecv},
    {"sendonly", a_sendonly},
    {"recvonly", a_recvonly},
    {"inactive", a_inactive},
    {"bundle-only", a_bundle_only},
    {"rtcp-mux", a_rtcp_mux},
    {"rtcp-mux-only", a_rtcp_mux_only},
    {"rtpmap", a_rtpmap},
    {"fmtp", a_fmtp},
    {"rtcp-fb", a_rtcp_fb},
    {"extmap", a_extmap},
    {"ssrc", a_ssrc},
    {"ssrc-group", a_ssrc_group},
    {"candidate", a_candidate},
    {"end-of-candidates", a_end_of_candidates},
};

static int line_a(pctx *c, cg_rd *v)
{
    cg_rd name = cg_rd_field(v, ':');
    for (size_t i = 0; i < sizeof(attr_table) / sizeof(attr_table[0]); i++)
        if (cg_sdp_tok_is(&name, attr_table[i].name))
            return attr_table[i].fn(c, v);
    return 0; /* unknown attributes are ignored (RFC 8866 section 5.13) */
}

/* ---- line types -------------------------------------------------------- */

static int line_m(pctx *c, cg_rd *v)
{
    cg_sdp *s = c->s;
    cg_rd media = rd_word(v);
    cg_rd portf = rd_word(v);
    cg_rd proto = rd_word(v);
    cg_rd fmt = rd_word(v);
    uint32_t port;
    if (!cg_rd_left(&media) || !cg_rd_left(&portf) || !cg_rd_left(&proto) || !cg_rd_left(&fmt))
        return bad(c, "m= line needs at least 4 fields: <media> <port> <proto> <format>...");
    if (s->n_media == CG_SDP_MAX_MEDIA)
        return bad(c, "more than %d m= lines", CG_SDP_MAX_MEDIA);
    cg_rd portn = cg_rd_field(&portf, '/'); /* "<port>/<count>" is legal; count unused */
    if (!cg_sdp_tok_u32(portn, 65535, &port))
        return bad(c, "m= port must be a number from 0 to 65535");
    if (!cg_sdp_tok_token(media, 32) || !cg_sdp_tok_token(proto, 64))
        return bad(c, "m= media and proto must be tokens");
    cg_sdp_media *m = calloc(1, sizeof(*m));
    if (!m)
        return CG_ENOMEM;
    s->media[s->n_media++] = m;
    c->m = m;
    m->line = c->line;
    m->port = (uint16_t)port;
    m->kind = cg_sdp_tok_is(&media, "video")   ? CG_SDP_VIDEO
              : cg_sdp_tok_is(&media, "audio") ? CG_SDP_AUDIO
                                               : CG_SDP_OTHER;
    KEEP(m->media, c, &media);
    KEEP(m->proto, c, &proto);
    KEEP(m->fmt0, c, &fmt);
    m->rtp = strstr(m->proto, "RTP/") != NULL;
    while (m->rtp && cg_rd_left(&fmt)) {
        uint32_t pt;
        if (!cg_sdp_tok_u32(fmt, 127, &pt))
            return bad(c, "RTP payload types on the m= line must be numbers from 0 to 127");
        if (m->n_codecs == CG_SDP_MAX_PT)
            return bad(c, "m= line lists more than %d payload types", CG_SDP_MAX_PT);
        if (!find_codec(m, pt)) {
            cg_sdp_codec *k = &m->codecs[m->n_codecs++];
            k->pt = (uint8_t)pt;
            k->name = "";
            k->fmtp = "";
        }
        fmt = rd_word(v);
    }
    return 0;
}

static int line_c(pctx *c, cg_rd *v)
{
    cg_rd net = rd_word(v);
    cg_rd atype = rd_word(v);
    cg_rd addr = rd_word(v);
    if (!cg_rd_left(&net) || !cg_rd_left(&atype) || !cg_rd_left(&addr))
        return bad(c, "c= line needs <nettype> <addrtype> <address>");
    cg_rd host = cg_rd_field(&addr, '/'); /* multicast TTL suffix */
    if (!cg_sdp_tok_token(host, CG_SDP_ADDR_MAX))
        return bad(c, "c= address must be at most %d characters", CG_SDP_ADDR_MAX);
    const char **dst = c->m ? &c->m->conn_addr : &c->s->s.conn_addr;
    KEEP(*dst, c, &host);
    return 0;
}

static int line_o(pctx *c, cg_rd *v)
{
    cg_rd f[6];
    for (int i = 0; i < 6; i++)
        f[i] = rd_word(v);
    if (!cg_rd_left(&f[5]))
        return bad(c, "o= line needs 6 fields: <username> <sess-id> <sess-version> "
                      "<nettype> <addrtype> <address>");
    if (c->saw_o || c->m)
        return bad(c, "o= must appear once, at session level");
    c->saw_o = true;
    KEEP(c->s->s.origin_sess_id, c, &f[1]);
    KEEP(c->s->s.origin_sess_version, c, &f[2]);
    return 0;
}

static int one_line(pctx *c, cg_rd *line)
{
    uint8_t type, eq;
    if (cg_rd_u8(line, &type) || cg_rd_u8(line, &eq) || eq != '=' || type < 'a' || type > 'z')
        return bad(c, "expected <letter>=<value>");
    if (++c->n_lines == 1 && (type != 'v' || !cg_sdp_tok_is(line, "0")))
        return bad(c, "an SDP description starts with v=0");
    switch (type) {
    case 'v':
        return c->n_lines == 1 ? 0 : bad(c, "v= may only be the first line");
    case 'o':
        return line_o(c, line);
    case 's':
        c->saw_s = true;
        return 0;
    case 'm':
        return line_m(c, line);
    case 'c':
        return line_c(c, line);
    case 'a':
        return line_a(c, line);
    default:
        return 0; /* t, b, i, u, e, p, z, k, r: nothing to do */
    }
}

/* Applies the session-level fallbacks to every m= section. */
static void resolve(pctx *c)
{
    cg_sdp *s = c->s;
    const cg_sdp_transport *st = &s->s.tp;
    for (size_t i = 0; i < s->n_media; i++) {
        cg_sdp_media *m = s->media[i];
        if (!m->tp.ice_ufrag)
            m->tp.ice_ufrag = st->ice_ufrag;
        if (!m->tp.ice_pwd)
            m->tp.ice_pwd = st->ice_pwd;
        if (!m->tp.ice_options)
            m->tp.ice_options = st->ice_options;
        if (m->tp.n_fp == 0) {
            m->tp.n_fp = st->n_fp;
            memcpy(m->tp.fp, st->fp, sizeof(m->tp.fp));
        }
        if (m->tp.setup == CG_SDP_SETUP_NONE)
            m->tp.setup = st->setup;
        if (!m->conn_addr)
            m->conn_addr = s->s.conn_addr;
        if (!c->dir_set[i])
            m->dir = c->sess_dir_set ? c->sess_dir : CG_SDP_SENDRECV;
        m->end_of_candidates |= s->s.end_of_candidates;
    }
}

static int parse_all(pctx *c, const char *text, size_t len)
{
    cg_rd r;
    cg_rd_init(&r, text, len);
    while (cg_rd_left(&r)) {
        c->line++;
        cg_rd line = cg_rd_field(&r, '\n');
        size_t n = cg_rd_left(&line);
        if (n && cg_rd_cur(&line)[n - 1] == '\r')
            line.len--;
        if (cg_rd_left(&line) > CG_SDP_MAX_LINE)
            return bad(c, "longer than %d bytes", CG_SDP_MAX_LINE);
        for (size_t i = 0; i < cg_rd_left(&line); i++) {
            uint8_t ch = cg_rd_cur(&line)[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return bad(c, "contains the control byte 0x%02x", ch);
        }
        if (cg_rd_left(&line) == 0) {
            /* Tolerated: some hand-made offers end with a blank line. */
            continue;
        }
        int rc = one_line(c, &line);
        if (rc)
            return rc;
    }
    if (c->n_lines == 0) {
        if (c->why && c->why_cap)
            snprintf(c->why, c->why_cap, "the SDP text is empty");
        return CG_EPROTO;
    }
    if (!c->saw_o || !c->saw_s) {
        if (c->why && c->why_cap)
            snprintf(c->why, c->why_cap,
                     "the SDP has no %s line; every description needs "
                     "v=, o=, s= and t= lines",
                     c->saw_o ? "s=" : "o=");
        return CG_EPROTO;
    }
    resolve(c);
    return 0;
}

int cg_sdp_parse(cg_sdp **out, const char *text, size_t len, char *why, size_t why_cap)
{
    if (why && why_cap)
        why[0] = '\0';
    if (!out || (!text && len))
        return CG_EINVAL;
    if (len > CG_SDP_MAX_TEXT) {
        if (why && why_cap)
            snprintf(why, why_cap, "the SDP is %zu bytes; at most %d are accepted", len,
                     CG_SDP_MAX_TEXT);
        return CG_EPROTO;
    }
    cg_sdp *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    s->arena_cap = 2 * len + 2;
    s->arena = malloc(s->arena_cap);
    if (!s->arena) {
        cg_sdp_free(s);
        return CG_ENOMEM;
    }
    pctx c = {.s = s, .why = why, .why_cap = why_cap};
    int rc = parse_all(&c, text ? text : "", len);
    if (rc) {
        cg_sdp_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void cg_sdp_free(cg_sdp *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_media; i++)
        free(s->media[i]);
    free(s->arena);
    free(s);
}

const cg_sdp_session *cg_sdp_session_of(const cg_sdp *s)
{
    return s ? &s->s : NULL;
}

size_t cg_sdp_media_count(const cg_sdp *s)
{
    return s ? s->n_media : 0;
}

const cg_sdp_media *cg_sdp_media_at(const cg_sdp *s, size_t i)
{
    return s && i < s->n_media ? s->media[i] : NULL;
}

const cg_sdp_codec *cg_sdp_media_codec(const cg_sdp_media *m, unsigned pt)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_codecs; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

unsigned cg_sdp_media_extmap_id(const cg_sdp_media *m, const char *uri)
{
    if (!m || !uri)
        return 0;
    for (size_t i = 0; i < m->n_extmap; i++)
        if (strcmp(m->extmap[i].uri, uri) == 0)
            return m->extmap[i].id;
    return 0;
}

int cg_sdp_fmtp_param(const char *fmtp, const char *key, const char **val, size_t *val_len)
{
    cg_rd r;
    if (!fmtp || !key || !val || !val_len)
        return CG_EINVAL;
    cg_rd_init(&r, fmtp, strlen(fmtp));
    while (cg_rd_left(&r)) {
        cg_rd p = cg_rd_field(&r, ';');
        cg_rd k = cg_rd_field(&p, '=');
        cg_sdp_rd_trim(&k);
        cg_sdp_rd_trim(&p);
        if (tok_icase(&k, key)) {
            *val = (const char *)cg_rd_cur(&p);
            *val_len = cg_rd_left(&p);
            return 0;
        }
    }
    return CG_ENOTFOUND;
}
