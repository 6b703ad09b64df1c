/* SDP offer parser, WHIP negotiation and answer builder (see sdp.h).
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

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

struct cg_sdp {
    cg_sdp_session s;
    size_t n_media;
    cg_sdp_media *media[CG_SDP_MAX_MEDIA];
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

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

static void rd_trim(cg_rd *t)
{
    rd_skip_spaces(t);
    while (cg_rd_left(t) &&
           (cg_rd_cur(t)[cg_rd_left(t) - 1] == ' ' || cg_rd_cur(t)[cg_rd_left(t) - 1] == '\t'))
        t->len--;
}

static bool tok_is(const cg_rd *t, const char *s)
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
static bool tok_u32(cg_rd t, uint32_t max, uint32_t *v)
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

static bool tok_ice_chars(cg_rd t, size_t min, size_t max)
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
static bool tok_token(cg_rd t, size_t max)
{
    uint8_t ch;
    if (cg_rd_left(&t) == 0 || cg_rd_left(&t) > max)
        return false;
    while (cg_rd_u8(&t, &ch) == 0)
        if (ch <= 0x20 || ch >= 0x7f)
            return false;
    return true;
}

static bool str_ice_chars(const char *s, size_t min, size_t max)
{
    cg_rd t;
    if (!s)
        return false;
    cg_rd_init(&t, s, strlen(s));
    return tok_ice_chars(t, min, max);
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

static void copy_str(char *dst, size_t cap, const char *src)
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
    if (!tok_ice_chars(f, 1, 32) || !tok_copy(&f, out->foundation, sizeof(out->foundation)))
        return "foundation must be 1 to 32 ice-chars";
    f = rd_word(r);
    if (!tok_u32(f, 256, &v) || v == 0)
        return "component must be a number from 1 to 256";
    out->component = v;
    f = rd_word(r);
    if (!tok_token(f, sizeof(out->transport) - 1) ||
        !tok_copy(&f, out->transport, sizeof(out->transport)))
        return "transport must be a short token such as udp or tcp";
    f = rd_word(r);
    if (!tok_u32(f, UINT32_MAX, &v) || v == 0)
        return "priority must be a number from 1 to 4294967295";
    out->priority = v;
    f = rd_word(r);
    if (!tok_token(f, CG_SDP_ADDR_MAX) || !tok_copy(&f, out->address, sizeof(out->address)))
        return "address must be an IP address or a host name of at most 63 characters";
    f = rd_word(r);
    if (!tok_u32(f, 65535, &v))
        return "port must be a number from 0 to 65535";
    out->port = (uint16_t)v;
    f = rd_word(r);
    if (!tok_is(&f, "typ"))
        return "expected \"typ\" after the port";
    f = rd_word(r);
    if (!tok_token(f, sizeof(out->type) - 1) || !tok_copy(&f, out->type, sizeof(out->type)))
        return "type must be host, srflx, prflx or relay";
    /* Extensions come as name/value pairs; only tcptype matters here. */
    while (rd_skip_spaces(r), cg_rd_left(r)) {
        cg_rd name = rd_word(r);
        cg_rd val = rd_word(r);
        if (tok_is(&name, "tcptype") && !tok_copy(&val, out->tcptype, sizeof(out->tcptype)))
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

static void why_set(char *why, size_t cap, const char *fmt, va_list ap)
{
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
}

/* Records "line N: <sentence>" and returns CG_EPROTO. */
__attribute__((format(printf, 2, 3))) static int bad(pctx *c, const char *fmt, ...)
{
    if (c->why && c->why_cap) {
        int n = snprintf(c->why, c->why_cap, "line %u: ", c->line);
        if (n >= 0 && (size_t)n < c->why_cap) {
            va_list ap;
            va_start(ap, fmt);
            why_set(c->why + n, c->why_cap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return CG_EPROTO;
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
    rd_trim(v);
    if (tp->ice_ufrag)
        return bad(c, "second a=ice-ufrag at the same level");
    if (!tok_ice_chars(*v, 1, CG_SDP_CRED_MAX))
        return bad(c, "a=ice-ufrag must be 1 to 256 ice-chars (letters, digits, '+', '/')");
    KEEP(tp->ice_ufrag, c, v);
    return 0;
}

static int a_ice_pwd(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    rd_trim(v);
    if (tp->ice_pwd)
        return bad(c, "second a=ice-pwd at the same level");
    if (!tok_ice_chars(*v, 1, CG_SDP_CRED_MAX))
        return bad(c, "a=ice-pwd must be 1 to 256 ice-chars (letters, digits, '+', '/')");
    KEEP(tp->ice_pwd, c, v);
    return 0;
}

static int a_ice_options(pctx *c, cg_rd *v)
{
    rd_trim(v);
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
    if (!tok_token(alg, 16) || cg_rd_left(&hex) == 0 || cg_rd_left(&hex) > CG_SDP_FP_HEX_MAX)
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

static const char *const setup_names[] = {
    [CG_SDP_SETUP_ACTPASS] = "actpass",
    [CG_SDP_SETUP_ACTIVE] = "active",
    [CG_SDP_SETUP_PASSIVE] = "passive",
    [CG_SDP_SETUP_HOLDCONN] = "holdconn",
};

static int a_setup(pctx *c, cg_rd *v)
{
    cg_sdp_transport *tp = cur_tp(c);
    rd_trim(v);
    if (tp->setup != CG_SDP_SETUP_NONE)
        return bad(c, "second a=setup at the same level");
    for (int i = CG_SDP_SETUP_ACTPASS; i <= CG_SDP_SETUP_HOLDCONN; i++)
        if (tok_is(v, setup_names[i])) {
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
        if (!tok_token(mid, CG_SDP_MID_MAX))
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
    rd_trim(v);
    if (!c->m)
        return bad(c, "a=mid belongs inside an m= section");
    if (c->m->mid)
        return bad(c, "second a=mid in one m= section");
    if (!tok_token(*v, CG_SDP_MID_MAX))
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
    rd_trim(v);
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
    if (!tok_u32(f, 127, &pt))
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
    if (!tok_token(name, 31) || !tok_u32(rate, UINT32_MAX, &hz) || hz == 0)
        return bad(c, "a=rtpmap needs <payload type> <name>/<clock rate>[/<channels>]");
    if (cg_rd_left(&enc) && (!tok_u32(enc, 255, &ch) || ch == 0))
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
    rd_trim(v);
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
    if (tok_is(&type, "nack"))
        return none ? CG_SDP_FB_NACK : tok_is(&param, "pli") ? CG_SDP_FB_PLI : CG_SDP_FB_OTHER;
    if (tok_is(&type, "ccm"))
        return tok_is(&param, "fir") ? CG_SDP_FB_FIR : CG_SDP_FB_OTHER;
    if (tok_is(&type, "goog-remb"))
        return CG_SDP_FB_REMB;
    if (tok_is(&type, "transport-cc"))
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

static const char *const dir_names[] = {
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
    if (!tok_u32(idt, 255, &id) || id == 0)
        return bad(c, "a=extmap id must be a number from 1 to 255");
    if (!tok_token(uri, CG_SDP_MAX_LINE))
        return bad(c, "a=extmap needs a URI after the id");
    cg_sdp_extmap *e = &m->extmap[m->n_extmap];
    if (cg_rd_left(&head)) {
        bool ok = false;
        for (int d = CG_SDP_SENDRECV; d <= CG_SDP_INACTIVE; d++)
            if (tok_is(&head, dir_names[d])) {
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
    if (!tok_u32(num, UINT32_MAX, &ssrc))
        return bad(c, "a=ssrc must start with an SSRC from 0 to 4294967295");
    rd_skip_spaces(v);
    cg_rd name = cg_rd_field(v, ':');
    rd_trim(v);
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
    if (tok_is(&name, "cname") && !*e->cname)
        KEEP(e->cname, c, v);
    else if (tok_is(&name, "msid") && !*e->msid)
        KEEP(e->msid, c, v);
    return 0;
}

static int a_ssrc_group(pctx *c, cg_rd *v)
{
    if (!c->m)
        return bad(c, "a=ssrc-group belongs inside an m= section");
    cg_sdp_media *m = c->m;
    cg_rd sem = rd_word(v);
    if (!tok_is(&sem, "FID"))
        return 0; /* SIM, FEC-FR: not used for ingest */
    cg_rd a = rd_word(v);
    cg_rd b = rd_word(v);
    uint32_t s1, s2;
    if (!tok_u32(a, UINT32_MAX, &s1) || !tok_u32(b, UINT32_MAX, &s2))
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
        if (tok_is(&name, attr_table[i].name))
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
    if (!tok_u32(portn, 65535, &port))
        return bad(c, "m= port must be a number from 0 to 65535");
    if (!tok_token(media, 32) || !tok_token(proto, 64))
        return bad(c, "m= media and proto must be tokens");
    cg_sdp_media *m = calloc(1, sizeof(*m));
    if (!m)
        return CG_ENOMEM;
    s->media[s->n_media++] = m;
    c->m = m;
    m->line = c->line;
    m->port = (uint16_t)port;
    m->kind = tok_is(&media, "video")   ? CG_SDP_VIDEO
              : tok_is(&media, "audio") ? CG_SDP_AUDIO
                                        : CG_SDP_OTHER;
    KEEP(m->media, c, &media);
    KEEP(m->proto, c, &proto);
    KEEP(m->fmt0, c, &fmt);
    m->rtp = strstr(m->proto, "RTP/") != NULL;
    while (m->rtp && cg_rd_left(&fmt)) {
        uint32_t pt;
        if (!tok_u32(fmt, 127, &pt))
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
    if (!tok_token(host, CG_SDP_ADDR_MAX))
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
    if (++c->n_lines == 1 && (type != 'v' || !tok_is(line, "0")))
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
        rd_trim(&k);
        rd_trim(&p);
        if (tok_icase(&k, key)) {
            *val = (const char *)cg_rd_cur(&p);
            *val_len = cg_rd_left(&p);
            return 0;
        }
    }
    return CG_ENOTFOUND;
}

/* ---- negotiation ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    why_set(why, cap, fmt, ap);
    va_end(ap);
    return CG_EUNSUPP;
}

/* fmtp value of key as a number; dflt when absent, -1 when not a number. */
static long fmtp_num(const char *fmtp, const char *key, long dflt)
{
    const char *v;
    size_t n;
    uint32_t x;
    cg_rd t;
    if (cg_sdp_fmtp_param(fmtp, key, &v, &n) != 0)
        return dflt;
    cg_rd_init(&t, v, n);
    return tok_u32(t, 0x7fffffff, &x) ? (long)x : -1;
}

/* profile-level-id (RFC 6184): 6 hex digits; absent means 42000A (Baseline
 * level 1.0). Returns false when present but malformed. */
static bool h264_plid(const char *fmtp, uint32_t *out)
{
    const char *v;
    size_t n;
    uint32_t x = 0;
    if (cg_sdp_fmtp_param(fmtp, "profile-level-id", &v, &n) != 0) {
        *out = 0x42000a;
        return true;
    }
    if (n != 6)
        return false;
    for (size_t i = 0; i < 6; i++) {
        char ch = v[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            return false;
        x = (x << 4) | (uint32_t)d;
    }
    *out = x;
    return true;
}

/* Ranks an H.264 payload type: packetization-mode 1 outranks mode 0 (FU-A
 * lets the encoder send frames larger than one packet), and within a mode
 * the Baseline family (profile_idc 0x42, which includes Constrained
 * Baseline 42e0xx) outranks Main/High, which browsers may fill with
 * B-frames the live packager would have to reorder. -1: not usable. */
static int h264_rank(const cg_sdp_codec *k, long *pm, uint32_t *plid)
{
    if (strcasecmp(k->name, "H264") != 0 || k->clock_rate != 90000)
        return -1;
    *pm = fmtp_num(k->fmtp, "packetization-mode", 0);
    if ((*pm != 0 && *pm != 1) || !h264_plid(k->fmtp, plid))
        return -1; /* mode 2 (interleaved) is not depacketized */
    return (*pm == 1 ? 2 : 0) + ((*plid >> 16) == 0x42 ? 1 : 0);
}

static int rtx_for(const cg_sdp_media *m, unsigned pt)
{
    for (size_t i = 0; i < m->n_codecs; i++) {
        const cg_sdp_codec *k = &m->codecs[i];
        if (strcasecmp(k->name, "rtx") == 0 && fmtp_num(k->fmtp, "apt", -1) == (long)pt)
            return k->pt;
    }
    return -1;
}

static void take_codec(cg_sdp_track *t, const cg_sdp_codec *k)
{
    t->pt = k->pt;
    copy_str(t->codec, sizeof(t->codec), k->name);
    t->clock_rate = k->clock_rate;
    t->channels = k->channels;
    copy_str(t->fmtp, sizeof(t->fmtp), k->fmtp);
    t->fb = k->fb;
}

static bool pick_h264(const cg_sdp_media *m, cg_sdp_track *t)
{
    const cg_sdp_codec *best = NULL;
    int best_rank = -1;
    long best_pm = 0;
    uint32_t best_plid = 0;
    for (size_t i = 0; i < m->n_codecs; i++) {
        long pm;
        uint32_t plid;
        int rank = h264_rank(&m->codecs[i], &pm, &plid);
        if (rank > best_rank) {
            best = &m->codecs[i];
            best_rank = rank;
            best_pm = pm;
            best_plid = plid;
        }
    }
    if (!best)
        return false;
    take_codec(t, best);
    t->h264_packetization_mode = (int)best_pm;
    t->h264_profile_level_id = best_plid;
    t->rtx_pt = rtx_for(m, best->pt);
    return true;
}

static bool pick_opus(const cg_sdp_media *m, cg_sdp_track *t)
{
    for (size_t i = 0; i < m->n_codecs; i++) {
        const cg_sdp_codec *k = &m->codecs[i];
        if (strcasecmp(k->name, "opus") != 0 || k->clock_rate != 48000 || k->channels != 2)
            continue;
        take_codec(t, k);
        long v = fmtp_num(k->fmtp, "minptime", 0);
        t->opus_minptime = v > 0 ? (unsigned)v : 0;
        t->opus_useinbandfec = fmtp_num(k->fmtp, "useinbandfec", 0) == 1;
        t->rtx_pt = -1;
        return true;
    }
    return false;
}

static const struct {
    const char *uri;
    size_t off;
} ext_table[] = {
    {"urn:ietf:params:rtp-hdrext:sdes:mid", offsetof(cg_sdp_extids, mid)},
    {"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", offsetof(cg_sdp_extids, rid)},
    {"urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
     offsetof(cg_sdp_extids, repaired_rid)},
    {"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
     offsetof(cg_sdp_extids, abs_send_time)},
    {"http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
     offsetof(cg_sdp_extids, twcc)},
    {"urn:ietf:params:rtp-hdrext:ssrc-audio-level", offsetof(cg_sdp_extids, audio_level)},
    {"urn:ietf:params:rtp-hdrext:toffset", offsetof(cg_sdp_extids, toffset)},
    {"urn:3gpp:video-orientation", offsetof(cg_sdp_extids, video_orientation)},
    {"http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
     offsetof(cg_sdp_extids, playout_delay)},
};

static void take_extids(const cg_sdp_media *m, cg_sdp_extids *ext)
{
    for (size_t i = 0; i < sizeof(ext_table) / sizeof(ext_table[0]); i++) {
        unsigned id = cg_sdp_media_extmap_id(m, ext_table[i].uri);
        /* Ids above 255 cannot occur (the parser bounds them). */
        ((uint8_t *)ext)[ext_table[i].off] = (uint8_t)id;
    }
}

static void take_ssrcs(const cg_sdp_media *m, cg_sdp_track *t)
{
    if (m->n_fid) {
        t->ssrc = m->fid[0].ssrc;
        t->rtx_ssrc = m->fid[0].rtx_ssrc;
        return;
    }
    if (m->n_ssrc)
        t->ssrc = m->ssrc[0].ssrc;
}

/* An m= line takes part when its port is set or it rides a BUNDLE
 * (RFC 8843 bundle-only offers port 0). Port 0 otherwise means the offerer
 * itself disabled it. */
static bool m_active(const cg_sdp_media *m)
{
    return m->port != 0 || m->bundle_only;
}

static bool m_sends(const cg_sdp_media *m)
{
    return m_active(m) && (m->dir == CG_SDP_SENDONLY || m->dir == CG_SDP_SENDRECV);
}

static bool in_bundle(const cg_sdp *offer, const char *mid)
{
    for (size_t i = 0; mid && i < offer->s.n_bundle; i++)
        if (strcmp(offer->s.bundle[i], mid) == 0)
            return true;
    return false;
}

/* The m= line whose transport carries the bundle: the first accepted mid
 * in the BUNDLE group's order (RFC 8843 offerer-tagged m= line), else the
 * first accepted m= line. */
static int bundle_tag(const cg_sdp *offer, const cg_sdp_choice *ch)
{
    for (size_t b = 0; b < offer->s.n_bundle; b++)
        for (size_t i = 0; i < ch->n_media; i++)
            if (ch->media[i].accepted && strcmp(ch->media[i].mid, offer->s.bundle[b]) == 0)
                return (int)i;
    for (size_t i = 0; i < ch->n_media; i++)
        if (ch->media[i].accepted)
            return (int)i;
    return -1;
}

static bool fp_bytes(const char *hex, uint8_t out[32])
{
    cg_rd r;
    cg_rd_init(&r, hex, strlen(hex));
    for (int i = 0; i < 32; i++) {
        cg_rd byte = cg_rd_field(&r, ':');
        uint8_t hi, lo;
        if (cg_rd_left(&byte) != 2 || cg_rd_u8(&byte, &hi) || cg_rd_u8(&byte, &lo))
            return false;
        int h = hi <= '9' ? hi - '0' : (hi | 0x20) - 'a' + 10;
        int l = lo <= '9' ? lo - '0' : (lo | 0x20) - 'a' + 10;
        if (h < 0 || h > 15 || l < 0 || l > 15)
            return false;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return cg_rd_left(&r) == 0;
}

#define ACCEPTED_CODECS "H.264 (packetization-mode 0 or 1) video and/or Opus/48000/2 audio"

static int check_layout(const cg_sdp *offer, char *why, size_t cap)
{
    size_t video = 0, audio = 0;
    if (offer->n_media == 0)
        return refuse(why, cap,
                      "the offer has no m= section, so nothing to publish; offer " ACCEPTED_CODECS
                      ", sendonly");
    for (size_t i = 0; i < offer->n_media; i++) {
        const cg_sdp_media *m = offer->media[i];
        if (!m_sends(m))
            continue;
        video += m->kind == CG_SDP_VIDEO;
        audio += m->kind == CG_SDP_AUDIO;
    }
    if (video > 1 || audio > 1)
        return refuse(why, cap,
                      "the offer sends %zu video and %zu audio m= sections; publish "
                      "at most one video track (H.264) and one audio track (Opus)",
                      video, audio);
    return 0;
}

static int check_transport(const cg_sdp *offer, cg_sdp_choice *ch, char *why, size_t cap)
{
    const cg_sdp_media *m = offer->media[ch->bundle_tag];
    const cg_sdp_transport *tp = &m->tp;
    const char *mid = m->mid ? m->mid : "(none)";
    if (!tp->ice_ufrag || !tp->ice_pwd)
        return refuse(why, cap,
                      "no ICE credentials: the m= section on line %u (mid %s) has no "
                      "a=ice-ufrag and a=ice-pwd at media or session level",
                      m->line, mid);
    if (tp->n_fp == 0)
        return refuse(why, cap,
                      "no DTLS fingerprint: the offer has no a=fingerprint; WebRTC "
                      "media must use DTLS-SRTP, offer a=fingerprint:sha-256");
    const char *fp = NULL;
    for (size_t i = 0; i < tp->n_fp && !fp; i++)
        if (strcasecmp(tp->fp[i].alg, "sha-256") == 0 &&
            fp_bytes(tp->fp[i].hex, ch->remote_fp_sha256))
            fp = tp->fp[i].hex;
    if (!fp)
        return refuse(why, cap,
                      "no sha-256 fingerprint: the offer has a=fingerprint:%s only; "
                      "clipgate checks DTLS certificates against a=fingerprint:sha-256 with 32 "
                      "bytes",
                      tp->fp[0].alg);
    if (tp->setup == CG_SDP_SETUP_HOLDCONN)
        return refuse(why, cap,
                      "a=setup:holdconn asks for no DTLS connection; offer "
                      "a=setup:actpass, active or passive");
    copy_str(ch->remote_ufrag, sizeof(ch->remote_ufrag), tp->ice_ufrag);
    copy_str(ch->remote_pwd, sizeof(ch->remote_pwd), tp->ice_pwd);
    copy_str(ch->remote_fp, sizeof(ch->remote_fp), fp);
    /* RFC 8842: the answerer of actpass picks; we take passive so peers
     * behind NAT open the DTLS flow. Only a passive offerer makes us the
     * DTLS client (FFmpeg's WHIP muxer). */
    ch->dtls_client = tp->setup == CG_SDP_SETUP_PASSIVE;
    ch->local_setup = ch->dtls_client ? CG_SDP_SETUP_ACTIVE : CG_SDP_SETUP_PASSIVE;
    return 0;
}

int cg_sdp_negotiate_publish(const cg_sdp *offer, cg_sdp_choice *ch, char *why, size_t cap)
{
    if (why && cap)
        why[0] = '\0';
    if (!offer || !ch)
        return CG_EINVAL;
    memset(ch, 0, sizeof(*ch));
    ch->video = ch->audio = ch->bundle_tag = -1;
    ch->n_media = offer->n_media;
    bool any_sender = false;
    size_t accepted = 0;
    for (size_t i = 0; i < offer->n_media; i++) {
        const cg_sdp_media *m = offer->media[i];
        cg_sdp_track *t = &ch->media[i];
        t->kind = m->kind;
        t->pt = t->rtx_pt = -1;
        copy_str(t->mid, sizeof(t->mid), m->mid);
        if (!m_sends(m) || m->kind == CG_SDP_OTHER)
            continue;
        any_sender = true;
        /* SAVP(F) only: plain RTP/AVP would be unencrypted media. */
        if (!m->rtp || !strstr(m->proto, "SAVP"))
            continue;
        t->accepted = m->kind == CG_SDP_VIDEO ? pick_h264(m, t) : pick_opus(m, t);
        if (!t->accepted) {
            t->pt = t->rtx_pt = -1;
            /* Sent video we cannot take would go live without a picture
             * (OBS set to AV1 or HEVC): refuse rather than half-accept. */
            if (m->kind == CG_SDP_VIDEO)
                return refuse(why, cap,
                              "no acceptable codec: the video is not H.264; set the "
                              "encoder to H.264 (x264, NVENC H.264). clipgate takes " ACCEPTED_CODECS);
            continue;
        }
        accepted++;
        take_extids(m, &t->ext);
        take_ssrcs(m, t);
        if (m->kind == CG_SDP_VIDEO)
            ch->video = (int)i;
        else
            ch->audio = (int)i;
    }
    int rc = check_layout(offer, why, cap);
    if (rc)
        return rc;
    if (!accepted && !any_sender)
        return refuse(why, cap,
                      "nothing to publish: no audio or video m= section is sendonly "
                      "or sendrecv; WHIP needs " ACCEPTED_CODECS " sent to the server");
    if (!accepted)
        return refuse(why, cap, "no acceptable codec: offer " ACCEPTED_CODECS);
    ch->bundle = offer->s.n_bundle > 0;
    for (size_t i = 0; i < ch->n_media; i++)
        if (ch->media[i].accepted && !in_bundle(offer, offer->media[i]->mid))
            ch->bundle = false;
    if (accepted > 1 && !ch->bundle)
        return refuse(why, cap,
                      "the offer does not put its audio and video in one "
                      "a=group:BUNDLE; clipgate carries all media on one transport "
                      "(RFC 9725 requires max-bundle)");
    ch->bundle_tag = bundle_tag(offer, ch);
    return check_transport(offer, ch, why, cap);
}

/* ---- playback (WHEP) ---------------------------------------------------- */

static bool m_receives(const cg_sdp_media *m)
{
    return m_active(m) && (m->dir == CG_SDP_RECVONLY || m->dir == CG_SDP_SENDRECV);
}

/* Only packetization-mode 1 can carry what publishers send (FU-A). */
static bool pick_h264_play(const cg_sdp_media *m, uint32_t pub_plid, cg_sdp_track *t)
{
    const cg_sdp_codec *best = NULL;
    int best_rank = -1;
    uint32_t best_plid = 0;
    for (size_t i = 0; i < m->n_codecs; i++) {
        long pm;
        uint32_t plid;
        if (h264_rank(&m->codecs[i], &pm, &plid) < 0 || pm != 1)
            continue;
        int rank =
            (pub_plid && (plid >> 8) == (pub_plid >> 8) ? 2 : 0) + ((plid >> 16) == 0x42 ? 1 : 0);
        if (rank > best_rank) {
            best = &m->codecs[i];
            best_rank = rank;
            best_plid = plid;
        }
    }
    if (!best)
        return false;
    take_codec(t, best);
    t->fb &= CG_SDP_FB_NACK | CG_SDP_FB_PLI | CG_SDP_FB_FIR;
    t->h264_packetization_mode = 1;
    t->h264_profile_level_id = pub_plid ? pub_plid : best_plid;
    snprintf(t->fmtp, sizeof(t->fmtp),
             "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=%06" PRIx32,
             t->h264_profile_level_id);
    /* Resends go out as RTX (RFC 4588) when the viewer can take it. */
    t->rtx_pt = rtx_for(m, best->pt);
    return true;
}

#define PLAY_CODECS "H.264 (packetization-mode 1) video and/or Opus/48000/2 audio"

int cg_sdp_negotiate_play(const cg_sdp *offer, bool has_video, bool has_audio,
                          uint32_t pub_h264_plid, cg_sdp_choice *ch, char *why, size_t cap)
{
    if (why && cap)
        why[0] = '\0';
    if (!offer || !ch)
        return CG_EINVAL;
    memset(ch, 0, sizeof(*ch));
    ch->video = ch->audio = ch->bundle_tag = -1;
    ch->n_media = offer->n_media;
    bool any_receiver = false;
    size_t accepted = 0;
    for (size_t i = 0; i < offer->n_media; i++) {
        const cg_sdp_media *m = offer->media[i];
        cg_sdp_track *t = &ch->media[i];
        t->kind = m->kind;
        t->pt = t->rtx_pt = -1;
        copy_str(t->mid, sizeof(t->mid), m->mid);
        if (!m_receives(m) || m->kind == CG_SDP_OTHER)
            continue;
        any_receiver = true;
        if (!m->rtp || !strstr(m->proto, "SAVP"))
            continue;
        if (m->kind == CG_SDP_VIDEO && has_video && ch->video < 0)
            t->accepted = pick_h264_play(m, pub_h264_plid, t);
        else if (m->kind == CG_SDP_AUDIO && has_audio && ch->audio < 0 && pick_opus(m, t)) {
            t->accepted = true;
            t->fb &= CG_SDP_FB_NACK;
            t->rtx_pt = -1;
            snprintf(t->fmtp, sizeof(t->fmtp),
                     "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1");
        }
        if (!t->accepted) {
            t->pt = t->rtx_pt = -1;
            continue;
        }
        accepted++;
        if (m->kind == CG_SDP_VIDEO)
            ch->video = (int)i;
        else
            ch->audio = (int)i;
    }
    if (!any_receiver)
        return refuse(why, cap,
                      "nothing to play: no audio or video m= section is recvonly or sendrecv; "
                      "WHEP offers receive " PLAY_CODECS);
    if (!accepted)
        return refuse(why, cap,
                      "no acceptable codec: the stream sends %s; offer to receive " PLAY_CODECS,
                      has_video && has_audio ? "H.264 video and Opus audio"
                      : has_video            ? "H.264 video only"
                                             : "Opus audio only");
    ch->bundle = offer->s.n_bundle > 0;
    for (size_t i = 0; i < ch->n_media; i++)
        if (ch->media[i].accepted && !in_bundle(offer, offer->media[i]->mid))
            ch->bundle = false;
    if (accepted > 1 && !ch->bundle)
        return refuse(why, cap,
                      "the offer does not put its audio and video in one a=group:BUNDLE; "
                      "clipgate carries all media on one transport");
    ch->bundle_tag = bundle_tag(offer, ch);
    return check_transport(offer, ch, why, cap);
}

/* ---- answer ------------------------------------------------------------ */

/* 4 or 6 for an address literal, 0 otherwise. */
static int addr_family(const char *a)
{
    unsigned char buf[16];
    if (!a)
        return 0;
    if (inet_pton(AF_INET, a, buf) == 1)
        return 4;
    if (inet_pton(AF_INET6, a, buf) == 1)
        return 6;
    return 0;
}

int cg_sdp_write_host_candidates(cg_dbuf *out, const char *const *addrs, size_t n, uint16_t port)
{
    if (!out || !addrs || n == 0 || n > 255 || port == 0)
        return CG_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!addr_family(addrs[i]))
            return CG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        /* RFC 8445 5.1.2.1: (2^24)*type pref (126 = host) + (2^8)*local pref
         * + (256 - component); the local preference falls with the list
         * order so the operator's first --public-ip is tried first. */
        uint32_t prio = (126u << 24) | ((uint32_t)(65535 - i) << 8) | (256u - 1u);
        /* One foundation per base address (RFC 8445 5.1.1.3). */
        cg_dbuf_printf(out, "a=candidate:%zu 1 udp %" PRIu32 " %s %u typ host\r\n", i + 1, prio,
                       addrs[i], (unsigned)port);
    }
    cg_dbuf_adds(out, "a=end-of-candidates\r\n");
    return cg_dbuf_err(out);
}

static bool local_ok(const cg_sdp_local *l)
{
    if (!str_ice_chars(l->ice_ufrag, 4, CG_SDP_CRED_MAX) ||
        !str_ice_chars(l->ice_pwd, 22, CG_SDP_CRED_MAX) || !l->fp_alg || !l->fp_hex || !l->addrs ||
        l->n_addrs == 0 || l->port == 0 || (unsigned)l->dir > CG_SDP_INACTIVE)
        return false;
    cg_rd t;
    cg_rd_init(&t, l->fp_alg, strlen(l->fp_alg));
    if (!tok_token(t, 16))
        return false;
    cg_rd_init(&t, l->fp_hex, strlen(l->fp_hex));
    if (!tok_token(t, CG_SDP_FP_HEX_MAX))
        return false;
    if (l->cname) {
        cg_rd_init(&t, l->cname, strlen(l->cname));
        if (!tok_token(t, 255))
            return false;
    }
    return addr_family(l->addrs[0]) != 0;
}

static void write_fb(cg_dbuf *o, int pt, unsigned fb)
{
    if (fb & CG_SDP_FB_NACK)
        cg_dbuf_printf(o, "a=rtcp-fb:%d nack\r\n", pt);
    if (fb & CG_SDP_FB_PLI)
        cg_dbuf_printf(o, "a=rtcp-fb:%d nack pli\r\n", pt);
    if (fb & CG_SDP_FB_FIR)
        cg_dbuf_printf(o, "a=rtcp-fb:%d ccm fir\r\n", pt);
}

static void write_sending(cg_dbuf *o, const cg_sdp_track *t, const cg_sdp_local *l)
{
    const char *cname = l->cname ? l->cname : "clipgate";
    const char *what = t->kind == CG_SDP_VIDEO ? "video" : "audio";
    cg_dbuf_printf(o, "a=msid:clipgate %s\r\n", what);
    if (t->send_rtx_ssrc && t->rtx_pt >= 0)
        cg_dbuf_printf(o, "a=ssrc-group:FID %" PRIu32 " %" PRIu32 "\r\n", t->send_ssrc,
                       t->send_rtx_ssrc);
    cg_dbuf_printf(o, "a=ssrc:%" PRIu32 " cname:%s\r\n", t->send_ssrc, cname);
    if (t->send_rtx_ssrc && t->rtx_pt >= 0)
        cg_dbuf_printf(o, "a=ssrc:%" PRIu32 " cname:%s\r\n", t->send_rtx_ssrc, cname);
}

static void write_accepted(cg_dbuf *o, const cg_sdp_media *m, const cg_sdp_track *t,
                           const cg_sdp_local *l, enum cg_sdp_setup setup)
{
    const char *addr = l->addrs[0];
    cg_dbuf_printf(o, "m=%s %u %s %d", m->media, (unsigned)l->port, m->proto, t->pt);
    if (t->rtx_pt >= 0)
        cg_dbuf_printf(o, " %d", t->rtx_pt);
    cg_dbuf_printf(o, "\r\nc=IN IP%d %s\r\n", addr_family(addr), addr);
    cg_dbuf_adds(o, "a=rtcp-mux\r\n");
    if (m->rtcp_mux_only)
        cg_dbuf_adds(o, "a=rtcp-mux-only\r\n");
    cg_dbuf_printf(o, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
    cg_dbuf_printf(o, "a=fingerprint:%s %s\r\n", l->fp_alg, l->fp_hex);
    cg_dbuf_printf(o, "a=setup:%s\r\n", setup_names[setup]);
    if (t->mid[0])
        cg_dbuf_printf(o, "a=mid:%s\r\n", t->mid);
    cg_dbuf_printf(o, "a=%s\r\n", dir_names[l->dir]);
    if (t->ext.mid)
        cg_dbuf_printf(o, "a=extmap:%u urn:ietf:params:rtp-hdrext:sdes:mid\r\n", t->ext.mid);
    if (t->channels)
        cg_dbuf_printf(o, "a=rtpmap:%d %s/%" PRIu32 "/%u\r\n", t->pt, t->codec, t->clock_rate,
                       t->channels);
    else
        cg_dbuf_printf(o, "a=rtpmap:%d %s/%" PRIu32 "\r\n", t->pt, t->codec, t->clock_rate);
    write_fb(o, t->pt, t->fb);
    if (t->fmtp[0])
        cg_dbuf_printf(o, "a=fmtp:%d %s\r\n", t->pt, t->fmtp);
    if (t->rtx_pt >= 0)
        cg_dbuf_printf(o, "a=rtpmap:%d rtx/%" PRIu32 "\r\na=fmtp:%d apt=%d\r\n", t->rtx_pt,
                       t->clock_rate, t->rtx_pt, t->pt);
    if (t->send_ssrc && l->dir != CG_SDP_RECVONLY && l->dir != CG_SDP_INACTIVE)
        write_sending(o, t, l);
    cg_sdp_write_host_candidates(o, l->addrs, l->n_addrs, l->port);
}

/* The choice is a value that travels between threads; check that its
 * strings are terminated and cannot break lines before writing them. */
static bool track_ok(const cg_sdp_track *t)
{
    return t->pt >= 0 && t->pt <= 127 && t->rtx_pt <= 127 && memchr(t->mid, 0, sizeof(t->mid)) &&
           memchr(t->codec, 0, sizeof(t->codec)) && memchr(t->fmtp, 0, sizeof(t->fmtp)) &&
           t->codec[0] && !strpbrk(t->codec, " /\r\n") && !strpbrk(t->fmtp, "\r\n") &&
           !strpbrk(t->mid, " \r\n");
}

int cg_sdp_write_bundle(cg_dbuf *out, const cg_sdp_choice *ch)
{
    if (!out || !ch || ch->n_media > CG_SDP_MAX_MEDIA)
        return CG_EINVAL;
    if (!ch->bundle || ch->bundle_tag < 0 || (size_t)ch->bundle_tag >= ch->n_media)
        return 0;
    for (size_t i = 0; i < ch->n_media; i++)
        if (!memchr(ch->media[i].mid, 0, sizeof(ch->media[i].mid)) ||
            strpbrk(ch->media[i].mid, " \r\n"))
            return CG_EINVAL;
    /* The first mid of the answer's group is the answerer-tagged m= line
     * (RFC 8843 section 7.3.1): it must be the one whose transport we use. */
    cg_dbuf_printf(out, "a=group:BUNDLE %s", ch->media[ch->bundle_tag].mid);
    for (size_t i = 0; i < ch->n_media; i++)
        if ((int)i != ch->bundle_tag && ch->media[i].accepted && ch->media[i].mid[0])
            cg_dbuf_printf(out, " %s", ch->media[i].mid);
    cg_dbuf_adds(out, "\r\n");
    return cg_dbuf_err(out);
}

int cg_sdp_build_answer(const cg_sdp *offer, const cg_sdp_choice *ch, const cg_sdp_local *l,
                        cg_dbuf *o)
{
    if (!offer || !ch || !l || !o || ch->n_media != offer->n_media || !local_ok(l))
        return CG_EINVAL;
    enum cg_sdp_setup setup = l->setup != CG_SDP_SETUP_NONE ? l->setup : ch->local_setup;
    if (setup != CG_SDP_SETUP_ACTIVE && setup != CG_SDP_SETUP_PASSIVE)
        return CG_EINVAL;
    for (size_t i = 0; i < ch->n_media; i++)
        if (ch->media[i].accepted && !track_ok(&ch->media[i]))
            return CG_EINVAL;
    int fam = addr_family(l->addrs[0]);
    cg_dbuf_printf(o, "v=0\r\no=- %" PRIu64 " %" PRIu64 " IN IP%d %s\r\ns=-\r\nt=0 0\r\n",
                   l->sess_id, l->sess_version, fam, l->addrs[0]);
    /* We are always reachable at our host candidates and never gather:
     * ICE-lite (RFC 8445 section 2.5). */
    cg_dbuf_adds(o, "a=ice-lite\r\n");
    cg_sdp_write_bundle(o, ch);
    for (size_t i = 0; i < ch->n_media; i++) {
        const cg_sdp_media *m = offer->media[i];
        const cg_sdp_track *t = &ch->media[i];
        if (t->accepted) {
            write_accepted(o, m, t, l, setup);
            continue;
        }
        /* RFC 3264 section 6: a rejected stream keeps its place with port 0. */
        cg_dbuf_printf(o, "m=%s 0 %s %s\r\nc=IN IP4 0.0.0.0\r\n", m->media, m->proto, m->fmt0);
        if (m->mid)
            cg_dbuf_printf(o, "a=mid:%s\r\n", m->mid);
        cg_dbuf_adds(o, "a=inactive\r\n");
    }
    return cg_dbuf_err(o);
}
