/* Design: the transport owns the UDP socket and two lookup structures:
 *  - a list of peers, searched by local ufrag for STUN (checks are rare:
 *    a burst at connect, then one every few seconds per session);
 *  - a hash of authenticated remote addresses -> peer for DTLS and SRTP,
 *    which is every media packet.
 * A peer registers an address only after ICE authenticated a check from it
 * (cg_ice_handle reports CG_ICE_EV_NEW_ADDR), so unauthenticated traffic
 * never reaches DTLS or SRTP. Each peer has one timer armed at the earlier
 * of its DTLS retransmission deadline and its consent deadline. */
#include "rtc/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "rtc/demux.h"
#include "rtc/dtls.h"
#include "rtc/ice.h"
#include "rtc/srtp.h"
#include "rtc/stun.h"

#define ADDR_BUCKETS 1024
#define PEER_MAX_ADDRS 8
#define UDP_MAX 1500
#define RECV_BURST 64

typedef struct addr_entry {
    struct sockaddr_storage addr;
    cg_peer *peer;
    struct addr_entry *next;
} addr_entry;

struct cg_transport {
    cg_loop *loop;
    int fd;
    uint16_t port;
    const cg_cert *cert;
    cg_peer *peers;
    addr_entry *buckets[ADDR_BUCKETS];
    cg_transport_stats stats;
};

struct cg_peer {
    cg_transport *t;
    cg_peer *next;
    char id[64];
    cg_ice *ice;
    cg_dtls *dtls;
    cg_srtp *srtp;
    int dtls_role;
    int dtls_started;
    int connected;
    cg_timer timer;
    cg_peer_cbs cbs;
    void *owner;
    struct sockaddr_storage addrs[PEER_MAX_ADDRS];
    size_t n_addrs;
    cg_peer_stats stats;
};

/* --- addresses ------------------------------------------------------------- */

static int addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

