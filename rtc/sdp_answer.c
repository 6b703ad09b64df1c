/* SDP answer builder (see sdp.h): writes what the negotiation chose. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <string.h>

#include "core/err.h"
#include "rtc/sdp.h"
#include "rtc/sdp_internal.h"

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
    if (!cg_sdp_str_ice_chars(l->ice_ufrag, 4, CG_SDP_CRED_MAX) ||
        !cg_sdp_str_ice_chars(l->ice_pwd, 22, CG_SDP_CRED_MAX) || !l->fp_alg || !l->fp_hex ||
        !l->addrs || l->n_addrs == 0 || l->port == 0 || (unsigned)l->dir > CG_SDP_INACTIVE)
        return false;
    cg_rd t;
    cg_rd_init(&t, l->fp_alg, strlen(l->fp_alg));
    if (!cg_sdp_tok_token(t, 16))
        return false;
    cg_rd_init(&t, l->fp_hex, strlen(l->fp_hex));
    if (!cg_sdp_tok_token(t, CG_SDP_FP_HEX_MAX))
        return false;
    if (l->cname) {
        cg_rd_init(&t, l->cname, strlen(l->cname));
        if (!cg_sdp_tok_token(t, 255))
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
    cg_dbuf_printf(o, "a=setup:%s\r\n", cg_sdp_setup_names[setup]);
    if (t->mid[0])
        cg_dbuf_printf(o, "a=mid:%s\r\n", t->mid);
    cg_dbuf_printf(o, "a=%s\r\n", cg_sdp_dir_names[l->dir]);
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
