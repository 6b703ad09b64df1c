#include "egress/feedback.h"

#include <string.h>

void cg_kfreq_init(cg_kfreq *k, uint64_t interval_us)
{
    memset(k, 0, sizeof(*k));
    k->interval_us = interval_us;
}

static int may_send(const cg_kfreq *k, uint64_t now_us)
{
    return !k->sent_once || now_us - k->last_sent_us >= k->interval_us;
}

static int send_now(cg_kfreq *k, uint64_t now_us)
{
    k->sent_once = 1;
    k->last_sent_us = now_us;
    k->pending = 0;
    k->sent++;
    return 1;
}

int cg_kfreq_ask(cg_kfreq *k, uint64_t now_us)
{
    k->asked++;
    if (may_send(k, now_us))
        return send_now(k, now_us);
    k->pending = 1;
    return 0;
}

int cg_kfreq_poll(cg_kfreq *k, uint64_t now_us, uint64_t *deadline_us)
{
    int due = k->pending && may_send(k, now_us);
    if (due)
        send_now(k, now_us);
    if (deadline_us)
        *deadline_us = k->pending ? k->last_sent_us + k->interval_us : UINT64_MAX;
    return due;
}

void cg_kfreq_keyframe(cg_kfreq *k)
{
    k->pending = 0;
}