static size_t addr_hash(const struct sockaddr_storage *a)
{
    uint32_t h = 2166136261u;
    const uint8_t *p;
    size_t n;
    uint16_t port;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a;
        p = (const uint8_t *)&x->sin_addr;
        n = sizeof(x->sin_addr);
        port = x->sin_port;
    } else {
        const struct sockaddr_in6 *x = (const void *)a;
        p = (const uint8_t *)&x->sin6_addr;
        n = sizeof(x->sin6_addr);
        port = x->sin6_port;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h = (h ^ (port & 0xff)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
    return h % ADDR_BUCKETS;
}

void cg_addr_format(const struct sockaddr_storage *a, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a;
        inet_ntop(AF_INET, &x->sin_addr, host, sizeof(host));
        port = ntohs(x->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a;
        inet_ntop(AF_INET6, &x->sin6_addr, host, sizeof(host));
        port = ntohs(x->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}

static cg_peer *peer_by_addr(cg_transport *t, const struct sockaddr_storage *a)
{
    for (addr_entry *e = t->buckets[addr_hash(a)]; e; e = e->next)
        if (addr_eq(&e->addr, a))
            return e->peer;
    return NULL;
}

static void addr_unregister(cg_transport *t, const struct sockaddr_storage *a, cg_peer *peer)
{
    for (addr_entry **pp = &t->buckets[addr_hash(a)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->peer == peer && addr_eq(&(*pp)->addr, a)) {
            addr_entry *e = *pp;
            *pp = e->next;
            free(e);
            return;
        }
    }
}

/* An address moves to the peer that most recently authenticated from it
 * (a NAT may reuse a port). Bounded per peer: the oldest is dropped. */
static void addr_register(cg_transport *t, cg_peer *peer, const struct sockaddr_storage *a)
{
    cg_peer *owner = peer_by_addr(t, a);
    if (owner == peer)
        return;
    if (owner) {
        addr_unregister(t, a, owner);
        for (size_t i = 0; i < owner->n_addrs; i++) {
            if (addr_eq(&owner->addrs[i], a)) {
                owner->addrs[i] = owner->addrs[--owner->n_addrs];
                break;
            }
        }
    }
    if (peer->n_addrs == PEER_MAX_ADDRS) {
        addr_unregister(t, &peer->addrs[0], peer);
        memmove(&peer->addrs[0], &peer->addrs[1], (PEER_MAX_ADDRS - 1) * sizeof(peer->addrs[0]));
        peer->n_addrs--;
    }
    addr_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return;
    e->addr = *a;
    e->peer = peer;
    size_t b = addr_hash(a);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    peer->addrs[peer->n_addrs++] = *a;
}

/* --- sending --------------------------------------------------------------- */

static int send_to(cg_peer *peer, const uint8_t *p, size_t n, const struct sockaddr_storage *to)
{
    socklen_t alen = to->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                               : sizeof(struct sockaddr_in);
    ssize_t r = sendto(peer->t->fd, p, n, 0, (const struct sockaddr *)to, alen);
    if (r < 0) {
        peer->stats.send_errors++;
        return CG_EIO;
    }
    peer->stats.bytes_out += n;
    return 0;
}

static int send_selected(cg_peer *peer, const uint8_t *p, size_t n)
{
    struct sockaddr_storage to;
    if (cg_ice_selected(peer->ice, &to) != 0)
        return CG_ESTATE;
    return send_to(peer, p, n, &to);
}

static void flush_dtls(cg_peer *peer)
{
    uint8_t buf[UDP_MAX];
    size_t len;
    while (cg_dtls_pull(peer->dtls, buf, sizeof(buf), &len) == 0) {
        peer->stats.dtls_out++;
        send_selected(peer, buf, len);
    }
}

/* --- timers and state ------------------------------------------------------ */

static void peer_timer_cb(cg_loop *loop, void *arg);

static void peer_rearm(cg_peer *peer)
{
    uint64_t at = cg_ice_consent_deadline(peer->ice);
    uint64_t d = cg_dtls_deadline(peer->dtls);
    if (d < at)
        at = d;
    cg_loop_timer_set(peer->t->loop, &peer->timer, at, peer_timer_cb, peer);
}

/* Last call on any path that ends the peer: the owner may free it. */
static void peer_close(cg_peer *peer, int reason)
{
    cg_loop_timer_cancel(peer->t->loop, &peer->timer);
    if (peer->cbs.on_closed)
        peer->cbs.on_closed(peer->owner, reason);
}

static int check_dtls(cg_peer *peer, uint64_t now)
{
    int st = cg_dtls_state(peer->dtls);
    if (st == CG_DTLS_FAILED || st == CG_DTLS_CLOSED) {
        cg_warn(peer->id, "DTLS failed: %s", cg_dtls_error(peer->dtls));
        return CG_EAUTH;
    }
    if (st == CG_DTLS_CONNECTED && !peer->connected) {
        cg_srtp_keys keys;
        int rc = cg_dtls_srtp_keys(peer->dtls, &keys);
        if (rc == 0)
            rc = cg_srtp_new(&peer->srtp, &keys);
        int profile = keys.profile;
        memset(&keys, 0, sizeof(keys));
        if (rc != 0) {
            cg_warn(peer->id, "SRTP setup failed: %s", cg_strerror(rc));
            return rc;
        }
        peer->connected = 1;
        peer->stats.connected_at_us = now;
        peer->stats.srtp_profile = profile;
        cg_info(peer->id, "DTLS connected (%s)",
                profile == CG_SRTP_AEAD_AES_128_GCM ? "AEAD_AES_128_GCM"
                                                         : "AES128_CM_SHA1_80");
        if (peer->cbs.on_connected)
            peer->cbs.on_connected(peer->owner, now);
    }
    return 0;
}

static void peer_timer_cb(cg_loop *loop, void *arg)
{
    cg_peer *peer = arg;
    uint64_t now = cg_now_us();
    if (now >= cg_ice_consent_deadline(peer->ice)) {
        cg_info(peer->id, "ICE consent expired");
        peer_close(peer, CG_PEER_CLOSED_CONSENT);
        return;
    }
    if (now >= cg_dtls_deadline(peer->dtls)) {
        cg_dtls_on_timeout(peer->dtls, now);
        flush_dtls(peer);
        if (check_dtls(peer, now) != 0) {
            peer_close(peer, CG_PEER_CLOSED_DTLS);
            return;
        }
    }
    peer_rearm(peer);
}

/* --- receiving ------------------------------------------------------------- */

static void handle_stun(cg_transport *t, uint8_t *p, size_t n, const struct sockaddr_storage *from,
                        uint64_t now)
{
    cg_stun_msg m;
    char ufrag[256];
    if (cg_stun_parse(&m, p, n) != 0 || cg_stun_username_local(&m, ufrag, sizeof(ufrag)) != 0) {
        t->stats.no_peer++;
        return;
    }
    cg_peer *peer = t->peers;
    while (peer && strcmp(cg_ice_local_ufrag(peer->ice), ufrag) != 0)
        peer = peer->next;
    if (!peer) {
        t->stats.no_peer++;
        return;
    }
    uint8_t out[UDP_MAX];
    size_t out_len = 0;
    unsigned ev = 0;
    peer->stats.stun_requests++;
    int rc = cg_ice_handle(peer->ice, p, n, from, now, out, sizeof(out), &out_len, &ev);
    if (rc == CG_EAUTH) {
        peer->stats.stun_bad_auth++;
        return;
    }
    if (rc == CG_EPROTO) {
        peer->stats.stun_malformed++;
        return;
    }
    if (out_len)
        send_to(peer, out, out_len, from);
    if (rc != 0)
        return;
    if (!peer->stats.first_check_at_us)
        peer->stats.first_check_at_us = now;
    if (ev & CG_ICE_EV_NEW_ADDR) {
        char a[64];
        cg_addr_format(from, a, sizeof(a));
        cg_debug(peer->id, "ICE check authenticated from %s", a);
        addr_register(t, peer, from);
    }
    if (peer->dtls_role == CG_DTLS_CLIENT && !peer->dtls_started) {
        peer->dtls_started = 1;
        cg_dtls_start(peer->dtls, now);
        flush_dtls(peer);
    }
    peer_rearm(peer);
}

static void handle_dtls(cg_peer *peer, uint8_t *p, size_t n, uint64_t now)
{
    peer->stats.dtls_in++;
    int rc = cg_dtls_feed(peer->dtls, p, n, now);
    flush_dtls(peer);
    /* check_dtls first: it logs why a failed handshake failed. */
    if (check_dtls(peer, now) != 0 || rc == CG_EAUTH || rc == CG_EPROTO) {
        peer_close(peer, CG_PEER_CLOSED_DTLS);
        return;
    }
    peer_rearm(peer);
}

static void handle_srtp(cg_peer *peer, uint8_t *p, size_t n, int cls, uint64_t now)
{
    if (!peer->srtp)
        return; /* media before DTLS finished: nothing can decrypt it */
    size_t len = n;
    int rc;
    if (cls == CG_PKT_RTCP) {
        rc = cg_srtp_unprotect_rtcp(peer->srtp, p, &len);
    } else {
        rc = cg_srtp_unprotect(peer->srtp, p, &len);
    }
    if (rc == CG_EAUTH) {
        peer->stats.srtp_auth_fail++;
        return;
    }
    if (rc != 0) {
        peer->stats.srtp_replay++;
        return;
    }
    /* Authenticated media proves the publisher is alive; the timer sees the
     * new deadline when it next fires. */
    cg_ice_consent_refresh(peer->ice, now);
    if (cls == CG_PKT_RTCP) {
        peer->stats.srtcp_in++;
        if (peer->cbs.on_rtcp)
            peer->cbs.on_rtcp(peer->owner, p, len, now);
    } else {
        peer->stats.srtp_in++;
        if (peer->cbs.on_rtp)
            peer->cbs.on_rtp(peer->owner, p, len, now);
    }
}

static void on_readable(cg_loop *loop, int fd, uint32_t events, void *arg)
{
    cg_transport *t = arg;
    /* Room for in-place work; SRTP unprotect only shrinks. */
    uint8_t buf[UDP_MAX + 64];
    for (int i = 0; i < RECV_BURST; i++) {
        struct sockaddr_storage from;
        socklen_t alen = sizeof(from);
        ssize_t r = recvfrom(fd, buf, UDP_MAX, 0, (struct sockaddr *)&from, &alen);
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                t->stats.recv_errors++;
            return;
        }
        uint64_t now = cg_now_us();
        size_t n = (size_t)r;
        t->stats.datagrams++;
        int cls = cg_demux_classify(buf, n);
        if (cls == CG_PKT_STUN) {
            handle_stun(t, buf, n, &from, now);
            continue;
        }
        if (cls == CG_PKT_UNKNOWN) {
            t->stats.unknown_class++;
            continue;
        }
        cg_peer *peer = peer_by_addr(t, &from);
        if (!peer) {
            t->stats.unauthenticated_addr++;
            continue;
        }
        peer->stats.bytes_in += n;
        if (cls == CG_PKT_DTLS)
            handle_dtls(peer, buf, n, now);
        else
            handle_srtp(peer, buf, n, cls, now);
    }
}

/* --- public ---------------------------------------------------------------- */

int cg_transport_new(cg_transport **out, cg_loop *loop, const char *bind_addr, uint16_t port,
                     const cg_cert *cert)
{
    cg_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return CG_ENOMEM;
    t->loop = loop;
    t->cert = cert;
    t->fd = -1;
    int err = CG_EIO;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, bind_addr && *bind_addr ? bind_addr : "0.0.0.0", &sa.sin_addr) != 1) {
        err = CG_EINVAL;
        goto fail;
    }
    t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0)
        goto fail;
    int bufsz = 4 << 20;
    setsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
    setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
    if (bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        goto fail;
    socklen_t slen = sizeof(sa);
    getsockname(t->fd, (struct sockaddr *)&sa, &slen);
    t->port = ntohs(sa.sin_port);
    err = cg_loop_add_fd(loop, t->fd, EPOLLIN, on_readable, t);
    if (err)
        goto fail;
    *out = t;
    return 0;
fail:
    {
        int saved = errno;
        cg_transport_free(t);
        errno = saved;
    }
    return err;
}

