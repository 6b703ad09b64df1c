/* Tests for rtc/sdp.c and rtc/sdpfrag.c against offers captured from real
 * peers (aiortc, Chromium, GStreamer webrtcbin) and offers written in the
 * shape OBS (libdatachannel) and FFmpeg 8's WHIP muxer send; see
 * tests/fixtures/sdp/README.md. The PT numbers asserted below are the ones
 * in those captures.
 *
 * The generated answers are also written to $CG_BUILD_DIR/sdp_answers/ so
 * tests/e2e/peers/check_answers.sh can hand answers to the real peers.
 * Run as "test_rtc_sdp --answer < offer.sdp" the binary prints our answer
 * to an offer read from stdin; the peer scripts use that (--answer-cmd). */
#include <errno.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/err.h"
#include "rtc/sdp.h"
#include "rtc/sdpfrag.h"
#include "cg_test.h"

#define FIX "tests/fixtures/sdp/"
#define LOCAL_FP                                                                                   \
    "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:"      \
    "D7:E8:F9"

static const char *const local_addrs[] = {"127.0.0.1", "::1"};

static cg_sdp_local whip_local(void)
{
    cg_sdp_local l = {
        .ice_ufrag = "cgUf8x2Q",
        .ice_pwd = "cgPwd0123456789abcdefXYZ",
        .fp_alg = "sha-256",
        .fp_hex = LOCAL_FP,
        .addrs = local_addrs,
        .n_addrs = 2,
        .port = 8189,
        .sess_id = 1234567890123ULL,
        .sess_version = 2,
        .dir = CG_SDP_RECVONLY,
    };
    return l;
}

static cg_sdp *parse_file(const char *name)
{
    char path[256], why[256];
    size_t len = 0;
    snprintf(path, sizeof(path), FIX "%s", name);
    char *text = cg_test_read_file(path, &len);
    CHECK(text != NULL);
    if (!text)
        return NULL;
    cg_sdp *s = NULL;
    int rc = cg_sdp_parse(&s, text, len, why, sizeof(why));
    if (rc)
        fprintf(stderr, "%s: %s (%s)\n", name, cg_strerror(rc), why);
    CHECK_INT(rc, 0);
    CHECK_STR(why, "");
    free(text);
    return s;
}

static cg_sdp *parse_str(const char *text, char *why, size_t cap, int *rc)
{
    cg_sdp *s = NULL;
    *rc = cg_sdp_parse(&s, text, strlen(text), why, cap);
    return s;
}

static bool has_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    return strstr(text, want) != NULL;
}

