/* Fuzz target for the DTLS driver: its record screening and, through it,
 * OpenSSL's DTLS 1.2 handshake as cg_dtls configures it.
 *
 * Input: one flags byte, then datagrams as
 *   length:u16 datagram[length]   (length cut to what is left)
 * flags bit 0: the driver is a DTLS client (started before the first
 * datagram, so the input plays the server) instead of a server; bit 1: fire
 * the retransmission timer after every datagram.
 * Seeds in fuzz/corpus/dtls/: a ClientHello and a client's second flight
 * captured from an in-memory handshake, a server's first flight (client
 * role), truncations and garbage around them.
 *
 * Invariants (abort otherwise): every datagram produced fits the default
 * MTU; feed returns only the documented codes and fails into FAILED; the
 * session never reaches CONNECTED, since no input can prove possession of
 * a key whose certificate matches the fingerprint it was given. */
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "rtc/cert.h"
#include "rtc/dtls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One certificate per process: generating a key and a context per input
 * would dominate the run time. Never freed (still reachable at exit). */
static cg_cert *shared_cert(void)
{
    static cg_cert *c;
    if (!c && cg_cert_new(&c) != 0)
        c = NULL;
    return c;
}

static void drain(cg_dtls *d)
{
    uint8_t out[2048];
    size_t n;
    int rc;
    while ((rc = cg_dtls_pull(d, out, sizeof(out), &n)) == 0)
        if (n == 0 || n > CG_DTLS_DEFAULT_MTU)
            abort();
    if (rc != CG_EAGAIN)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cg_cert *cert = shared_cert();
    if (!cert)
        return 0;
    uint8_t flags = data[0];
    int role = (flags & 1) ? CG_DTLS_CLIENT : CG_DTLS_SERVER;
    /* The peer is expected to hold our own certificate: input cannot. */
    cg_dtls *d;
    if (cg_dtls_new(&d, cert, role, "sha-256", cg_cert_fingerprint(cert)) != 0)
        return 0;
    uint64_t now = 1000000;
    if (cg_dtls_start(d, now) != 0)
        abort();
    drain(d);
    size_t pos = 1;
    while (pos + 2 <= size) {
        size_t len = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        int was_failed = cg_dtls_state(d) >= CG_DTLS_FAILED;
        int rc = cg_dtls_feed(d, data + pos, len, now);
        pos += len;
        now += 1000;
        int st = cg_dtls_state(d);
        if (was_failed && rc != CG_ESTATE)
            abort();
        if (rc != 0 && rc != CG_EAUTH && rc != CG_EPROTO && rc != CG_ESTATE)
            abort();
        if ((rc == CG_EAUTH || rc == CG_EPROTO) && st != CG_DTLS_FAILED)
            abort();
        if (st == CG_DTLS_CONNECTED)
            abort();
        if (flags & 2) {
            rc = cg_dtls_on_timeout(d,
                                    cg_dtls_deadline(d) == UINT64_MAX ? now : cg_dtls_deadline(d));
            if (rc != 0 && rc != CG_ETIMEDOUT)
                abort();
        }
        drain(d);
    }
    cg_srtp_keys k;
    if (cg_dtls_srtp_keys(d, &k) != CG_ESTATE)
        abort();
    cg_dtls_free(d);
    return 0;
}