void cg_transport_free(cg_transport *t)
{
    if (!t)
        return;
    if (t->fd >= 0) {
        cg_loop_del_fd(t->loop, t->fd);
        close(t->fd);
    }
    for (size_t b = 0; b < ADDR_BUCKETS; b++) {
        while (t->buckets[b]) {
            addr_entry *e = t->buckets[b];
            t->buckets[b] = e->next;
            free(e);
        }
    }
    free(t);
}

const cg_cert *cg_transport_cert(const cg_transport *t) { return t->cert; }
uint16_t cg_transport_port(const cg_transport *t) { return t->port; }
void cg_transport_get_stats(const cg_transport *t, cg_transport_stats *st) { *st = t->stats; }

int cg_peer_new(cg_peer **out, cg_transport *t, const cg_peer_params *p, const cg_peer_cbs *cbs,
                void *owner)
{
    for (cg_peer *q = t->peers; q; q = q->next)
        if (strcmp(cg_ice_local_ufrag(q->ice), p->local_ufrag) == 0)
            return CG_EEXIST;
    cg_peer *peer = calloc(1, sizeof(*peer));
    if (!peer)
        return CG_ENOMEM;
    peer->t = t;
    snprintf(peer->id, sizeof(peer->id), "%s", p->id ? p->id : "peer");
    peer->dtls_role = p->dtls_role;
    peer->cbs = *cbs;
    peer->owner = owner;
    uint64_t now = cg_now_us();
    int rc = cg_ice_new(&peer->ice, p->local_ufrag, p->local_pwd, p->remote_ufrag, p->remote_pwd,
                        p->consent_timeout_us, now);
    if (rc == 0)
        rc = cg_dtls_new(&peer->dtls, t->cert, p->dtls_role, p->remote_fp_alg, p->remote_fp);
    if (rc != 0) {
        cg_ice_free(peer->ice);
        cg_dtls_free(peer->dtls);
        free(peer);
        return rc;
    }
    peer->next = t->peers;
    t->peers = peer;
    peer_rearm(peer);
    *out = peer;
    return 0;
}

