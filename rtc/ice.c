#include "ice.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "core/random.h"
#include "rtc/stun.h"

struct ice_addr {
    struct sockaddr_storage addr;
    uint64_t seq; /* order of the last valid check: highest is the latest */
};

struct cg_ice {
    char local_ufrag[CG_ICE_CRED_MAX + 1];
    char local_pwd[CG_ICE_CRED_MAX + 1];
    char remote_ufrag[CG_ICE_CRED_MAX + 1];
    char remote_pwd[CG_ICE_CRED_MAX + 1];
    int has_remote_ufrag;
    uint64_t consent_timeout_us;
    uint64_t consent_deadline;
    /* Set by cg_ice_restart: the old addresses still carry media until the
     * first check with the new credentials replaces them. */
    int restart_pending;
    struct ice_addr addrs[CG_ICE_MAX_ADDRS];
    size_t n_addrs;
    uint64_t next_seq;
    int has_selected;
    struct sockaddr_storage selected;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Copies s into dst (CG_ICE_CRED_MAX + 1 bytes); NULL gives "" when
 * optional. The ':' rule is for ufrags, which are joined by ':' in USERNAME. */
static int copy_cred(char *dst, const char *s, int required, int is_ufrag)
{
    if (!s) {
        dst[0] = '\0';
        return required ? CG_EINVAL : 0;
    }
    size_t len = strlen(s);
    if (len == 0 || len > CG_ICE_CRED_MAX)
        return CG_EINVAL;
    if (is_ufrag && memchr(s, ':', len))
        return CG_EINVAL;
    if (dst != s) /* restart may pass our own string back */
        memmove(dst, s, len + 1);
    return 0;
}

static int valid_creds(const char *lu, const char *lp, const char *ru, const char *rp)
{
    char tmp[CG_ICE_CRED_MAX + 1];
    if (copy_cred(tmp, lu, 1, 1) || copy_cred(tmp, lp, 1, 0) || copy_cred(tmp, ru, 0, 1) ||
        copy_cred(tmp, rp, 0, 0))
        return CG_EINVAL;
    return 0;
}

static void set_creds(cg_ice *ice, const char *lu, const char *lp, const char *ru, const char *rp)
{
    /* Already validated by valid_creds. */
    copy_cred(ice->local_ufrag, lu, 1, 1);
    copy_cred(ice->local_pwd, lp, 1, 0);
    copy_cred(ice->remote_ufrag, ru, 0, 1);
    copy_cred(ice->remote_pwd, rp, 0, 0);
    ice->has_remote_ufrag = ru != NULL;
}

int cg_ice_new(cg_ice **out, const char *local_ufrag, const char *local_pwd,
               const char *remote_ufrag, const char *remote_pwd, uint64_t consent_timeout_us,
               uint64_t now_us)
{
    if (!out || valid_creds(local_ufrag, local_pwd, remote_ufrag, remote_pwd))
        return CG_EINVAL;
    cg_ice *ice = calloc(1, sizeof(*ice));
    if (!ice)
        return CG_ENOMEM;
    set_creds(ice, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
    ice->consent_timeout_us = consent_timeout_us;
    ice->consent_deadline = add_sat(now_us, consent_timeout_us);
    *out = ice;
    return 0;
}

void cg_ice_free(cg_ice *ice)
{
    if (!ice)
        return;
    /* The passwords are secrets: do not leave them in freed memory (a
     * plain memset before free may be optimised away). */
    OPENSSL_cleanse(ice->local_pwd, sizeof(ice->local_pwd));
    OPENSSL_cleanse(ice->remote_pwd, sizeof(ice->remote_pwd));
    free(ice);
}

int cg_ice_gen_credentials(char ufrag[9], char pwd[25])
{
    if (!ufrag || !pwd)
        return CG_EINVAL;
    int rc = cg_random_token(ufrag, 8);
    if (!rc)
        rc = cg_random_token(pwd, 24);
    return rc;
}

static int addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port &&
               memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr)) == 0;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}

/* Copies only the bytes of the family, so stale bytes of a caller's larger
 * sockaddr_storage never reach the comparisons. */
static void addr_copy(struct sockaddr_storage *dst, const struct sockaddr_storage *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->ss_family == AF_INET)
        memcpy(dst, src, sizeof(struct sockaddr_in));
    else
        memcpy(dst, src, sizeof(struct sockaddr_in6));
}

static struct ice_addr *find_addr(const cg_ice *ice, const struct sockaddr_storage *addr)
{
    for (size_t i = 0; i < ice->n_addrs; i++)
        if (addr_equal(&ice->addrs[i].addr, addr))
            return (struct ice_addr *)&ice->addrs[i];
    return NULL;
}

/* Records a valid check from addr; returns 1 if addr is new. */
static int touch_addr(cg_ice *ice, const struct sockaddr_storage *addr)
{
    struct ice_addr *a = find_addr(ice, addr);
    int fresh = 0;
    if (!a) {
        fresh = 1;
        if (ice->n_addrs < CG_ICE_MAX_ADDRS) {
            a = &ice->addrs[ice->n_addrs++];
        } else {
            /* Full: drop the least recently checked, but never the selected
             * address, which carries the media. */
            for (size_t i = 0; i < ice->n_addrs; i++) {
                struct ice_addr *c = &ice->addrs[i];
                if (ice->has_selected && addr_equal(&c->addr, &ice->selected))
                    continue;
                if (!a || c->seq < a->seq)
                    a = c;
            }
        }
        addr_copy(&a->addr, addr);
    }
    a->seq = ++ice->next_seq;
    return fresh;
}

