/* Opus framing (RFC 6716 §3) and RTP depacketizing (RFC 7587): packets
 * built by hand for every frame count code and validity rule, then real
 * libopus packets read from Ogg files made by ffmpeg (see
 * tests/fixtures/opus/make.sh), whose durations libavformat reports
 * independently. */
#include <libavformat/avformat.h>

#include "cg_test.h"
#include "core/err.h"
#include "core/frame.h"
#include "ingest/opus_depack.h"

static uint32_t samples_of(const uint8_t *p, size_t n, int *rc)
{
    uint32_t s = 12345;
    *rc = cg_opus_packet_samples(p, n, &s);
    return s;
}

/* Table 2 of RFC 6716: each config's frame size, one packet per config. */
static void test_toc_configs(void)
{
    static const uint32_t want[32] = {
        480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, /* SILK */
        480, 960, 480, 960,                                               /* hybrid */
        120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,       /* CELT */
        120, 240, 480, 960,
    };
    for (int config = 0; config < 32; config++) {
        uint8_t p[4] = {(uint8_t)(config << 3), 1, 2, 3};
        int rc;
        CHECK_INT(samples_of(p, sizeof(p), &rc), want[config]);
        CHECK_INT(rc, 0);
        p[0] |= 0x04; /* the stereo bit does not change timing */
        CHECK_INT(samples_of(p, sizeof(p), &rc), want[config]);
    }
}