static size_t count_str(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Writes the answer for the peer-check scripts; best effort. */
static void save_answer(const char *name, const char *text)
{
    const char *root = getenv("CG_BUILD_DIR");
    char path[4096];
    if (!root)
        return;
    snprintf(path, sizeof(path), "%s/sdp_answers", root);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return;
    snprintf(path, sizeof(path), "%s/sdp_answers/%s", root, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Negotiates and answers an offer; the answer must re-parse with our own
 * parser and carry the transport lines every accepted m= line needs. */
static char *answer_for(const cg_sdp *offer, cg_sdp_choice *ch, const char *save_as)
{
    char why[256];
    CHECK_INT(cg_sdp_negotiate_publish(offer, ch, why, sizeof(why)), 0);
    CHECK_STR(why, "");
    cg_sdp_local l = whip_local();
    cg_dbuf d;
    cg_dbuf_init(&d, 64 * 1024);
    CHECK_INT(cg_sdp_build_answer(offer, ch, &l, &d), 0);
    char *text = cg_dbuf_take(&d, NULL);
    if (save_as) {
        /* Golden copy in tests/fixtures/sdp/answers/: any change to the
         * answer text shows in review, and check_answers.sh hands these
         * very files to the real peers. */
        char path[256];
        snprintf(path, sizeof(path), FIX "answers/%s", save_as);
        char *golden = cg_test_read_file(path, NULL);
        CHECK(golden != NULL);
        if (golden)
            CHECK_STR(text, golden);
        free(golden);
        save_answer(save_as, text);
    }

    cg_sdp *a = NULL;
    CHECK_INT(cg_sdp_parse(&a, text, strlen(text), why, sizeof(why)), 0);
    if (!a)
        return text;
    const cg_sdp_session *s = cg_sdp_session_of(a);
    CHECK(s->ice_lite);
    CHECK_INT(cg_sdp_media_count(a), cg_sdp_media_count(offer));
    const char *head = "v=0\r\no=- 1234567890123 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    CHECK(strncmp(text, head, strlen(head)) == 0);
    size_t nb = 0;
    for (size_t i = 0; i < cg_sdp_media_count(a); i++) {
        const cg_sdp_media *am = cg_sdp_media_at(a, i);
        const cg_sdp_media *om = cg_sdp_media_at(offer, i);
        const cg_sdp_track *t = &ch->media[i];
        CHECK_STR(am->media, om->media);
        CHECK_STR(am->proto, om->proto);
        if (om->mid)
            CHECK_STR(am->mid, om->mid);
        if (!t->accepted) {
            CHECK_INT(am->port, 0);
            CHECK_INT(am->dir, CG_SDP_INACTIVE);
            CHECK_INT(am->n_cand, 0);
            continue;
        }
        bool grouped = false;
        for (size_t b = 0; b < s->n_bundle; b++)
            grouped |= strcmp(s->bundle[b], t->mid) == 0;
        CHECK(grouped == ch->bundle);
        nb++;
        CHECK_INT(am->port, 8189);
        CHECK_INT(am->dir, CG_SDP_RECVONLY);
        CHECK(am->rtcp_mux);
        CHECK_INT(am->rtcp_mux_only, om->rtcp_mux_only);
        CHECK(!am->bundle_only);
        CHECK_STR(am->conn_addr, "127.0.0.1");
        CHECK_STR(am->tp.ice_ufrag, "cgUf8x2Q");
        CHECK_STR(am->tp.ice_pwd, "cgPwd0123456789abcdefXYZ");
        CHECK_INT(am->tp.n_fp, 1);
        CHECK_STR(am->tp.fp[0].alg, "sha-256");
        CHECK_STR(am->tp.fp[0].hex, LOCAL_FP);
        CHECK_INT(am->tp.setup, ch->local_setup);
        CHECK_INT(am->n_codecs, t->rtx_pt >= 0 ? 2 : 1);
        CHECK_INT(am->codecs[0].pt, t->pt);
        if (t->rtx_pt >= 0) {
            CHECK_INT(am->codecs[1].pt, t->rtx_pt);
            CHECK_STR(am->codecs[1].name, "rtx");
        }
        CHECK_STR(am->codecs[0].fmtp, cg_sdp_media_codec(om, (unsigned)t->pt)->fmtp);
        /* Only nack, nack pli and ccm fir are echoed, and only if offered. */
        CHECK_INT(am->codecs[0].fb, t->fb & (CG_SDP_FB_NACK | CG_SDP_FB_PLI | CG_SDP_FB_FIR));
        /* The mid extension only, with the id this m= line offered. */
        CHECK_INT(am->n_extmap, t->ext.mid ? 1 : 0);
        if (t->ext.mid)
            CHECK_INT(cg_sdp_media_extmap_id(am, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                      t->ext.mid);
        CHECK_INT(am->n_cand, 2);
        CHECK(am->end_of_candidates);
        CHECK_STR(am->cand[0].address, "127.0.0.1");
        CHECK_STR(am->cand[1].address, "::1");
        CHECK_INT(am->cand[0].port, 8189);
        CHECK_STR(am->cand[0].type, "host");
        CHECK_STR(am->cand[0].transport, "udp");
        CHECK_INT(am->cand[0].component, 1);
        /* RFC 8445 host priority: 126 << 24 | 65535 << 8 | 255. */
        CHECK_INT(am->cand[0].priority, 2130706431u);
        CHECK_INT(am->cand[1].priority, 2130706175u);
    }
    CHECK_INT(s->n_bundle, ch->bundle ? nb : 0);
    if (s->n_bundle) /* the tag leads the group */
        CHECK_STR(s->bundle[0], ch->media[ch->bundle_tag].mid);
    CHECK(!strstr(text, "bundle-only"));
    CHECK(!strstr(text, "goog-remb"));
    CHECK(!strstr(text, "transport-cc"));
    cg_sdp_free(a);
    return text;
}

static void test_aiortc(void)
{
    cg_sdp *s = parse_file("aiortc_offer.sdp");
    if (!s)
        return;
    const cg_sdp_session *ss = cg_sdp_session_of(s);
    CHECK_INT(ss->n_bundle, 2);
    CHECK_STR(ss->bundle[0], "0");
    CHECK_STR(ss->bundle[1], "1");
    CHECK_STR(ss->origin_sess_id, "4004848605");
    CHECK_INT(cg_sdp_media_count(s), 2);
    const cg_sdp_media *v = cg_sdp_media_at(s, 0), *a = cg_sdp_media_at(s, 1);
    CHECK_INT(v->kind, CG_SDP_VIDEO);
    CHECK_INT(v->port, 48172);
    CHECK_STR(v->proto, "UDP/TLS/RTP/SAVPF");
    CHECK_INT(v->dir, CG_SDP_SENDONLY);
    CHECK_INT(v->n_codecs, 4);
    CHECK_STR(v->codecs[0].name, "H264");
    CHECK_INT(v->codecs[0].clock_rate, 90000);
    CHECK_INT(v->codecs[0].fb, CG_SDP_FB_NACK | CG_SDP_FB_PLI | CG_SDP_FB_REMB);
    CHECK_STR(v->codecs[1].fmtp, "apt=99");
    /* aiortc puts port and credentials in every m= line, and they differ. */
    CHECK_STR(v->tp.ice_ufrag, "cT9q");
    CHECK_STR(a->tp.ice_ufrag, "FhXu");
    CHECK_STR(a->tp.ice_pwd, "PEnn2YDvH2fVOSGLMMAVwO");
    CHECK_INT(v->tp.setup, CG_SDP_SETUP_ACTPASS);
    CHECK_INT(v->n_fid, 1);
    CHECK_INT(v->fid[0].ssrc, 359468758u);
    CHECK_INT(v->fid[0].rtx_ssrc, 1921954623u);
    CHECK_INT(v->n_ssrc, 2);
    CHECK_STR(v->ssrc[0].cname, "d0b8ac99-a831-4c31-806a-9081fbc97f29");
    CHECK_INT(v->n_cand, 1);
    CHECK_STR(v->cand[0].foundation, "16572de626da4e5384a0ce2d0d93678a");
    CHECK_STR(v->cand[0].address, "127.0.0.1");
    CHECK_INT(v->cand[0].port, 48172);
    CHECK_INT(v->cand[0].priority, 2130706431u);
    CHECK(v->end_of_candidates);
    CHECK_STR(v->conn_addr, "127.0.0.1");
    CHECK_INT(a->port, 47875);
    CHECK_STR(a->codecs[0].name, "opus");
    CHECK_INT(a->codecs[0].channels, 2);
    /* Extension id 2 means abs-send-time on video but audio-level on audio. */
    CHECK_INT(
        cg_sdp_media_extmap_id(v, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"), 2);
    CHECK_INT(cg_sdp_media_extmap_id(a, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"), 2);

    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, "aiortc_answer.sdp");
    CHECK_INT(ch.video, 0);
    CHECK_INT(ch.audio, 1);
    /* 99 (42001f) and 101 (42e01f) rank alike; the offer's order decides. */
    CHECK_INT(ch.media[0].pt, 99);
    CHECK_INT(ch.media[0].rtx_pt, 100);
    CHECK_INT(ch.media[0].h264_packetization_mode, 1);
    CHECK_INT(ch.media[0].h264_profile_level_id, 0x42001f);
    CHECK_INT(ch.media[0].fb & (CG_SDP_FB_NACK | CG_SDP_FB_PLI), CG_SDP_FB_NACK | CG_SDP_FB_PLI);
    CHECK_INT(ch.media[0].fb & CG_SDP_FB_FIR, 0);
    CHECK_INT(ch.media[1].pt, 96);
    CHECK_INT(ch.media[1].rtx_pt, -1);
    CHECK_INT(ch.media[1].channels, 2);
    CHECK_INT(ch.media[0].ext.mid, 1);
    CHECK_INT(ch.media[0].ext.abs_send_time, 2);
    CHECK_INT(ch.media[0].ext.audio_level, 0);
    CHECK_INT(ch.media[1].ext.mid, 1);
    CHECK_INT(ch.media[1].ext.audio_level, 2);
    CHECK_INT(ch.media[1].ext.abs_send_time, 0);
    CHECK_INT(ch.media[0].ssrc, 359468758u);
    CHECK_INT(ch.media[0].rtx_ssrc, 1921954623u);
    CHECK_INT(ch.media[1].ssrc, 140993790u);
    CHECK(ch.bundle);
    CHECK_INT(ch.bundle_tag, 0);
    CHECK_STR(ch.remote_ufrag, "cT9q");
    CHECK_STR(ch.remote_pwd, "MthsiOKQ2eSYH9nJ1x9t2p");
    CHECK_INT(ch.remote_fp_sha256[0], 0x9b);
    CHECK_INT(ch.remote_fp_sha256[31], 0xb6);
    CHECK(!ch.dtls_client);
    CHECK_INT(ch.local_setup, CG_SDP_SETUP_PASSIVE);
    if (ans) {
        CHECK(has_line(ans, "a=group:BUNDLE 0 1"));
        CHECK(has_line(ans, "m=video 8189 UDP/TLS/RTP/SAVPF 99 100"));
        CHECK(has_line(ans, "m=audio 8189 UDP/TLS/RTP/SAVPF 96"));
        CHECK(has_line(ans, "a=rtpmap:99 H264/90000"));
        CHECK(has_line(
            ans,
            "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"));
        CHECK(has_line(ans, "a=rtcp-fb:99 nack"));
        CHECK(has_line(ans, "a=rtcp-fb:99 nack pli"));
        CHECK(!strstr(ans, "ccm fir"));
        CHECK(has_line(ans, "a=rtpmap:100 rtx/90000"));
        CHECK(has_line(ans, "a=fmtp:100 apt=99"));
        CHECK(has_line(ans, "a=rtpmap:96 opus/48000/2"));
        CHECK(has_line(ans, "a=setup:passive"));
        CHECK(has_line(ans, "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host"));
        CHECK(has_line(ans, "a=candidate:2 1 udp 2130706175 ::1 8189 typ host"));
        CHECK_INT(count_str(ans, "a=extmap:"), 2);
        CHECK_INT(count_str(ans, "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"), 2);
        CHECK(!strstr(ans, "rtcp-mux-only"));
    }
    free(ans);
    cg_sdp_free(s);
}

static void test_chromium(void)
{
    cg_sdp *s = parse_file("chromium_offer.sdp");
    if (!s)
        return;
    CHECK_INT(cg_sdp_media_count(s), 2);
    const cg_sdp_media *a = cg_sdp_media_at(s, 0), *v = cg_sdp_media_at(s, 1);
    CHECK_INT(a->kind, CG_SDP_AUDIO);
    CHECK_INT(v->kind, CG_SDP_VIDEO);
    CHECK_INT(v->n_codecs, 23);
    CHECK_STR(v->codecs[0].name, "VP8"); /* VP8 first, as Chromium prefers it */
    CHECK_INT(v->codecs[22].pt, 120);
    CHECK_STR(v->codecs[22].name, "ulpfec");
    CHECK_STR(cg_sdp_media_codec(v, 118)->name, "red");
    CHECK_STR(v->tp.ice_options, "trickle");
    CHECK_INT(v->n_cand, 2);
    CHECK_STR(v->cand[1].transport, "tcp");
    CHECK_STR(v->cand[1].tcptype, "active");
    CHECK_INT(v->cand[1].port, 9);
    CHECK_INT(v->cand[0].priority, 2122260223u);
    CHECK_INT(v->n_extmap, 11);
    CHECK_INT(cg_sdp_media_codec(a, 111)->fb, CG_SDP_FB_TWCC);

    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, "chromium_answer.sdp");
    CHECK_INT(ch.audio, 0);
    CHECK_INT(ch.video, 1);
    CHECK_INT(ch.media[1].pt, 102); /* first pm=1 baseline-family H.264 */
    CHECK_INT(ch.media[1].rtx_pt, 103);
    CHECK_INT(ch.media[1].h264_profile_level_id, 0x42001f);
    CHECK_INT(ch.media[1].fb,
              CG_SDP_FB_NACK | CG_SDP_FB_PLI | CG_SDP_FB_FIR | CG_SDP_FB_REMB | CG_SDP_FB_TWCC);
    CHECK_INT(ch.media[0].pt, 111);
    CHECK_INT(ch.media[0].opus_minptime, 10);
    CHECK(ch.media[0].opus_useinbandfec);
    CHECK_STR(ch.media[0].fmtp, "minptime=10;useinbandfec=1");
    CHECK_INT(ch.media[0].ext.mid, 4);
    CHECK_INT(ch.media[0].ext.audio_level, 1);
    CHECK_INT(ch.media[0].ext.twcc, 3);
    CHECK_INT(ch.media[1].ext.mid, 4);
    CHECK_INT(ch.media[1].ext.toffset, 14);
    CHECK_INT(ch.media[1].ext.video_orientation, 13);
    CHECK_INT(ch.media[1].ext.rid, 10);
    CHECK_INT(ch.media[1].ssrc, 421445199u);
    CHECK_INT(ch.media[1].rtx_ssrc, 3336279076u);
    CHECK_STR(ch.remote_ufrag, "9gqa");
    CHECK(!ch.dtls_client);
    if (ans) {
        CHECK(has_line(ans, "m=audio 8189 UDP/TLS/RTP/SAVPF 111"));
        CHECK(has_line(ans, "m=video 8189 UDP/TLS/RTP/SAVPF 102 103"));
        CHECK(has_line(ans, "a=rtcp-fb:102 ccm fir"));
        CHECK(has_line(ans, "a=fmtp:111 minptime=10;useinbandfec=1"));
        CHECK(has_line(ans, "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid"));
        CHECK(!strstr(ans, "VP8"));
        CHECK(!strstr(ans, "ulpfec"));
    }
    free(ans);
    cg_sdp_free(s);
}

static void test_gstreamer(void)
{
    cg_sdp *s = parse_file("gst_offer.sdp");
    if (!s)
        return;
    const cg_sdp_session *ss = cg_sdp_session_of(s);
    CHECK_STR(ss->tp.ice_options, "trickle");
    CHECK_STR(ss->bundle[0], "video0");
    const cg_sdp_media *v = cg_sdp_media_at(s, 0), *a = cg_sdp_media_at(s, 1);
    CHECK_INT(v->port, 9);
    CHECK_STR(v->conn_addr, "0.0.0.0");
    CHECK_INT(v->dir, CG_SDP_SENDRECV);
    CHECK(v->rtcp_mux_only);
    CHECK(!v->bundle_only);
    CHECK_INT(v->n_cand, 3);
    CHECK_STR(v->cand[0].transport, "UDP");
    CHECK_INT(v->cand[0].port, 52602);
    CHECK_STR(v->cand[2].tcptype, "passive");
    CHECK_INT(a->port, 0);
    CHECK(a->bundle_only);
    CHECK(a->rtcp_mux_only);
    CHECK_INT(a->n_cand, 0);
    CHECK_STR(a->codecs[0].name, "OPUS");
    const char *val;
    size_t n;
    CHECK_INT(cg_sdp_fmtp_param(v->codecs[0].fmtp, "sprop-parameter-sets", &val, &n), 0);
    CHECK(n == strlen("Z0LAHtoCgL/lwFqDAwNSgAAAAwCAAAAeR4sXUA==,aM48gA==") &&
          memcmp(val, "Z0LAHtoCgL/lwFqDAwNSgAAAAwCAAAAeR4sXUA==,aM48gA==", n) == 0);

    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, "gst_answer.sdp");
    CHECK_INT(ch.media[0].pt, 96);
    CHECK_INT(ch.media[0].rtx_pt, -1);
    CHECK_INT(ch.media[0].h264_profile_level_id, 0x42c01e);
    CHECK_INT(ch.media[0].fb, CG_SDP_FB_PLI | CG_SDP_FB_FIR | CG_SDP_FB_TWCC);
    /* The bundle-only audio with port 0 is taken, not rejected. */
    CHECK(ch.media[1].accepted);
    CHECK_INT(ch.media[1].pt, 97);
    CHECK_STR(ch.media[1].codec, "OPUS");
    CHECK_STR(ch.media[1].mid, "audio1");
    CHECK_INT(ch.media[0].ssrc, 2661659964u);
    CHECK_STR(ch.remote_ufrag, "tMRgssgkHevatFiFW8y4OTYPHlSM4pJT");
    if (ans) {
        CHECK(has_line(ans, "a=group:BUNDLE video0 audio1"));
        CHECK(has_line(ans, "m=audio 8189 UDP/TLS/RTP/SAVPF 97"));
        CHECK_INT(count_str(ans, "a=rtcp-mux-only\r\n"), 2);
        CHECK(has_line(ans, "a=rtpmap:97 OPUS/48000/2"));
        CHECK(has_line(ans, "a=rtcp-fb:96 nack pli"));
        CHECK(!has_line(ans, "a=rtcp-fb:96 nack"));
        CHECK_INT(count_str(ans, "a=extmap"), 0);
    }
    free(ans);
    cg_sdp_free(s);
}

static void test_obs(void)
{
    cg_sdp *s = parse_file("obs_offer.sdp");
    if (!s)
        return;
    const cg_sdp_media *a = cg_sdp_media_at(s, 0), *v = cg_sdp_media_at(s, 1);
    /* libdatachannel writes credentials, fingerprint and setup once, at
     * session level: every m= line falls back to them. */
    CHECK(cg_sdp_session_of(s)->tp.ice_ufrag != NULL);
    CHECK_STR(a->tp.ice_ufrag, "Qx7K");
    CHECK_STR(v->tp.ice_pwd, "4vF0pTq2hZgYcL9sWm1eRb");
    CHECK_STR(v->tp.ice_options, "ice2,trickle");
    CHECK_INT(v->tp.n_fp, 1);
    CHECK_INT(v->tp.setup, CG_SDP_SETUP_ACTPASS);
    CHECK_INT(a->n_cand + v->n_cand, 0);
    CHECK(!v->end_of_candidates);

    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, "obs_answer.sdp");
    CHECK_INT(ch.audio, 0);
    CHECK_INT(ch.video, 1);
    CHECK_INT(ch.media[0].pt, 111);
    CHECK_INT(ch.media[0].opus_minptime, 10);
    CHECK(ch.media[0].opus_useinbandfec);
    CHECK_INT(ch.media[1].pt, 96);
    CHECK_INT(ch.media[1].rtx_pt, -1);
    CHECK_INT(ch.media[1].h264_profile_level_id, 0x42e01f);
    CHECK_INT(ch.media[1].fb, CG_SDP_FB_NACK | CG_SDP_FB_PLI | CG_SDP_FB_REMB);
    CHECK_INT(ch.media[1].ssrc, 2052147308u);
    CHECK_STR(ch.remote_ufrag, "Qx7K");
    CHECK_INT(ch.local_setup, CG_SDP_SETUP_PASSIVE);
    CHECK_INT(ch.media[0].ext.mid, 0);
    if (ans) {
        CHECK(has_line(
            ans, "a=fmtp:111 "
                 "minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1"));
        CHECK(has_line(
            ans,
            "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1"));
        CHECK_INT(count_str(ans, "a=end-of-candidates\r\n"), 2);
    }
    free(ans);
    cg_sdp_free(s);
}

static void test_ffmpeg(void)
{
    cg_sdp *s = parse_file("ffmpeg_offer.sdp");
    if (!s)
        return;
    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, "ffmpeg_answer.sdp");
    /* a=setup:passive: the server must open DTLS as the client. */
    CHECK(ch.dtls_client);
    CHECK_INT(ch.local_setup, CG_SDP_SETUP_ACTIVE);
    CHECK_INT(ch.media[0].pt, 111);
    CHECK_INT(ch.media[1].pt, 106);
    CHECK_INT(ch.media[1].fb, 0);
    CHECK_INT(ch.media[1].rtx_pt, -1);
    CHECK_STR(ch.remote_ufrag, "6b1d0f3a");
    CHECK_STR(ch.remote_fp, "D2:5F:08:93:4C:E1:7A:B6:20:9D:C3:58:F4:6E:11:A7:3B:C9:82:05:EE:74:"
                            "1F:D0:69:B8:2A:C5:37:F1:94:0E");
    if (ans) {
        CHECK_INT(count_str(ans, "a=setup:active\r\n"), 2);
        CHECK(!strstr(ans, "a=setup:passive"));
        CHECK(!strstr(ans, "a=rtcp-fb"));
        /* FFmpeg takes the first UDP host candidate: it must be IPv4 here. */
        CHECK(strstr(ans, "a=candidate:") ==
              strstr(ans, "a=candidate:1 1 udp 2130706431 127.0.0.1 8189"));
    }
    free(ans);
    cg_sdp_free(s);
}

static void test_line_endings(void)
{
    /* The same Chromium offer with bare LF gives the same model. */
    size_t len;
    char *text = cg_test_read_file(FIX "chromium_offer.sdp", &len);
    if (!text) {
        CHECK(text != NULL);
        return;
    }
    char *lf = malloc(len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\r')
            lf[j++] = text[i];
    cg_sdp *s = NULL;
    CHECK_INT(cg_sdp_parse(&s, lf, j, NULL, 0), 0);
    cg_sdp_choice ch;
    CHECK_INT(cg_sdp_negotiate_publish(s, &ch, NULL, 0), 0);
    CHECK_INT(ch.media[1].pt, 102);
    CHECK_STR(cg_sdp_media_at(s, 1)->codecs[2].fmtp,
              "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f");
    cg_sdp_free(s);
    /* No NUL after the text is needed: parse an exact-size copy. */
    char *exact = malloc(len);
    memcpy(exact, text, len);
    s = NULL;
    CHECK_INT(cg_sdp_parse(&s, exact, len, NULL, 0), 0);
    cg_sdp_free(s);
    free(exact);
    free(lf);
    free(text);
}

static const struct {
    const char *file;
    int rc;          /* CG_EPROTO from parse, CG_EUNSUPP from negotiation */
    const char *why; /* expected start of the sentence */
} bad_cases[] = {
    {"bad_no_media.sdp", CG_EUNSUPP, "the offer has no m= section"},
    {"bad_port.sdp", CG_EPROTO, "line 23: m= port must be a number from 0 to 65535"},
    {"bad_m_fields.sdp", CG_EPROTO, "line 23: m= line needs at least 4 fields"},
    {"bad_no_fingerprint.sdp", CG_EUNSUPP, "no DTLS fingerprint"},
    {"bad_no_ice.sdp", CG_EUNSUPP, "no ICE credentials: the m= section on line 11 (mid 0)"},
    {"bad_sha1_only.sdp", CG_EUNSUPP, "no sha-256 fingerprint: the offer has a=fingerprint:sha-1"},
    {"bad_vp8_only.sdp", CG_EUNSUPP, "no acceptable codec: the video is not H.264"},
    {"bad_av1_opus.sdp", CG_EUNSUPP, "no acceptable codec: the video is not H.264"},
    {"bad_recvonly.sdp", CG_EUNSUPP, "nothing to publish"},
    {"bad_inactive.sdp", CG_EUNSUPP, "nothing to publish"},
    {"bad_two_video.sdp", CG_EUNSUPP, "the offer sends 2 video and 1 audio m= sections"},
    {"bad_long_line.sdp", CG_EPROTO, "line 13: longer than 4096 bytes"},
    {"bad_not_sdp.sdp", CG_EPROTO, "line 1: expected <letter>=<value>"},
};

/* A WHEP viewer's offer: a publisher's offer turned around (recvonly). */
static cg_sdp *viewer_offer(const char *fixture)
{
    char path[256];
    size_t len = 0;
    snprintf(path, sizeof(path), FIX "%s", fixture);
    char *text = cg_test_read_file(path, &len);
    CHECK(text != NULL);
    if (!text)
        return NULL;
    for (char *p = strstr(text, "a=sendonly"); p; p = strstr(p, "a=sendonly"))
        memcpy(p, "a=recvonly", 10);
    char why[256];
    cg_sdp *s = NULL;
    CHECK_INT(cg_sdp_parse(&s, text, len, why, sizeof(why)), 0);
    free(text);
    return s;
}

static void test_negotiate_play(void)
{
    char why[512];
    cg_sdp_choice *ch = calloc(1, sizeof(*ch));
    cg_sdp *offer = viewer_offer("chromium_offer.sdp");
    if (!offer || !ch) {
        free(ch);
        cg_sdp_free(offer);
        return;
    }
    /* The offer's H.264 with packetization-mode 1 and the publisher's
     * profile is the one taken, whatever comes first (VP8 does). */
    CHECK_INT(cg_sdp_negotiate_play(offer, true, true, 0x42e01f, ch, why, sizeof(why)), 0);
    CHECK_STR(why, "");
    CHECK(ch->video >= 0 && ch->audio >= 0);
    if (ch->video >= 0 && ch->audio >= 0) {
        const cg_sdp_track *v = &ch->media[ch->video], *a = &ch->media[ch->audio];
        const cg_sdp_codec *k = cg_sdp_media_codec(cg_sdp_media_at(offer, (size_t)ch->video),
                                                   (unsigned)v->pt);
        CHECK(k != NULL);
        if (k) {
            CHECK_STR(k->name, "H264");
            CHECK(strstr(k->fmtp, "packetization-mode=1") != NULL);
            CHECK(strstr(k->fmtp, "profile-level-id=42e01f") != NULL);
        }
        /* Chromium offers RTX for every H.264: the chosen one's is kept. */
        const cg_sdp_codec *rtx =
            v->rtx_pt >= 0 ? cg_sdp_media_codec(cg_sdp_media_at(offer, (size_t)ch->video),
                                                (unsigned)v->rtx_pt)
                           : NULL;
        CHECK(rtx != NULL);
        char apt[32];
        snprintf(apt, sizeof(apt), "apt=%d", v->pt);
        if (rtx) {
            CHECK_STR(rtx->name, "rtx");
            CHECK_STR(rtx->fmtp, apt);
        }
        CHECK_INT(a->pt, 111);
        CHECK_INT(a->rtx_pt, -1);
        ch->media[ch->video].send_ssrc = 0x11223344;
        ch->media[ch->video].send_rtx_ssrc = 0x99aabbcc;
        ch->media[ch->audio].send_ssrc = 0x55667788;
        cg_sdp_local l = whip_local();
        l.dir = CG_SDP_SENDONLY;
        cg_dbuf d;
        cg_dbuf_init(&d, 64 * 1024);
        CHECK_INT(cg_sdp_build_answer(offer, ch, &l, &d), 0);
        const char *ans = cg_dbuf_str(&d);
        CHECK_INT(count_str(ans, "a=sendonly"), 2);
        CHECK(strstr(ans, "a=ssrc:287454020 ") != NULL); /* 0x11223344 */
        CHECK(strstr(ans, "a=ssrc:1432778632 ") != NULL); /* 0x55667788 */
        CHECK(strstr(ans, "stereo=1;sprop-stereo=1") != NULL);
        CHECK(strstr(ans, "profile-level-id=42e01f") != NULL);
        CHECK(!strstr(ans, "VP8"));
        /* RTX: rtpmap, apt fmtp and the FID group of our two SSRCs. */
        char line[96];
        snprintf(line, sizeof(line), "a=rtpmap:%d rtx/90000", v->rtx_pt);
        CHECK(has_line(ans, line));
        snprintf(line, sizeof(line), "a=fmtp:%d %s", v->rtx_pt, apt);
        CHECK(has_line(ans, line));
        CHECK(has_line(ans, "a=ssrc-group:FID 287454020 2578103244"));
        CHECK(strstr(ans, "a=ssrc:2578103244 cname:") != NULL);
        CHECK_INT(count_str(ans, "rtx/90000"), 1);
        /* The answer is itself valid SDP. */
        cg_sdp *back = NULL;
        CHECK_INT(cg_sdp_parse(&back, ans, strlen(ans), why, sizeof(why)), 0);
        cg_sdp_free(back);
        cg_dbuf_free(&d);
    }
    /* Audio-only publisher: the video section is rejected, audio taken. */
    CHECK_INT(cg_sdp_negotiate_play(offer, false, true, 0, ch, why, sizeof(why)), 0);
    CHECK_INT(ch->video, -1);
    CHECK(ch->audio >= 0);
    cg_sdp_free(offer);

    /* A publisher's offer (sendonly) receives nothing: refused, with why. */
    offer = parse_file("chromium_offer.sdp");
    if (offer) {
        CHECK_INT(cg_sdp_negotiate_play(offer, true, true, 0x42e01f, ch, why, sizeof(why)),
                  CG_EUNSUPP);
        CHECK(why[0] != '\0');
        cg_sdp_free(offer);
    }

    /* An FFmpeg-shaped offer (setup:passive) makes us the DTLS client; it
     * offers no RTX, so there is none in the answer. */
    offer = viewer_offer("ffmpeg_offer.sdp");
    if (offer) {
        CHECK_INT(cg_sdp_negotiate_play(offer, true, true, 0x42e01f, ch, why, sizeof(why)), 0);
        CHECK(ch->dtls_client);
        CHECK(ch->video >= 0);
        if (ch->video >= 0)
            CHECK_INT(ch->media[ch->video].rtx_pt, -1);
        cg_sdp_free(offer);
    }
    free(ch);
}

static void test_bad_fixtures(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        char path[256], why[512];
        size_t len = 0;
        snprintf(path, sizeof(path), FIX "%s", bad_cases[i].file);
        char *text = cg_test_read_file(path, &len);
        CHECK(text != NULL);
        if (!text)
            continue;
        cg_sdp *s = NULL;
        int rc = cg_sdp_parse(&s, text, len, why, sizeof(why));
        if (rc == 0) {
            cg_sdp_choice ch;
            rc = cg_sdp_negotiate_publish(s, &ch, why, sizeof(why));
            cg_sdp_free(s);
        } else {
            CHECK(s == NULL);
        }
        if (rc != bad_cases[i].rc || strncmp(why, bad_cases[i].why, strlen(bad_cases[i].why)))
            fprintf(stderr, "%s: rc %d why \"%s\"\n", bad_cases[i].file, rc, why);
        CHECK_INT(rc, bad_cases[i].rc);
        CHECK(strncmp(why, bad_cases[i].why, strlen(bad_cases[i].why)) == 0);
        free(text);
    }
}

#define HEAD                                                                                       \
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\n"                        \
    "a=ice-pwd:abcdefghijklmnopqrstuv\r\na=fingerprint:sha-256 " LOCAL_FP "\r\n"

static void test_h264_preference(void)
{
    /* pm=0 first, then Main pm=1, then Constrained Baseline pm=1, then
     * an interleaved (pm=2) one that must never be taken. */
    const char *offer = HEAD
        "m=video 9 UDP/TLS/RTP/SAVPF 100 101 102 103 104\r\na=sendonly\r\na=mid:v\r\n"
        "a=rtpmap:100 H264/90000\r\n"
        "a=rtpmap:101 H264/90000\r\na=fmtp:101 packetization-mode=1;profile-level-id=4d001f\r\n"
        "a=rtpmap:102 h264/90000\r\na=fmtp:102 profile-level-id=42E01F; packetization-mode=1\r\n"
        "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
        "a=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=2;profile-level-id=42e01f\r\n";
    int rc;
    char why[256];
    cg_sdp *s = parse_str(offer, why, sizeof(why), &rc);
    CHECK_INT(rc, 0);
    cg_sdp_choice ch;
    CHECK_INT(cg_sdp_negotiate_publish(s, &ch, why, sizeof(why)), 0);
    CHECK_INT(ch.media[0].pt, 102);
    CHECK_INT(ch.media[0].rtx_pt, 103);
    CHECK_INT(ch.media[0].h264_profile_level_id, 0x42e01f);
    CHECK_STR(ch.media[0].codec, "h264");
    CHECK(!ch.bundle); /* one track without a BUNDLE group is fine */
    cg_sdp_free(s);

    /* Only a bare H264 rtpmap (no fmtp): packetization-mode 0, Baseline. */
    s = parse_str(HEAD "m=video 9 UDP/TLS/RTP/SAVPF 98 99\r\na=sendonly\r\n"
                       "a=rtpmap:98 VP8/90000\r\na=rtpmap:99 H264/90000\r\n",
                  why, sizeof(why), &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(cg_sdp_negotiate_publish(s, &ch, why, sizeof(why)), 0);
    CHECK_INT(ch.media[0].pt, 99);
    CHECK_INT(ch.media[0].h264_packetization_mode, 0);
    CHECK_INT(ch.media[0].h264_profile_level_id, 0x42000a);
    CHECK_STR(ch.media[0].mid, "");
    cg_sdp_free(s);

    /* Opus must be 48000/2: a mono Opus is not the WebRTC Opus. */
    s = parse_str(HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 100 111\r\na=sendonly\r\n"
                       "a=rtpmap:100 opus/48000\r\na=rtpmap:111 opus/48000/2\r\n",
                  why, sizeof(why), &rc);
    CHECK_INT(cg_sdp_negotiate_publish(s, &ch, why, sizeof(why)), 0);
    CHECK_INT(ch.media[0].pt, 111);
    cg_sdp_free(s);
}

static void test_rejected_mlines(void)
{
    /* OBS's offer plus a data channel and a recvonly video: both are
     * answered with port 0 in place, and left out of the BUNDLE. */
    size_t len;
    char *obs = cg_test_read_file(FIX "obs_offer.sdp", &len);
    if (!obs) {
        CHECK(obs != NULL);
        return;
    }
    cg_dbuf d;
    cg_dbuf_init(&d, 64 * 1024);
    cg_dbuf_adds(&d, obs);
    cg_dbuf_adds(&d, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
                     "a=mid:2\r\na=sctp-port:5000\r\n"
                     "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=recvonly\r\n"
                     "a=rtpmap:96 H264/90000\r\n");
    int rc;
    char why[256];
    cg_sdp *s = parse_str(cg_dbuf_str(&d), why, sizeof(why), &rc);
    CHECK_INT(rc, 0);
    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, NULL);
    CHECK_INT(ch.n_media, 4);
    CHECK(!ch.media[2].accepted);
    CHECK(!ch.media[3].accepted);
    CHECK_INT(ch.media[2].pt, -1);
    if (ans) {
        CHECK(has_line(ans, "m=application 0 UDP/DTLS/SCTP webrtc-datachannel"));
        CHECK(has_line(
            ans, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\na=inactive"));
        CHECK(has_line(ans, "a=group:BUNDLE 0 1"));
    }
    free(ans);
    cg_sdp_free(s);
    cg_dbuf_free(&d);
    free(obs);
}

static void test_bundle_tag(void)
{
    /* The BUNDLE group names video first although audio comes first in
     * the m= order: video's m= line is the tag, its transport is used and
     * the answer's group starts with it. */
    size_t len;
    char *obs = cg_test_read_file(FIX "obs_offer.sdp", &len);
    if (!obs) {
        CHECK(obs != NULL);
        return;
    }
    char *g = strstr(obs, "a=group:BUNDLE 0 1");
    CHECK(g != NULL);
    if (g)
        memcpy(g, "a=group:BUNDLE 1 0", 18);
    cg_sdp *s = NULL;
    CHECK_INT(cg_sdp_parse(&s, obs, len, NULL, 0), 0);
    cg_sdp_choice ch;
    char *ans = answer_for(s, &ch, NULL);
    CHECK_INT(ch.bundle_tag, 1);
    if (ans)
        CHECK(has_line(ans, "a=group:BUNDLE 1 0"));
    cg_dbuf d;
    cg_dbuf_init(&d, 4096);
    CHECK_INT(cg_sdpfrag_build_restart_answer(&ch, "nEwU", "newPassword0123456789ab", local_addrs,
                                              1, 8189, &d),
              0);
    CHECK(strstr(cg_dbuf_str(&d), "a=group:BUNDLE 1 0\r\nm=video 9 RTP/AVP 0\r\na=mid:1\r\n"));
    cg_dbuf_free(&d);
    free(ans);
    cg_sdp_free(s);
    free(obs);
}

static void test_dtls_roles(void)
{
    static const struct {
        const char *setup;
        int rc;
        bool client;
    } cases[] = {
        {"", 0, false},
        {"a=setup:actpass\r\n", 0, false},
        {"a=setup:active\r\n", 0, false},
        {"a=setup:passive\r\n", 0, true},
        {"a=setup:holdconn\r\n", CG_EUNSUPP, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024], why[256];
        int rc;
        snprintf(text, sizeof(text),
                 HEAD "%sm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n"
                      "a=rtpmap:111 opus/48000/2\r\n",
                 cases[i].setup);
        cg_sdp *s = parse_str(text, why, sizeof(why), &rc);
        CHECK_INT(rc, 0);
        cg_sdp_choice ch;
        CHECK_INT(cg_sdp_negotiate_publish(s, &ch, why, sizeof(why)), cases[i].rc);
        if (cases[i].rc == 0) {
            CHECK_INT(ch.dtls_client, cases[i].client);
            CHECK_INT(ch.local_setup, cases[i].client ? CG_SDP_SETUP_ACTIVE : CG_SDP_SETUP_PASSIVE);
        } else {
            CHECK(why[0] != '\0');
        }
        cg_sdp_free(s);
    }
}

static void test_syntax_errors(void)
{
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"", "the SDP text is empty"},
        {"o=- 1 1 IN IP4 0.0.0.0\r\n", "line 1: an SDP description starts with v=0"},
        {"v=0\r\ns=-\r\nt=0 0\r\n", "the SDP has no o= line"},
        {"v=0\r\no=- 1 1 IN IP4\r\n", "line 2: o= line needs 6 fields"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96 300\r\n", "line 8: RTP payload types"},
        {HEAD "a=setup:maybe\r\n", "line 8: a=setup must be"},
        {HEAD "a=ice-ufrag:x y\r\n", "line 8: second a=ice-ufrag"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:bad*chars\r\n",
         "line 9: a=ice-ufrag must be"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:a\r\na=mid:b\r\n", "line 10: second a=mid"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264\r\n", "line 9: a=rtpmap needs"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:0 urn:x\r\n", "line 9: a=extmap id"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 5 1.2.3.4 99999 typ host\r\n",
         "line 9: a=candidate port must be"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 5 1.2.3.4 9 host\r\n",
         "line 9: a=candidate expected \"typ\""},
        {HEAD "a=candidate:1 1 udp 5 1.2.3.4 9 typ host\r\n", "line 8: a=candidate belongs"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc-group:FID 1\r\n",
         "line 9: a=ssrc-group:FID"},
        {HEAD "a=fingerprint:sha-256 zz:11\r\n", "line 8: a=fingerprint value"},
        {"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=\x01\r\n", "line 3: contains the control byte 0x01"},
        {HEAD "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0123456789abcdef0123456789abcdefX\r\n",
         "line 9: a=mid must be a token of 1 to 32"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char why[256];
        int rc;
        cg_sdp *s = parse_str(cases[i].text, why, sizeof(why), &rc);
        if (rc != CG_EPROTO || strncmp(why, cases[i].why, strlen(cases[i].why)))
            fprintf(stderr, "case %zu: rc %d why \"%s\"\n", i, rc, why);
        CHECK_INT(rc, CG_EPROTO);
        CHECK(s == NULL);
        CHECK(strncmp(why, cases[i].why, strlen(cases[i].why)) == 0);
        cg_sdp_free(s);
    }
    /* A why buffer too small is truncated, never overrun. */
    char tiny[8];
    int rc;
    parse_str("garbage", tiny, sizeof(tiny), &rc);
    CHECK_INT(rc, CG_EPROTO);
    CHECK_STR(tiny, "line 1:");
    CHECK_INT(cg_sdp_parse(NULL, "v=0", 3, NULL, 0), CG_EINVAL);
}

static void test_bounds(void)
{
    cg_dbuf d;
    char why[256];
    int rc;

    /* 16 m= sections are fine, the 17th is refused. */
    cg_dbuf_init(&d, 1 << 20);
    cg_dbuf_adds(&d, HEAD);
    for (int i = 0; i < CG_SDP_MAX_MEDIA + 1; i++)
        cg_dbuf_printf(&d, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:%d\r\n", i);
    cg_sdp *s = parse_str(cg_dbuf_str(&d), why, sizeof(why), &rc);
    CHECK_INT(rc, CG_EPROTO);
    CHECK(strstr(why, "more than 16 m= lines") != NULL);
    cg_dbuf_free(&d);

    /* 64 payload types pass, 65 do not. */
    for (int n = CG_SDP_MAX_PT; n <= CG_SDP_MAX_PT + 1; n++) {
        cg_dbuf_init(&d, 1 << 20);
        cg_dbuf_adds(&d, HEAD "m=video 9 UDP/TLS/RTP/SAVPF");
        for (int i = 0; i < n; i++)
            cg_dbuf_printf(&d, " %d", i + 30);
        cg_dbuf_adds(&d, "\r\n");
        s = parse_str(cg_dbuf_str(&d), why, sizeof(why), &rc);
        CHECK_INT(rc, n == CG_SDP_MAX_PT ? 0 : CG_EPROTO);
        if (s)
            CHECK_INT(cg_sdp_media_at(s, 0)->n_codecs, CG_SDP_MAX_PT);
        cg_sdp_free(s);
        cg_dbuf_free(&d);
    }

    /* 32 candidates pass, 33 do not. */
    for (int n = CG_SDP_MAX_CAND; n <= CG_SDP_MAX_CAND + 1; n++) {
        cg_dbuf_init(&d, 1 << 20);
        cg_dbuf_adds(&d, HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
        for (int i = 0; i < n; i++)
            cg_dbuf_printf(&d, "a=candidate:%d 1 udp %d 10.0.0.%d 5000 typ host\r\n", i, 100 + i,
                           i);
        s = parse_str(cg_dbuf_str(&d), why, sizeof(why), &rc);
        CHECK_INT(rc, n == CG_SDP_MAX_CAND ? 0 : CG_EPROTO);
        if (rc)
            CHECK(strstr(why, "line 41: more than 32 a=candidate lines") != NULL);
        cg_sdp_free(s);
        cg_dbuf_free(&d);
    }

    /* Longer than 64 KiB in total. */
    size_t big = CG_SDP_MAX_TEXT + 1;
    char *text = malloc(big);
    memset(text, 'a', big);
    CHECK_INT(cg_sdp_parse(&s, text, big, why, sizeof(why)), CG_EPROTO);
    CHECK(strstr(why, "at most 65536") != NULL);
    free(text);
}

static void test_fmtp_and_candidates(void)
{
    const char *v;
    size_t n;
    const char *f = "minptime=10; useinbandfec=1;Sprop-Parameter-Sets=Z0I=,aM4=";
    CHECK_INT(cg_sdp_fmtp_param(f, "useinbandfec", &v, &n), 0);
    CHECK(n == 1 && v[0] == '1');
    CHECK_INT(cg_sdp_fmtp_param(f, "sprop-parameter-sets", &v, &n), 0);
    CHECK(n == 9 && memcmp(v, "Z0I=,aM4=", 9) == 0); /* "=" inside the value stays */
    CHECK_INT(cg_sdp_fmtp_param(f, "stereo", &v, &n), CG_ENOTFOUND);
    CHECK_INT(cg_sdp_fmtp_param("", "apt", &v, &n), CG_ENOTFOUND);

    cg_sdp_candidate c;
    const char *err;
    const char *js = "candidate:827476969 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active "
                     "generation 0 network-id 1 network-cost 50";
    CHECK_INT(cg_sdp_candidate_parse(js, strlen(js), &c, &err), 0);
    CHECK_STR(c.foundation, "827476969");
    CHECK_INT(c.priority, 1518280447u);
    CHECK_STR(c.tcptype, "active");
    const char *mdns =
        "1 1 udp 2122260223 6f1b2c3d-4e5f-4a1b-8c9d-0e1f2a3b4c5d.local 54321 typ host";
    CHECK_INT(cg_sdp_candidate_parse(mdns, strlen(mdns), &c, &err), 0);
    CHECK_STR(c.address, "6f1b2c3d-4e5f-4a1b-8c9d-0e1f2a3b4c5d.local");
    CHECK_INT(c.port, 54321);
    const char *bad = "1 1 udp 0 1.2.3.4 9 typ host";
    CHECK_INT(cg_sdp_candidate_parse(bad, strlen(bad), &c, &err), CG_EPROTO);
    CHECK_STR(err, "priority must be a number from 1 to 4294967295");
    CHECK_INT(cg_sdp_candidate_parse(bad, 5, &c, &err), CG_EPROTO); /* cut short */

    cg_dbuf d;
    cg_dbuf_init(&d, 4096);
    const char *const one[] = {"192.0.2.7"};
    CHECK_INT(cg_sdp_write_host_candidates(&d, one, 1, 8189), 0);
    CHECK_STR(cg_dbuf_str(&d),
              "a=candidate:1 1 udp 2130706431 192.0.2.7 8189 typ host\r\na=end-of-candidates\r\n");
    const char *const name[] = {"example.com"};
    CHECK_INT(cg_sdp_write_host_candidates(&d, name, 1, 8189), CG_EINVAL);
    CHECK_INT(cg_sdp_write_host_candidates(&d, one, 1, 0), CG_EINVAL);
    cg_dbuf_free(&d);
}

static void test_answer_args(void)
{
    cg_sdp *s = parse_file("obs_offer.sdp");
    if (!s)
        return;
    cg_sdp_choice ch;
    CHECK_INT(cg_sdp_negotiate_publish(s, &ch, NULL, 0), 0);
    cg_dbuf d;
    cg_dbuf_init(&d, 64 * 1024);
    cg_sdp_local l = whip_local();
    l.ice_ufrag = "ab\r\nc";
    CHECK_INT(cg_sdp_build_answer(s, &ch, &l, &d), CG_EINVAL);
    l = whip_local();
    l.n_addrs = 0;
    CHECK_INT(cg_sdp_build_answer(s, &ch, &l, &d), CG_EINVAL);
    l = whip_local();
    const char *const host[] = {"localhost"};
    l.addrs = host;
    l.n_addrs = 1;
    CHECK_INT(cg_sdp_build_answer(s, &ch, &l, &d), CG_EINVAL);
    CHECK_INT(d.len, 0); /* refused before writing */
    /* A choice from another offer does not fit this one. */
    cg_sdp_choice other = ch;
    other.n_media = 3;
    l = whip_local();
    CHECK_INT(cg_sdp_build_answer(s, &other, &l, &d), CG_EINVAL);
    /* Output bound reached: the dbuf's error comes back. */
    cg_dbuf small;
    cg_dbuf_init(&small, 100);
    CHECK_INT(cg_sdp_build_answer(s, &ch, &l, &small), CG_ENOSPC);
    cg_dbuf_free(&small);

    /* WHEP shape: the same builder answers sendonly with our SSRCs. */
    ch.media[1].send_ssrc = 0x11223344;
    ch.media[1].send_rtx_ssrc = 0x55667788;
    ch.media[1].rtx_pt = 97;
    l.dir = CG_SDP_SENDONLY;
    l.addrs = (const char *const[]){"::1"};
    l.n_addrs = 1;
    CHECK_INT(cg_sdp_build_answer(s, &ch, &l, &d), 0);
    const char *t = cg_dbuf_str(&d);
    CHECK(strncmp(t, "v=0\r\no=- 1234567890123 2 IN IP6 ::1\r\n", 37) == 0);
    CHECK(has_line(t, "c=IN IP6 ::1"));
    CHECK_INT(count_str(t, "a=sendonly\r\n"), 2);
    CHECK(has_line(t, "a=ssrc-group:FID 287454020 1432778632"));
    CHECK(has_line(t, "a=ssrc:287454020 cname:clipgate"));
    cg_sdp *a = NULL;
    CHECK_INT(cg_sdp_parse(&a, t, d.len, NULL, 0), 0);
    if (a) {
        CHECK_INT(cg_sdp_media_at(a, 1)->n_fid, 1);
        CHECK_INT(cg_sdp_media_at(a, 1)->ssrc[0].ssrc, 0x11223344u);
    }
    cg_sdp_free(a);
    cg_dbuf_free(&d);
    cg_sdp_free(s);
}

static void test_sdpfrag(void)
{
    char why[256];
    size_t len;
    cg_sdpfrag *f = calloc(1, sizeof(*f));
    char *text = cg_test_read_file(FIX "chromium_trickle.sdpfrag", &len);
    CHECK(text != NULL);
    if (text) {
        CHECK_INT(cg_sdpfrag_parse(text, len, f, why, sizeof(why)), 0);
        CHECK_STR(f->ice_ufrag, "EQz3");
        CHECK_STR(f->ice_pwd, "8ZU9Fk0AFHqsxEzuQ2wEdMX5");
        CHECK_INT(f->n_cand, 4);
        CHECK_STR(f->cand[0].mid, "0");
        CHECK_STR(f->cand[3].mid, "1");
        CHECK_INT(f->cand[0].cand.port, 36449);
        CHECK_STR(f->cand[1].cand.tcptype, "active");
        CHECK(f->end_of_candidates);
        /* Same credentials as the offer: plain trickle, not a restart. */
        CHECK(!cg_sdpfrag_is_restart(f, "EQz3", "8ZU9Fk0AFHqsxEzuQ2wEdMX5"));
        CHECK(cg_sdpfrag_is_restart(f, "9gqa", "wH9gUnItDMi4VhdIYM1W/t9y"));
        free(text);
    }
    text = cg_test_read_file(FIX "rfc9725_trickle.sdpfrag", &len);
    CHECK(text != NULL);
    if (text) {
        CHECK_INT(cg_sdpfrag_parse(text, len, f, why, sizeof(why)), 0);
        CHECK_STR(f->ice_ufrag, "EsAw"); /* media-level credentials */
        CHECK_INT(f->n_cand, 4);
        CHECK_STR(f->cand[2].cand.address, "192.0.2.1");
        CHECK_INT(f->cand[3].cand.priority, 1518214911u);
        free(text);
    }
    text = cg_test_read_file(FIX "rfc9725_restart.sdpfrag", &len);
    CHECK(text != NULL);
    if (text) {
        CHECK_INT(cg_sdpfrag_parse(text, len, f, why, sizeof(why)), 0);
        CHECK(cg_sdpfrag_is_restart(f, "EsAw", "P2uYro0UCOQ4zxjKXaWCBui1"));
        CHECK_INT(f->n_cand, 2);
        free(text);
    }
    static const struct {
        const char *file;
        const char *why;
    } bad[] = {
        {"bad_frag_candidate.sdpfrag", "line 3: a=candidate port must be"},
        {"bad_frag_ufrag_only.sdpfrag", "the fragment has a=ice-ufrag without a=ice-pwd"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), FIX "%s", bad[i].file);
        text = cg_test_read_file(path, &len);
        CHECK(text != NULL);
        if (!text)
            continue;
        CHECK_INT(cg_sdpfrag_parse(text, len, f, why, sizeof(why)), CG_EPROTO);
        if (strncmp(why, bad[i].why, strlen(bad[i].why)))
            fprintf(stderr, "%s: \"%s\"\n", bad[i].file, why);
        CHECK(strncmp(why, bad[i].why, strlen(bad[i].why)) == 0);
        free(text);
    }
    const char *conflict = "a=ice-ufrag:abcd\r\nm=audio 9 RTP/AVP 0\r\na=ice-ufrag:efgh\r\n";
    CHECK_INT(cg_sdpfrag_parse(conflict, strlen(conflict), f, why, sizeof(why)), CG_EPROTO);
    CHECK_STR(why, "line 3: a second, different a=ice-ufrag in one fragment");

    /* Restart answer for the gst session: parses back as a fragment with
     * the new credentials and our candidates under the bundle tag's mid. */
    cg_sdp *s = parse_file("gst_offer.sdp");
    cg_sdp_choice ch;
    if (s) {
        CHECK_INT(cg_sdp_negotiate_publish(s, &ch, NULL, 0), 0);
        cg_dbuf d;
        cg_dbuf_init(&d, 8192);
        CHECK_INT(cg_sdpfrag_build_restart_answer(&ch, "nEwU", "newPassword0123456789ab",
                                                  local_addrs, 2, 8189, &d),
                  0);
        CHECK_STR(cg_dbuf_str(&d), "a=ice-lite\r\na=ice-ufrag:nEwU\r\n"
                                   "a=ice-pwd:newPassword0123456789ab\r\n"
                                   "a=group:BUNDLE video0 audio1\r\n"
                                   "m=video 9 RTP/AVP 0\r\na=mid:video0\r\n"
                                   "a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host\r\n"
                                   "a=candidate:2 1 udp 2130706175 ::1 8189 typ host\r\n"
                                   "a=end-of-candidates\r\n");
        CHECK_INT(cg_sdpfrag_parse(cg_dbuf_str(&d), d.len, f, why, sizeof(why)), 0);
        CHECK_STR(f->ice_ufrag, "nEwU");
        CHECK_INT(f->n_cand, 2);
        CHECK_STR(f->cand[1].mid, "video0");
        size_t before = d.len;
        CHECK_INT(cg_sdpfrag_build_restart_answer(&ch, "bad ufrag", "newPassword0123456789ab",
                                                  local_addrs, 2, 8189, &d),
                  CG_EINVAL);
        CHECK_INT(d.len, before);
        cg_dbuf_free(&d);
        cg_sdp_free(s);
    }
    free(f);
}

/* --answer: prints our WHIP answer to the offer on stdin (for the
 * tests/e2e/peers scripts' --answer-cmd). Exit 0, or 1 with the reason. */
static int answer_stdin(void)
{
    static char buf[CG_SDP_MAX_TEXT + 1];
    size_t len = fread(buf, 1, sizeof(buf), stdin);
    char why[512];
    cg_sdp *s = NULL;
    int rc = cg_sdp_parse(&s, buf, len, why, sizeof(why));
    cg_sdp_choice ch;
    if (rc == 0)
        rc = cg_sdp_negotiate_publish(s, &ch, why, sizeof(why));
    if (rc) {
        fprintf(stderr, "%s: %s\n", cg_strerror(rc), why);
        cg_sdp_free(s);
        return 1;
    }
    cg_sdp_local l = whip_local();
    l.n_addrs = 1;
    cg_dbuf d;
    cg_dbuf_init(&d, 64 * 1024);
    rc = cg_sdp_build_answer(s, &ch, &l, &d);
    if (rc == 0)
        fputs(cg_dbuf_str(&d), stdout);
    cg_dbuf_free(&d);
    cg_sdp_free(s);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--answer") == 0)
        return answer_stdin();
    RUN(test_aiortc);
    RUN(test_chromium);
    RUN(test_gstreamer);
    RUN(test_obs);
    RUN(test_ffmpeg);
    RUN(test_line_endings);
    RUN(test_bad_fixtures);
    RUN(test_h264_preference);
    RUN(test_rejected_mlines);
    RUN(test_bundle_tag);
    RUN(test_dtls_roles);
    RUN(test_syntax_errors);
    RUN(test_bounds);
    RUN(test_fmtp_and_candidates);
    RUN(test_answer_args);
    RUN(test_sdpfrag);
    RUN(test_negotiate_play);
    return TEST_RESULT();
}
