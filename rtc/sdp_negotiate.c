/* Codec and transport negotiation for publishing (WHIP) and playback
 * (WHEP), see sdp.h. Both walk the offer's m= lines once through
 * walk_media(); what differs is the direction read and how a track is
 * picked (struct negotiation). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "rtc/sdp.h"
#include "rtc/sdp_internal.h"

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && cap)
        vsnprintf(why, cap, fmt, ap);
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
    return cg_sdp_tok_u32(t, 0x7fffffff, &x) ? (long)x : -1;
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
    cg_sdp_copy_str(t->codec, sizeof(t->codec), k->name);
    t->clock_rate = k->clock_rate;
    t->channels = k->channels;
    cg_sdp_copy_str(t->fmtp, sizeof(t->fmtp), k->fmtp);
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
    cg_sdp_copy_str(ch->remote_ufrag, sizeof(ch->remote_ufrag), tp->ice_ufrag);
    cg_sdp_copy_str(ch->remote_pwd, sizeof(ch->remote_pwd), tp->ice_pwd);
    cg_sdp_copy_str(ch->remote_fp, sizeof(ch->remote_fp), fp);
    /* RFC 8842: the answerer of actpass picks; we take passive so peers
     * behind NAT open the DTLS flow. Only a passive offerer makes us the
     * DTLS client (FFmpeg's WHIP muxer). */
    ch->dtls_client = tp->setup == CG_SDP_SETUP_PASSIVE;
    ch->local_setup = ch->dtls_client ? CG_SDP_SETUP_ACTIVE : CG_SDP_SETUP_PASSIVE;
    return 0;
}

/* How one direction negotiates: the m= lines it reads (the offerer sends
 * for a publish, receives for a play) and how it picks a track from one.
 * pick returns 1 when it took the track, 0 when it passed it over and a
 * negative code, with why set, when the whole offer is refused. */
typedef struct negotiation {
    bool (*wants)(const cg_sdp_media *m);
    int (*pick)(const struct negotiation *n, const cg_sdp_media *m, const cg_sdp_choice *ch,
                cg_sdp_track *t, char *why, size_t cap);
    bool has_video, has_audio;
    uint32_t pub_h264_plid;
} negotiation;

/* Walks the offer's m= lines once: every one gets its place in ch, those in
 * the direction n wants count as wanted, and those n picks are accepted. */
static int walk_media(const cg_sdp *offer, const negotiation *n, cg_sdp_choice *ch,
                      bool *any_wanted, size_t *accepted, char *why, size_t cap)
{
    if (why && cap)
        why[0] = '\0';
    if (!offer || !ch)
        return CG_EINVAL;
    memset(ch, 0, sizeof(*ch));
    ch->video = ch->audio = ch->bundle_tag = -1;
    ch->n_media = offer->n_media;
    *any_wanted = false;
    *accepted = 0;
    for (size_t i = 0; i < offer->n_media; i++) {
        const cg_sdp_media *m = offer->media[i];
        cg_sdp_track *t = &ch->media[i];
        t->kind = m->kind;
        t->pt = t->rtx_pt = -1;
        cg_sdp_copy_str(t->mid, sizeof(t->mid), m->mid);
        if (!n->wants(m) || m->kind == CG_SDP_OTHER)
            continue;
        *any_wanted = true;
        /* SAVP(F) only: plain RTP/AVP would be unencrypted media. */
        if (!m->rtp || !strstr(m->proto, "SAVP"))
            continue;
        int rc = n->pick(n, m, ch, t, why, cap);
        t->accepted = rc > 0;
        if (!t->accepted) {
            t->pt = t->rtx_pt = -1;
            if (rc < 0)
                return rc;
            continue;
        }
        (*accepted)++;
        if (m->kind == CG_SDP_VIDEO)
            ch->video = (int)i;
        else
            ch->audio = (int)i;
    }
    return 0;
}

/* After the walk: all accepted media in one BUNDLE (refused with
 * no_bundle otherwise), its tagged m= line and that line's transport. */