static int creds_match(const cg_ice *ice, const cg_stun_msg *m)
{
    char lfrag[CG_ICE_CRED_MAX + 1];
    if (cg_stun_username_local(m, lfrag, sizeof(lfrag)) || strcmp(lfrag, ice->local_ufrag) != 0)
        return 0;
    if (!ice->has_remote_ufrag)
        return 1;
    size_t llen = strlen(lfrag);
    size_t rlen = m->username_len - llen - 1;
    return rlen == strlen(ice->remote_ufrag) &&
           memcmp(m->username + llen + 1, ice->remote_ufrag, rlen) == 0;
}

int cg_ice_handle(cg_ice *ice, const uint8_t *p, size_t n, const struct sockaddr_storage *from,
                  uint64_t now_us, uint8_t *out, size_t cap, size_t *out_len, unsigned *events)
{
    if (events)
        *events = 0;
    if (out_len)
        *out_len = 0;
    if (!ice || !p || !from || !out || !out_len ||
        (from->ss_family != AF_INET && from->ss_family != AF_INET6))
        return CG_EINVAL;

    cg_stun_msg m;
    int rc = cg_stun_parse(&m, p, n);
    if (rc)
        return rc == CG_EINVAL ? rc : CG_EPROTO;
    if (!cg_stun_is_request(m.type))
        return CG_EAGAIN;
    if (cg_stun_method(m.type) != cg_stun_method(CG_STUN_BINDING_REQUEST))
        return CG_EUNSUPP;

    /* Authenticate before answering anything (see the header comment). */
    if (m.fingerprint_off && cg_stun_check_fingerprint(&m, p, n))
        return CG_EAUTH;
    if (!m.integrity_off || !creds_match(ice, &m))
        return CG_EAUTH;
    size_t pwdlen = strlen(ice->local_pwd);
    rc = cg_stun_check_integrity(&m, p, n, ice->local_pwd, pwdlen);
    if (rc)
        return rc;

    if (m.n_unknown) {
        size_t k = m.n_unknown < CG_STUN_MAX_UNKNOWN ? m.n_unknown : CG_STUN_MAX_UNKNOWN;
        rc = cg_stun_build_unknown_attributes(out, cap, out_len, m.txid, m.unknown, k,
                                              ice->local_pwd, pwdlen);
        goto rejected;
    }
    if (m.has_controlled) {
        /* RFC 8445 §7.3.1.1: both sides controlled. A full agent would
         * compare tie-breakers; a lite agent can never be controlling, so
         * the peer must switch. */
        rc = cg_stun_build_error(out, cap, out_len, m.txid, 487, "Role Conflict", ice->local_pwd,
                                 pwdlen);
        goto rejected;
    }

    /* Build first: if the answer does not fit, nothing has changed. */
    rc = cg_stun_build_binding_success(out, cap, out_len, m.txid, from, ice->local_pwd, pwdlen);
    if (rc) {
        *out_len = 0;
        return rc;
    }
    unsigned ev = 0;
    if (ice->restart_pending) {
        ice->restart_pending = 0;
        ice->n_addrs = 0;
        ice->has_selected = 0;
    }
    if (touch_addr(ice, from))
        ev |= CG_ICE_EV_NEW_ADDR;
    if (m.use_candidate) {
        addr_copy(&ice->selected, from);
        ice->has_selected = 1;
        ev |= CG_ICE_EV_NOMINATED;
    }
    ice->consent_deadline = add_sat(now_us, ice->consent_timeout_us);
    if (events)
        *events = ev;
    return 0;

rejected:
    if (rc) {
        *out_len = 0;
        return rc;
    }
    if (events)
        *events = CG_ICE_EV_REJECTED;
    return 0;
}

int cg_ice_addr_ok(const cg_ice *ice, const struct sockaddr_storage *addr)
{
    return ice && addr && find_addr(ice, addr) != NULL;
}

int cg_ice_selected(const cg_ice *ice, struct sockaddr_storage *addr)
{
    if (!ice || !addr)
        return CG_ENOTFOUND;
    if (ice->has_selected) {
        *addr = ice->selected;
        return 0;
    }
    const struct ice_addr *latest = NULL;
    for (size_t i = 0; i < ice->n_addrs; i++)
        if (!latest || ice->addrs[i].seq > latest->seq)
            latest = &ice->addrs[i];
    if (!latest)
        return CG_ENOTFOUND;
    *addr = latest->addr;
    return 0;
}

void cg_ice_consent_refresh(cg_ice *ice, uint64_t now_us)
{
    uint64_t d = add_sat(now_us, ice->consent_timeout_us);
    if (d > ice->consent_deadline)
        ice->consent_deadline = d;
}

uint64_t cg_ice_consent_deadline(const cg_ice *ice)
{
    return ice ? ice->consent_deadline : 0;
}

int cg_ice_restart(cg_ice *ice, const char *local_ufrag, const char *local_pwd,
                   const char *remote_ufrag, const char *remote_pwd)
{
    if (!ice || valid_creds(local_ufrag, local_pwd, remote_ufrag, remote_pwd))
        return CG_EINVAL;
    set_creds(ice, local_ufrag, local_pwd, remote_ufrag, remote_pwd);
    ice->restart_pending = 1;
    return 0;
}

const char *cg_ice_local_ufrag(const cg_ice *ice)
{
    return ice ? ice->local_ufrag : NULL;
}

const char *cg_ice_local_pwd(const cg_ice *ice)
{
    return ice ? ice->local_pwd : NULL;
}
