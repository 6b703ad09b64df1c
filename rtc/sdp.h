/* SDP (RFC 8866) for WebRTC publishing and playback: an offer parser, the
 * WHIP (RFC 9725) codec and transport negotiation, and the answer builder.
 *
 * Sans-I/O: text in, a parsed model or answer text out; no sockets, clocks,
 * randomness or logging. The caller supplies session ids, ICE credentials,
 * the certificate fingerprint and host addresses (cg_sdp_local).
 *
 * Three steps, three lifetimes:
 *  - cg_sdp_parse() gives an owned, read-only cg_sdp. Every string in the
 *    views it hands out (cg_sdp_session, cg_sdp_media) is NUL-terminated and
 *    borrowed from it: valid until cg_sdp_free().
 *  - cg_sdp_negotiate_publish() fills a cg_sdp_choice, a plain value with
 *    fixed arrays: it borrows nothing, so it can outlive the offer and be
 *    copied between threads (HTTP thread → media loop).
 *  - cg_sdp_build_answer() writes the answer text into a cg_dbuf.
 *
 * Errors meant for the remote side (a 400 or 422 problem+json body) come back
 * as one human sentence in the caller's `why` buffer, naming the offending
 * line for syntax errors ("line 7: m= line needs at least 4 fields") and
 * listing what is accepted for negotiation refusals. */
#ifndef CG_SDP_H
#define CG_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Bounds. Input beyond them is refused with CG_EPROTO and a sentence. */
#define CG_SDP_MAX_TEXT (64 * 1024)        /* bytes of SDP text */
#define CG_SDP_MAX_LINE 4096               /* bytes per line, CR/LF excluded */
#define CG_SDP_MAX_MEDIA 16                /* m= sections */
#define CG_SDP_MAX_PT 64                   /* payload types per m= line */
#define CG_SDP_MAX_CAND 32                 /* a=candidate lines per m= section */
#define CG_SDP_MAX_EXTMAP 32               /* a=extmap lines per m= section */
#define CG_SDP_MAX_SSRC 32                 /* distinct a=ssrc values per m= section */
#define CG_SDP_MAX_FID 16                  /* a=ssrc-group:FID lines per m= section */
#define CG_SDP_MAX_FP 4                    /* a=fingerprint lines per level */
#define CG_SDP_MAX_BUNDLE CG_SDP_MAX_MEDIA /* mids in a=group:BUNDLE */
#define CG_SDP_FMTP_MAX 1024               /* chars of one a=fmtp parameter string */
#define CG_SDP_MID_MAX 32                  /* chars of an a=mid value */
#define CG_SDP_CRED_MAX 256                /* chars of ice-ufrag / ice-pwd (RFC 8839) */
#define CG_SDP_FP_HEX_MAX 191              /* chars of "XX:..:XX" for a 64-byte hash */
#define CG_SDP_ADDR_MAX 63                 /* chars of a candidate address (IPv6, mDNS) */

enum cg_sdp_kind { CG_SDP_OTHER = 0, CG_SDP_AUDIO, CG_SDP_VIDEO };
enum cg_sdp_dir { CG_SDP_SENDRECV = 0, CG_SDP_SENDONLY, CG_SDP_RECVONLY, CG_SDP_INACTIVE };
/* a=setup (RFC 4145 / RFC 8842). NONE: the attribute is absent. */
enum cg_sdp_setup {
    CG_SDP_SETUP_NONE = 0,
    CG_SDP_SETUP_ACTPASS,
    CG_SDP_SETUP_ACTIVE,
    CG_SDP_SETUP_PASSIVE,
    CG_SDP_SETUP_HOLDCONN,
};

/* a=rtcp-fb kinds, as a bit mask per payload type ("*" applies to all). */
enum {
    CG_SDP_FB_NACK = 1 << 0,  /* "nack" (generic NACK, RFC 4585) */
    CG_SDP_FB_PLI = 1 << 1,   /* "nack pli" */
    CG_SDP_FB_FIR = 1 << 2,   /* "ccm fir" (RFC 5104) */
    CG_SDP_FB_REMB = 1 << 3,  /* "goog-remb" */
    CG_SDP_FB_TWCC = 1 << 4,  /* "transport-cc" */
    CG_SDP_FB_OTHER = 1 << 5, /* anything else */
};

