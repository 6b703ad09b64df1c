/* RFC 7983 first-byte demultiplexing, RFC 5761 RTP/RTCP split. */
#include "core/err.h"
#include "rtc/demux.h"
#include "cg_test.h"

static void test_first_bytes(void)
{
    static const struct {
        uint8_t b[2];
        size_t n;
        int want;
        const char *what;
    } cases[] = {
        {{0x00, 0x01}, 2, CG_PKT_STUN, "binding request"},
        {{0x01, 0x01}, 2, CG_PKT_STUN, "binding success"},
        {{0x01, 0x11}, 2, CG_PKT_STUN, "binding error"},
        {{0x03, 0xff}, 2, CG_PKT_STUN, "last STUN value"},
        {{0x00, 0x00}, 1, CG_PKT_STUN, "STUN needs one byte to classify"},
        {{0x04, 0x00}, 2, CG_PKT_UNKNOWN, "gap after STUN"},
        {{0x0f, 0x00}, 2, CG_PKT_UNKNOWN, "gap before ZRTP"},
        {{0x10, 0x00}, 2, CG_PKT_UNKNOWN, "ZRTP"},
        {{0x13, 0x00}, 2, CG_PKT_UNKNOWN, "ZRTP"},
        {{0x14, 0xfe}, 2, CG_PKT_DTLS, "DTLS change_cipher_spec"},
        {{0x15, 0xfe}, 2, CG_PKT_DTLS, "DTLS alert"},
        {{0x16, 0xfe}, 2, CG_PKT_DTLS, "DTLS handshake"},
        {{0x17, 0xfe}, 2, CG_PKT_DTLS, "DTLS application_data"},
        {{0x3f, 0x00}, 2, CG_PKT_DTLS, "last DTLS value"},
        {{0x40, 0x00}, 2, CG_PKT_UNKNOWN, "TURN channel"},
        {{0x4f, 0x00}, 2, CG_PKT_UNKNOWN, "TURN channel"},
        {{0x50, 0x00}, 2, CG_PKT_UNKNOWN, "unassigned"},
        {{0x7f, 0x00}, 2, CG_PKT_UNKNOWN, "unassigned"},
        {{0x80, 0x60}, 2, CG_PKT_RTP, "RTP PT 96"},
        {{0x80, 0xe0}, 2, CG_PKT_RTP, "RTP PT 96 with marker"},
        {{0x80, 0x6f}, 2, CG_PKT_RTP, "RTP PT 111 (Opus)"},
        {{0x90, 0x66}, 2, CG_PKT_RTP, "RTP with extension, PT 102"},
        {{0x80, 0x00}, 2, CG_PKT_RTP, "RTP PT 0"},
        {{0x80, 0x3f}, 2, CG_PKT_RTP, "RTP PT 63"},
        {{0x80, 0xbf}, 2, CG_PKT_RTP, "RTP PT 63 with marker"},
        {{0x80, 0xc8}, 2, CG_PKT_RTCP, "RTCP SR (200)"},
        {{0x81, 0xc9}, 2, CG_PKT_RTCP, "RTCP RR (201)"},
        {{0x81, 0xca}, 2, CG_PKT_RTCP, "RTCP SDES (202)"},
        {{0x81, 0xcd}, 2, CG_PKT_RTCP, "RTCP RTPFB NACK (205)"},
        {{0x81, 0xce}, 2, CG_PKT_RTCP, "RTCP PSFB PLI (206)"},
        {{0x80, 0xc0}, 2, CG_PKT_RTCP, "RTCP 192, first of the range"},
        {{0x80, 0xdf}, 2, CG_PKT_RTCP, "RTCP 223, last of the range"},
        {{0x80, 0x40}, 2, CG_PKT_RTCP, "PT 64 without marker: reserved for RTCP"},
        {{0x80, 0x5f}, 2, CG_PKT_RTCP, "PT 95 without marker: reserved for RTCP"},
        {{0x80, 0xf0}, 2, CG_PKT_RTP, "RTP PT 112 with marker (240)"},
        {{0xbf, 0x60}, 2, CG_PKT_RTP, "last RTP first byte"},
        {{0x80, 0x60}, 1, CG_PKT_UNKNOWN, "RTP needs two bytes"},
        {{0xc0, 0x60}, 2, CG_PKT_UNKNOWN, "version 3"},
        {{0xff, 0xff}, 2, CG_PKT_UNKNOWN, "0xff"},
        {{0x00, 0x00}, 0, CG_PKT_UNKNOWN, "empty datagram"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = cg_demux_classify(cases[i].b, cases[i].n);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu (%s): got %d want %d\n", i, cases[i].what, got,
                    cases[i].want);
        CHECK_INT(got, cases[i].want);
    }
    CHECK_INT(cg_demux_classify(NULL, 10), CG_PKT_UNKNOWN);
}

static void test_real_packets(void)
{
    /* Whole packets as they arrive: the aioice binding request fixture and
     * a DTLS 1.2 ClientHello record header. */
    size_t n = 0;
    char *stun = cg_test_read_file("tests/fixtures/stun/aioice_check.bin", &n);
    CHECK(stun != NULL);
    if (stun)
        CHECK_INT(cg_demux_classify((const uint8_t *)stun, n), CG_PKT_STUN);
    free(stun);
    static const uint8_t hello[] = {0x16, 0xfe, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x7b, 0x01, 0x00, 0x00, 0x6f};
    CHECK_INT(cg_demux_classify(hello, sizeof(hello)), CG_PKT_DTLS);
}

int main(void)
{
    RUN(test_first_bytes);
    RUN(test_real_packets);
    return TEST_RESULT();
}