void cg_peer_free(cg_peer *peer)
{
    if (!peer)
        return;
    cg_transport *t = peer->t;
    cg_loop_timer_cancel(t->loop, &peer->timer);
    for (size_t i = 0; i < peer->n_addrs; i++)
        addr_unregister(t, &peer->addrs[i], peer);
    for (cg_peer **pp = &t->peers; *pp; pp = &(*pp)->next) {
        if (*pp == peer) {
            *pp = peer->next;
            break;
        }
    }
    cg_srtp_free(peer->srtp);
    cg_dtls_free(peer->dtls);
    cg_ice_free(peer->ice);
    free(peer);
}

int cg_peer_send_rtp(cg_peer *peer, uint8_t *pkt, size_t len, size_t cap)
{
    if (!peer->connected)
        return CG_ESTATE;
    int rc = cg_srtp_protect(peer->srtp, pkt, &len, cap);
    if (rc)
        return rc;
    peer->stats.rtp_out++;
    return send_selected(peer, pkt, len);
}

int cg_peer_send_rtcp(cg_peer *peer, uint8_t *pkt, size_t len, size_t cap)
{
    if (!peer->connected)
        return CG_ESTATE;
    int rc = cg_srtp_protect_rtcp(peer->srtp, pkt, &len, cap);
    if (rc)
        return rc;
    peer->stats.rtcp_out++;
    return send_selected(peer, pkt, len);
}

int cg_peer_connected(const cg_peer *peer) { return peer->connected; }

int cg_peer_remote_addr(const cg_peer *peer, struct sockaddr_storage *addr)
{
    return cg_ice_selected(peer->ice, addr);
}

void cg_peer_get_stats(const cg_peer *peer, cg_peer_stats *st) { *st = peer->stats; }

int cg_peer_ice_restart(cg_peer *peer, const char *local_ufrag, const char *local_pwd,
                        const char *remote_ufrag, const char *remote_pwd)
{
    for (cg_peer *q = peer->t->peers; q; q = q->next)
        if (q != peer && strcmp(cg_ice_local_ufrag(q->ice), local_ufrag) == 0)
            return CG_EEXIST;
    return cg_ice_restart(peer->ice, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
}