/* One payload type of an RTP m= line, in the m= line's order. */
typedef struct cg_sdp_codec {
    uint8_t pt;
    const char *name;    /* rtpmap encoding name as written; "" without rtpmap */
    uint32_t clock_rate; /* 0 without rtpmap */
    unsigned channels;   /* rtpmap's third field; 0 when absent */
    const char *fmtp;    /* a=fmtp parameters as written; "" when none */
    unsigned fb;         /* CG_SDP_FB_* offered for this payload type */
} cg_sdp_codec;

typedef struct cg_sdp_extmap {
    unsigned id;         /* 1..255 (RFC 8285) */
    bool has_dir;        /* "a=extmap:<id>/<direction>" */
    enum cg_sdp_dir dir; /* meaningful when has_dir */
    const char *uri;
} cg_sdp_extmap;

typedef struct cg_sdp_ssrc {
    uint32_t ssrc;
    const char *cname; /* "" when not given */
    const char *msid;  /* "stream track" as written; "" when not given */
} cg_sdp_ssrc;

/* a=ssrc-group:FID <media ssrc> <rtx ssrc> (RFC 5576 / RFC 4588). */
typedef struct cg_sdp_fid {
    uint32_t ssrc;
    uint32_t rtx_ssrc;
} cg_sdp_fid;

typedef struct cg_sdp_fingerprint {
    const char *alg; /* hash function as written, e.g. "sha-256" */
    const char *hex; /* "AB:CD:..." as written */
} cg_sdp_fingerprint;

/* One ICE candidate (RFC 8839 section 5.1). A value type: strings are
 * inline, so it is used as-is by the trickle fragment parser too. */
typedef struct cg_sdp_candidate {
    char foundation[33]; /* 1..32 ice-chars */
    unsigned component;  /* 1 = RTP (the only one with rtcp-mux) */
    char transport[16];  /* "udp", "UDP", "tcp", ... as written */
    uint32_t priority;
    char address[CG_SDP_ADDR_MAX + 1]; /* IPv4, IPv6 or an mDNS/FQDN name */
    uint16_t port;
    char type[16];    /* "host", "srflx", "prflx", "relay" */
    char tcptype[16]; /* "active", "passive", "so"; "" for UDP */
} cg_sdp_candidate;

/* ICE and DTLS parameters of one level. NULL strings: attribute absent. */
typedef struct cg_sdp_transport {
    const char *ice_ufrag;
    const char *ice_pwd;
    const char *ice_options; /* raw value, e.g. "trickle" or "ice2,trickle" */
    size_t n_fp;
    cg_sdp_fingerprint fp[CG_SDP_MAX_FP];
    enum cg_sdp_setup setup;
} cg_sdp_transport;

/* Session-level part of a parsed SDP. Borrowed from its cg_sdp. */
typedef struct cg_sdp_session {
    const char *origin_sess_id;      /* o= sess-id as written */
    const char *origin_sess_version; /* o= sess-version as written */
    const char *conn_addr;           /* c= address; NULL when absent */
    bool ice_lite;
    bool end_of_candidates;
    cg_sdp_transport tp; /* as written at session level */
    size_t n_bundle;
    const char *bundle[CG_SDP_MAX_BUNDLE]; /* a=group:BUNDLE mids, in order */
} cg_sdp_session;