static void test_codes_0_1_2(void)
{
    uint8_t p[2600];
    int rc;
    cg_opus_packet_info in;
    memset(p, 0xaa, sizeof(p));

    /* Code 0: one frame, everything after the TOC (R2: at most 1275). */
    p[0] = 0xf8; /* config 31, CELT FB 20 ms, mono, code 0 */
    CHECK_INT(samples_of(p, 100, &rc), 960);
    CHECK_INT(samples_of(p, 1 + 1275, &rc), 960);
    CHECK_INT(samples_of(p, 1 + 1276, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    /* R1: an empty packet is invalid; a lone TOC is a valid DTX packet. */
    CHECK_INT(samples_of(p, 0, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    CHECK_INT(cg_opus_packet_parse(p, 1, &in), 0);
    CHECK_INT(in.samples, 960);
    CHECK_INT(in.all_empty, 1);

    /* Code 1: two frames of equal size, so N-1 must be even (R3). */
    p[0] = 0xf9;
    CHECK_INT(samples_of(p, 1 + 2 * 40, &rc), 1920);
    CHECK_INT(rc, 0);
    CHECK_INT(samples_of(p, 1 + 81, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    CHECK_INT(samples_of(p, 1 + 2 * 1276, &rc), 0); /* each over 1275 */

    /* Code 2: the first frame's length is coded (R4). */
    p[0] = 0xfa;
    p[1] = 3;
    CHECK_INT(samples_of(p, 2 + 3 + 7, &rc), 1920);
    CHECK_INT(rc, 0);
    CHECK_INT(samples_of(p, 2 + 3, &rc), 1920); /* second frame empty */
    CHECK_INT(samples_of(p, 2 + 2, &rc), 0);    /* first frame cut short */
    CHECK_INT(rc, CG_EPROTO);
    CHECK_INT(samples_of(p, 1, &rc), 0); /* no length byte */
    CHECK_INT(rc, CG_EPROTO);
    /* Two-byte length (§3.2.1): 253 + 4 * 1 = 257. */
    p[1] = 253;
    p[2] = 1;
    CHECK_INT(samples_of(p, 3 + 257, &rc), 1920);
    CHECK_INT(rc, 0);
    CHECK_INT(samples_of(p, 3 + 256, &rc), 0);
    CHECK_INT(samples_of(p, 2, &rc), 0); /* second length byte missing */
    CHECK_INT(rc, CG_EPROTO);
    /* Second frame over 1275 bytes. */
    p[1] = 0;
    CHECK_INT(samples_of(p, 2 + 1276, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
}

static void test_code_3(void)
{
    uint8_t p[1600];
    int rc;
    cg_opus_packet_info in;
    memset(p, 0x55, sizeof(p));

    /* CBR, M = 3, no padding: R = N - 2 must divide by M (R6). */
    p[0] = 0xfb;
    p[1] = 0x03;
    CHECK_INT(samples_of(p, 2 + 3 * 50, &rc), 2880);
    CHECK_INT(rc, 0);
    CHECK_INT(samples_of(p, 2 + 3 * 50 + 1, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    CHECK_INT(samples_of(p, 1, &rc), 0); /* R5: count byte missing */
    CHECK_INT(rc, CG_EPROTO);
    /* M = 0 is invalid; 120 ms is the most a packet may hold (R5). */
    p[1] = 0x00;
    CHECK_INT(samples_of(p, 10, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    p[1] = 6; /* 6 x 20 ms */
    CHECK_INT(samples_of(p, 2 + 6 * 10, &rc), 5760);
    p[1] = 7; /* 140 ms */
    CHECK_INT(samples_of(p, 2 + 7 * 10, &rc), 0);
    CHECK_INT(rc, CG_EPROTO);
    p[0] = (16 << 3) | 3; /* CELT NB 2.5 ms: 48 frames fill 120 ms */
    p[1] = 48;
    CHECK_INT(samples_of(p, 2 + 48, &rc), 5760);
    p[1] = 49;
    CHECK_INT(samples_of(p, 2 + 49, &rc), 0);

    /* CBR with padding: one length byte (5), then 2 frames of 4 bytes and
     * 5 bytes of padding. P counts the length byte too. */
    p[0] = 0xfb;
    p[1] = 0x42;
    p[2] = 5;
    CHECK_INT(cg_opus_packet_parse(p, 3 + 8 + 5, &in), 0);
    CHECK_INT(in.samples, 1920);
    CHECK_INT(in.frames, 2);
    CHECK_INT(in.padding, 6);
    CHECK_INT(cg_opus_packet_parse(p, 3 + 7 + 5, &in), CG_EPROTO); /* 7 not divisible by 2 */
    CHECK_INT(cg_opus_packet_parse(p, 3 + 4, &in), CG_EPROTO);     /* padding runs past the end */
    /* Padding value 255 means 254 bytes plus the next length byte. */
    p[1] = 0x41;
    p[2] = 255;
    p[3] = 10;
    CHECK_INT(cg_opus_packet_parse(p, 4 + 20 + 264, &in), 0);
    CHECK_INT(in.padding, 2 + 264);
    CHECK_INT(in.samples, 960);
    CHECK_INT(cg_opus_packet_parse(p, 3, &in), CG_EPROTO); /* second length byte missing */

    /* VBR, M = 3: two coded lengths (2 and 3), the last frame is the rest. */
    p[0] = 0xfb;
    p[1] = 0x83;
    p[2] = 2;
    p[3] = 3;
    CHECK_INT(cg_opus_packet_parse(p, 4 + 2 + 3 + 4, &in), 0);
    CHECK_INT(in.samples, 2880);
    CHECK_INT(in.code, 3);
    CHECK_INT(in.all_empty, 0);
    CHECK_INT(cg_opus_packet_parse(p, 4 + 4, &in), CG_EPROTO); /* lengths exceed the packet (R7) */
    CHECK_INT(cg_opus_packet_parse(p, 3, &in), CG_EPROTO);     /* second length missing */
    /* VBR with padding (R7 counts it): 1 padding byte after the lengths. */
    p[1] = 0xc3;
    p[2] = 1;
    p[3] = 2;
    p[4] = 3;
    CHECK_INT(cg_opus_packet_parse(p, 5 + 2 + 3 + 0 + 1, &in), 0);
    CHECK_INT(in.padding, 2);
    CHECK_INT(cg_opus_packet_parse(p, 5 + 4, &in), CG_EPROTO);
    /* VBR with all frames empty: DTX. */
    p[1] = 0x82;
    p[2] = 0;
    CHECK_INT(cg_opus_packet_parse(p, 3, &in), 0);
    CHECK_INT(in.all_empty, 1);
    CHECK_INT(in.samples, 1920);
}

typedef struct pkt {
    uint8_t *data;
    size_t len;
    int64_t duration;
} pkt;

/* Reads every packet of an Ogg Opus fixture with libavformat. */
static size_t read_ogg(const char *rel, pkt *out, size_t max)
{
    const char *root = getenv("CG_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    size_t n = 0;
    AVPacket *p = av_packet_alloc();
    while (p && av_read_frame(fmt, p) >= 0) {
        if (n < max) {
            out[n].data = malloc((size_t)p->size);
            memcpy(out[n].data, p->data, (size_t)p->size);
            out[n].len = (size_t)p->size;
            out[n].duration = p->duration;
            n++;
        }
        av_packet_unref(p);
    }
    av_packet_free(&p);
    avformat_close_input(&fmt);
    return n;
}

static void free_pkts(pkt *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].data);
}

/* ffmpeg's Ogg demuxer times each packet from its TOC with its own code:
 * both must agree on every packet of real libopus output but the last. */
static void check_file(const char *rel, size_t want_packets, uint32_t want_samples,
                       int want_code, int want_frames, int want_stereo)
{
    pkt pk[64];
    size_t n = read_ogg(rel, pk, 64);
    CHECK_INT(n, want_packets);
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        cg_opus_packet_info in;
        CHECK_INT(cg_opus_packet_parse(pk[i].data, pk[i].len, &in), 0);
        CHECK_INT(in.samples, want_samples);
        /* The last packet's duration is cut to the stream's end granule. */
        if (i + 1 < n)
            CHECK_INT(in.samples, pk[i].duration);
        else
            CHECK(pk[i].duration > 0 && pk[i].duration <= in.samples);
        CHECK_INT(in.stereo, want_stereo);
        if (in.code == want_code && in.frames == want_frames)
            matched++;
    }
    CHECK(matched > 0);
    free_pkts(pk, n);
}

static void test_real_packets(void)
{
    /* 1 s of 20 ms CELT (config 31, code 0): 51 packets incl. pre-skip. */
    check_file("tests/fixtures/opus/sine_20ms.ogg", 51, 960, 0, 1, 0);
    /* 60 ms stereo CELT: three 20 ms frames per packet, code 3 VBR. */
    check_file("tests/fixtures/opus/sine_60ms_stereo.ogg", 17, 2880, 3, 3, 1);
    /* 60 ms voip: SILK single 60 ms frames (code 0), and hybrid code 3. */
    check_file("tests/fixtures/opus/sine_60ms_voip.ogg", 17, 2880, 0, 1, 0);
    check_file("tests/fixtures/opus/sine_60ms_voip.ogg", 17, 2880, 3, 3, 0);
}

static void test_depack_stream(void)
{
    pkt pk[64];
    size_t n = read_ogg("tests/fixtures/opus/sine_20ms.ogg", pk, 64);
    CHECK_INT(n, 51);
    cg_opus_depack *d;
    CHECK_INT(cg_opus_depack_new(&d), 0);
    /* Start 10 packets before the 32-bit timestamp wraps. */
    uint32_t ts = 0xffffffffu - 960 * 10 + 1;
    int64_t want_pts = ts;
    for (size_t i = 0; i < n; i++) {
        cg_frame *f = NULL;
        CHECK_INT(cg_opus_depack_push(d, pk[i].data, pk[i].len, ts, &f), 0);
        CHECK(f != NULL);
        if (f) {
            CHECK_INT(f->pts, want_pts);
            CHECK_INT(f->dts, want_pts);
            CHECK_INT(f->duration, 960);
            CHECK_INT(f->timescale, 48000);
            CHECK_INT(f->kind, CG_MEDIA_AUDIO);
            CHECK_INT(f->codec, CG_CODEC_OPUS);
            CHECK_INT(f->flags, CG_FRAME_KEY);
            CHECK_INT(f->len, pk[i].len);
            CHECK(memcmp(f->data, pk[i].data, f->len) == 0);
        }
        cg_frame_unref(f);
        ts += 960;
        want_pts += 960;
    }
    CHECK(want_pts > (int64_t)0xffffffffu);

    /* Empty, DTX (lone TOC) and invalid packets give nothing. */
    cg_frame *f = (cg_frame *)&f;
    static const uint8_t dtx[] = {0xf8};
    static const uint8_t bad[] = {0xf9, 1, 2, 3}; /* code 1, odd length */
    CHECK_INT(cg_opus_depack_push(d, dtx, 0, ts, &f), 0);
    CHECK(f == NULL);
    CHECK_INT(cg_opus_depack_push(d, dtx, sizeof(dtx), ts, &f), 0);
    CHECK(f == NULL);
    CHECK_INT(cg_opus_depack_push(d, bad, sizeof(bad), ts + 960, &f), 0);
    CHECK(f == NULL);
    cg_opus_depack_stats st;
    cg_opus_depack_get_stats(d, &st);
    CHECK_INT(st.packets, n + 3);
    CHECK_INT(st.frames, n);
    CHECK_INT(st.empty, 2);
    CHECK_INT(st.invalid, 1);
    cg_opus_depack_free(d);
    cg_opus_depack_free(NULL);
    free_pkts(pk, n);
}

int main(void)
{
    RUN(test_toc_configs);
    RUN(test_codes_0_1_2);
    RUN(test_code_3);
    RUN(test_real_packets);
    RUN(test_depack_stream);
    return TEST_RESULT();
}