static int finish(const cg_sdp *offer, cg_sdp_choice *ch, size_t accepted, const char *no_bundle,
                  char *why, size_t cap)
{
    ch->bundle = offer->s.n_bundle > 0;
    for (size_t i = 0; i < ch->n_media; i++)
        if (ch->media[i].accepted && !in_bundle(offer, offer->media[i]->mid))
            ch->bundle = false;
    if (accepted > 1 && !ch->bundle)
        return refuse(why, cap, "%s", no_bundle);
    ch->bundle_tag = bundle_tag(offer, ch);
    return check_transport(offer, ch, why, cap);
}

static int pick_publish(const negotiation *n, const cg_sdp_media *m, const cg_sdp_choice *ch,
                        cg_sdp_track *t, char *why, size_t cap)
{
    (void)n;
    (void)ch;
    if (!(m->kind == CG_SDP_VIDEO ? pick_h264(m, t) : pick_opus(m, t))) {
        /* Sent video we cannot take would go live without a picture
         * (OBS set to AV1 or HEVC): refuse rather than half-accept. */
        if (m->kind == CG_SDP_VIDEO)
            return refuse(why, cap,
                          "no acceptable codec: the video is not H.264; set the "
                          "encoder to H.264 (x264, NVENC H.264). clipgate takes " ACCEPTED_CODECS);
        return 0;
    }
    take_extids(m, &t->ext);
    take_ssrcs(m, t);
    return 1;
}

int cg_sdp_negotiate_publish(const cg_sdp *offer, cg_sdp_choice *ch, char *why, size_t cap)
{
    const negotiation n = {.wants = m_sends, .pick = pick_publish};
    bool any_sender;
    size_t accepted;
    int rc = walk_media(offer, &n, ch, &any_sender, &accepted, why, cap);
    if (rc)
        return rc;
    rc = check_layout(offer, why, cap);
    if (rc)
        return rc;
    if (!accepted && !any_sender)
        return refuse(why, cap,
                      "nothing to publish: no audio or video m= section is sendonly "
                      "or sendrecv; WHIP needs " ACCEPTED_CODECS " sent to the server");
    if (!accepted)
        return refuse(why, cap, "no acceptable codec: offer " ACCEPTED_CODECS);
    return finish(offer, ch, accepted,
                  "the offer does not put its audio and video in one "
                  "a=group:BUNDLE; clipgate carries all media on one transport "
                  "(RFC 9725 requires max-bundle)",
                  why, cap);
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

/* One video and one audio track at most, each only if the stream has it. */
static int pick_play(const negotiation *n, const cg_sdp_media *m, const cg_sdp_choice *ch,
                     cg_sdp_track *t, char *why, size_t cap)
{
    (void)why;
    (void)cap;
    if (m->kind == CG_SDP_VIDEO && n->has_video && ch->video < 0)
        return pick_h264_play(m, n->pub_h264_plid, t);
    if (m->kind == CG_SDP_AUDIO && n->has_audio && ch->audio < 0 && pick_opus(m, t)) {
        t->fb &= CG_SDP_FB_NACK;
        t->rtx_pt = -1;
        snprintf(t->fmtp, sizeof(t->fmtp), "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1");
        return 1;
    }
    return 0;
}

int cg_sdp_negotiate_play(const cg_sdp *offer, bool has_video, bool has_audio,
                          uint32_t pub_h264_plid, cg_sdp_choice *ch, char *why, size_t cap)
{
    const negotiation n = {.wants = m_receives,
                           .pick = pick_play,
                           .has_video = has_video,
                           .has_audio = has_audio,
                           .pub_h264_plid = pub_h264_plid};
    bool any_receiver;
    size_t accepted;
    int rc = walk_media(offer, &n, ch, &any_receiver, &accepted, why, cap);
    if (rc)
        return rc;
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
    return finish(offer, ch, accepted,
                  "the offer does not put its audio and video in one a=group:BUNDLE; "
                  "clipgate carries all media on one transport",
                  why, cap);
}