/* One m= section. Borrowed from its cg_sdp. */
typedef struct cg_sdp_media {
    unsigned line; /* line number of the m= line (for messages) */
    enum cg_sdp_kind kind;
    const char *media; /* media token as written: "video", "application" */
    uint16_t port;     /* 0: rejected, or bundle-only */
    const char *proto; /* "UDP/TLS/RTP/SAVPF", ... */
    const char *fmt0;  /* first format token as written */
    bool rtp;          /* proto is RTP: codecs[] holds the formats */
    size_t n_codecs;
    cg_sdp_codec codecs[CG_SDP_MAX_PT];
    const char *mid;     /* NULL when absent */
    const char *msid;    /* a=msid value; NULL when absent */
    enum cg_sdp_dir dir; /* media level, else session level, else sendrecv */
    bool bundle_only;
    bool rtcp_mux;
    bool rtcp_mux_only;
    bool end_of_candidates; /* here or at session level */
    const char *conn_addr;  /* c= here, else the session's; NULL when neither */
    /* Effective transport: each field from this m= section when present,
     * else from the session level (RFC 8839 / RFC 8122 fallback). */
    cg_sdp_transport tp;
    size_t n_extmap;
    cg_sdp_extmap extmap[CG_SDP_MAX_EXTMAP];
    size_t n_ssrc;
    cg_sdp_ssrc ssrc[CG_SDP_MAX_SSRC];
    size_t n_fid;
    cg_sdp_fid fid[CG_SDP_MAX_FID];
    size_t n_cand;
    cg_sdp_candidate cand[CG_SDP_MAX_CAND];
} cg_sdp_media;

typedef struct cg_sdp cg_sdp;

/* Parses SDP text (LF or CRLF line ends; no NUL needed at text[len]).
 * Gives *out to the caller (cg_sdp_free); writes *out only on success.
 * why (may be NULL when why_cap is 0) gets a sentence on CG_EPROTO and ""
 * otherwise. Returns 0, CG_EINVAL (out or text NULL), CG_EPROTO (malformed
 * or over a bound) or CG_ENOMEM. */
int cg_sdp_parse(cg_sdp **out, const char *text, size_t len, char *why, size_t why_cap);
/* Frees s (NULL is fine); every view borrowed from it dies with it. */
void cg_sdp_free(cg_sdp *s);

/* Borrowed views into s. cg_sdp_media_at returns NULL when i is out of range. */
const cg_sdp_session *cg_sdp_session_of(const cg_sdp *s);
size_t cg_sdp_media_count(const cg_sdp *s);
const cg_sdp_media *cg_sdp_media_at(const cg_sdp *s, size_t i);

/* The codec entry of payload type pt in m, or NULL. Borrowed from m. */
const cg_sdp_codec *cg_sdp_media_codec(const cg_sdp_media *m, unsigned pt);
/* The extmap id m uses for uri, or 0 when m does not offer it. */
unsigned cg_sdp_media_extmap_id(const cg_sdp_media *m, const char *uri);

/* Looks key up in an fmtp parameter string ("a=1;b=2", spaces after ';'
 * allowed, keys case-insensitive). On success *val borrows from fmtp and is
 * not NUL-terminated: use *val_len. Returns 0, CG_ENOTFOUND or CG_EINVAL. */
int cg_sdp_fmtp_param(const char *fmtp, const char *key, const char **val, size_t *val_len);

/* Parses one candidate value: "<foundation> <component> <transport>
 * <priority> <address> <port> typ <type> [extensions]", with or without a
 * leading "candidate:" (browsers' RTCIceCandidate.candidate has it).
 * Extensions other than tcptype are skipped. On CG_EPROTO *err (may be
 * NULL) points to a static phrase naming the bad field.
 * Returns 0, CG_EINVAL or CG_EPROTO. */
int cg_sdp_candidate_parse(const char *value, size_t len, cg_sdp_candidate *out, const char **err);

/* Appends "a=candidate:" lines for our host candidates (UDP, component 1,
 * type host, priority per RFC 8445 section 5.1.2.1 with local preference
 * falling with the list index) and "a=end-of-candidates", CRLF-terminated.
 * addrs: n IPv4 or IPv6 literals (borrowed). Returns 0, CG_EINVAL (no
 * address, a non-literal address or port 0) or the dbuf's error. */
int cg_sdp_write_host_candidates(cg_dbuf *out, const char *const *addrs, size_t n, uint16_t port);

/* Header extension ids one m= section offered; 0 = not offered. Kept per
 * m= line because ids collide across a BUNDLE (aiortc numbers each m= line
 * from 1). */
typedef struct cg_sdp_extids {
    uint8_t mid;               /* urn:ietf:params:rtp-hdrext:sdes:mid */
    uint8_t rid;               /* ...:sdes:rtp-stream-id */
    uint8_t repaired_rid;      /* ...:sdes:repaired-rtp-stream-id */
    uint8_t abs_send_time;     /* http://www.webrtc.org/.../abs-send-time */
    uint8_t twcc;              /* draft-holmer-rmcat-transport-wide-cc-extensions-01 */
    uint8_t audio_level;       /* urn:ietf:params:rtp-hdrext:ssrc-audio-level */
    uint8_t toffset;           /* urn:ietf:params:rtp-hdrext:toffset */
    uint8_t video_orientation; /* urn:3gpp:video-orientation */
    uint8_t playout_delay;     /* http://www.webrtc.org/.../playout-delay */
} cg_sdp_extids;

/* What was decided for one m= section. Strings are copies. */
typedef struct cg_sdp_track {
    bool accepted; /* false: answered with port 0 */
    enum cg_sdp_kind kind;
    char mid[CG_SDP_MID_MAX + 1]; /* "" when the offer had none */
    int pt;                       /* chosen payload type; -1 when rejected */
    int rtx_pt;                   /* its RTX payload type (apt=pt); -1 when none */
    char codec[16];               /* encoding name as offered: "H264", "opus", "OPUS" */
    uint32_t clock_rate;
    unsigned channels;              /* 2 for Opus; 0 for video */
    char fmtp[CG_SDP_FMTP_MAX + 1]; /* offered fmtp of pt ("" when none) */
    unsigned fb;                    /* CG_SDP_FB_* offered for pt */
    int h264_packetization_mode;    /* 0 or 1 */
    uint32_t h264_profile_level_id; /* 0x42e01f...; 0x42000a when absent */
    unsigned opus_minptime;         /* ms; 0 when not given */
    bool opus_useinbandfec;
    uint32_t ssrc;     /* offered media SSRC; 0 when not signalled */
    uint32_t rtx_ssrc; /* its FID partner; 0 when none */
    cg_sdp_extids ext;
    /* Ours, for answers in which we send (WHEP): a=ssrc, a=ssrc-group:FID
     * and a=msid are written when send_ssrc is not 0. WHIP leaves them 0. */
    uint32_t send_ssrc;
    uint32_t send_rtx_ssrc;
} cg_sdp_track;

typedef struct cg_sdp_choice {
    size_t n_media; /* == the offer's m= count */
    cg_sdp_track media[CG_SDP_MAX_MEDIA];
    int video;                     /* index of the accepted video track; -1 none */
    int audio;                     /* index of the accepted audio track; -1 none */
    int bundle_tag;                /* index whose transport carries all media */
    bool bundle;                   /* the offer BUNDLEs the accepted m= lines */
    enum cg_sdp_setup local_setup; /* CG_SDP_SETUP_PASSIVE or _ACTIVE */
    bool dtls_client;              /* local_setup == ACTIVE (offer was passive) */
    char remote_ufrag[CG_SDP_CRED_MAX + 1];
    char remote_pwd[CG_SDP_CRED_MAX + 1];
    char remote_fp[CG_SDP_FP_HEX_MAX + 1]; /* the sha-256 fingerprint text */
    uint8_t remote_fp_sha256[32];          /* the same, as bytes */
} cg_sdp_choice;

/* WHIP ingest negotiation (RFC 9725) of a parsed offer.
 * Per m= section: video takes H.264, packetization-mode 1 before 0 (no fmtp
 * means 0), profile_idc 0x42 (constrained) baseline before other profiles,
 * the offer's order breaking ties, plus its RTX; audio takes Opus/48000/2.
 * Other m= sections are rejected (port 0). The offer's a=setup decides the
 * DTLS role: actpass, active or absent make us passive (DTLS server);
 * passive makes us active (DTLS client).
 * Returns 0, CG_EINVAL (NULL argument) or CG_EUNSUPP with a sentence in why:
 * no H.264/Opus m= line; more than one sending video or audio m= line;
 * nothing sent (recvonly/inactive only); no ICE credentials; no fingerprint;
 * no valid sha-256 fingerprint; several tracks without BUNDLE;
 * a=setup:holdconn. choice is fully written in every case. */
int cg_sdp_negotiate_publish(const cg_sdp *offer, cg_sdp_choice *choice, char *why, size_t why_cap);

/* WHEP playback negotiation (draft-ietf-wish-whep) of a parsed offer,
 * against what the publisher sends: has_video (H.264, packetization-mode 1,
 * profile-level-id pub_h264_plid, 0 when unknown) and has_audio (Opus).
 * Per m= section that receives (recvonly or sendrecv): the first video one
 * takes H.264 with packetization-mode 1, preferring the publisher's profile,
 * then constrained baseline, the offer's order breaking ties; the answer's
 * fmtp names the publisher's profile when known. The first audio one takes
 * Opus/48000/2 with stereo=1;sprop-stereo=1. Video keeps the offer's
 * RTX for the chosen payload type (apt=pt; rtx_pt -1 when none); the
 * caller sets send_rtx_ssrc to announce it (a=ssrc-group:FID). Other m=
 * sections are rejected. DTLS role as cg_sdp_negotiate_publish. The caller sets
 * send_ssrc of the accepted tracks before building the answer.
 * Returns 0, CG_EINVAL (NULL argument) or CG_EUNSUPP with a sentence in why:
 * nothing received, no codec the publisher sends, and the transport
 * refusals of cg_sdp_negotiate_publish. */
int cg_sdp_negotiate_play(const cg_sdp *offer, bool has_video, bool has_audio,
                          uint32_t pub_h264_plid, cg_sdp_choice *choice, char *why, size_t why_cap);

/* Appends "a=group:BUNDLE" with the accepted mids, the bundle tag first,
 * when choice->bundle is set (nothing otherwise). For answers and ICE
 * restart fragments. Returns 0, CG_EINVAL or the dbuf's error. */
int cg_sdp_write_bundle(cg_dbuf *out, const cg_sdp_choice *choice);

/* Our side of an answer. All pointers are borrowed for the call. */
typedef struct cg_sdp_local {
    const char *ice_ufrag;    /* ice-chars, 4..256 */
    const char *ice_pwd;      /* ice-chars, 22..256 */
    const char *fp_alg;       /* "sha-256" */
    const char *fp_hex;       /* uppercase colon hex (cg_cert_fingerprint) */
    enum cg_sdp_setup setup;  /* ACTIVE or PASSIVE; NONE: the choice's */
    const char *const *addrs; /* host candidate addresses, IPv4/IPv6 literals */
    size_t n_addrs;           /* >= 1; the first one also goes into c= */
    uint16_t port;            /* our one UDP port; every bundled m= uses it */
    uint64_t sess_id;         /* o= sess-id */
    uint64_t sess_version;    /* o= sess-version */
    /* Direction of every accepted m= line: CG_SDP_RECVONLY for WHIP,
     * CG_SDP_SENDONLY for WHEP (then tracks carry send_ssrc). */
    enum cg_sdp_dir dir;
    const char *cname; /* a=ssrc cname when sending; NULL: "clipgate" */
} cg_sdp_local;

/* Writes the answer to offer (the one choice was negotiated from) into out:
 * session-level ice-lite and BUNDLE of the accepted mids; per accepted m=
 * line our port, c=, rtcp-mux (and rtcp-mux-only when offered), ICE
 * credentials, fingerprint, setup, mid, direction, the mid extmap, the
 * chosen rtpmap/rtcp-fb/fmtp (and RTX), host candidates and
 * end-of-candidates; rejected m= lines as "m=<media> 0 <proto> <fmt>" with
 * a=mid and a=inactive. Lines end in CRLF. Appends to out.
 * Returns 0, CG_EINVAL (NULL argument, choice not from this offer, or bad
 * local values) or the dbuf's error (CG_ENOSPC, CG_ENOMEM). */
int cg_sdp_build_answer(const cg_sdp *offer, const cg_sdp_choice *choice, const cg_sdp_local *local,
                        cg_dbuf *out);

#endif
