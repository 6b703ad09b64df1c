#include "core/hub.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define MAX_SINKS 16
#define MAX_RTP_SINKS 64

struct cg_stream {
    char name[CG_STREAM_NAME_MAX + 1];
    void *publisher;
    cg_stream_info info;
    cg_frame_sink sinks[MAX_SINKS];
    size_t n_sinks;
    cg_rtp_sink rtp_sinks[MAX_RTP_SINKS];
    size_t n_rtp_sinks;
    cg_stream *next;
};

struct cg_hub {
    cg_stream *head;
    size_t count;
    cg_hub_observer obs[CG_HUB_MAX_OBSERVERS];
    size_t n_obs;
};

int cg_hub_new(cg_hub **out)
{
    cg_hub *h = calloc(1, sizeof(*h));
    if (!h)
        return CG_ENOMEM;
    *out = h;
    return 0;
}

int cg_hub_add_observer(cg_hub *hub, const cg_hub_observer *obs)
{
    if (hub->n_obs == CG_HUB_MAX_OBSERVERS)
        return CG_ELIMIT;
    hub->obs[hub->n_obs++] = *obs;
    return 0;
}

void cg_hub_remove_observer(cg_hub *hub, void *arg)
{
    for (size_t i = 0; i < hub->n_obs; i++) {
        if (hub->obs[i].arg == arg) {
            memmove(&hub->obs[i], &hub->obs[i + 1], (hub->n_obs - i - 1) * sizeof(hub->obs[0]));
            hub->n_obs--;
            return;
        }
    }
}

void cg_hub_free(cg_hub *hub)
{
    free(hub);
}

int cg_stream_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CG_STREAM_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

cg_stream *cg_hub_find(cg_hub *hub, const char *name)
{
    for (cg_stream *s = hub->head; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

int cg_hub_open(cg_hub *hub, const char *name, void *publisher, const cg_stream_info *info,
                cg_stream **out)
{
    if (!cg_stream_name_valid(name))
        return CG_EINVAL;
    if (cg_hub_find(hub, name))
        return CG_EEXIST;
    cg_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return CG_ENOMEM;
    memcpy(s->name, name, strlen(name) + 1);
    s->publisher = publisher;
    if (info)
        s->info = *info;
    cg_stream **pp = &hub->head;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    hub->count++;
    *out = s;
    for (size_t i = 0; i < hub->n_obs; i++)
        if (hub->obs[i].on_open)
            hub->obs[i].on_open(hub->obs[i].arg, s);
    return 0;
}

void cg_hub_close(cg_hub *hub, cg_stream *s)
{
    for (size_t i = 0; i < hub->n_obs; i++)
        if (hub->obs[i].on_close)
            hub->obs[i].on_close(hub->obs[i].arg, s);
    for (cg_stream **pp = &hub->head; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            hub->count--;
            break;
        }
    }
    /* Copy first: an on_end may remove other sinks. */
    cg_frame_sink sinks[MAX_SINKS];
    size_t n = s->n_sinks;
    memcpy(sinks, s->sinks, n * sizeof(sinks[0]));
    s->n_sinks = 0;
    for (size_t i = 0; i < n; i++)
        if (sinks[i].on_end)
            sinks[i].on_end(sinks[i].arg);
    /* RTP sinks (viewers) remove themselves in on_end: take from the end. */
    while (s->n_rtp_sinks) {
        cg_rtp_sink rs = s->rtp_sinks[--s->n_rtp_sinks];
        if (rs.on_end)
            rs.on_end(rs.arg);
    }
    free(s);
}

size_t cg_hub_count(const cg_hub *hub)
{
    return hub->count;
}
cg_stream *cg_hub_first(cg_hub *hub)
{
    return hub->head;
}
cg_stream *cg_stream_next(cg_stream *s)
{
    return s->next;
}
const char *cg_stream_name(const cg_stream *s)
{
    return s->name;
}
void *cg_stream_publisher(const cg_stream *s)
{
    return s->publisher;
}
const cg_stream_info *cg_stream_get_info(const cg_stream *s)
{
    return &s->info;
}

void cg_stream_request_keyframe(cg_stream *s)
{
    if (s->info.request_keyframe && s->publisher)
        s->info.request_keyframe(s->publisher);
}

int cg_stream_add_sink(cg_stream *s, const cg_frame_sink *sink)
{
    if (s->n_sinks == MAX_SINKS)
        return CG_ELIMIT;
    s->sinks[s->n_sinks++] = *sink;
    return 0;
}

void cg_stream_remove_sink(cg_stream *s, void *arg)
{
    for (size_t i = 0; i < s->n_sinks; i++) {
        if (s->sinks[i].arg == arg) {
            memmove(&s->sinks[i], &s->sinks[i + 1], (s->n_sinks - i - 1) * sizeof(s->sinks[0]));
            s->n_sinks--;
            return;
        }
    }
}

void cg_stream_publish(cg_stream *s, cg_frame *f)
{
    for (size_t i = 0; i < s->n_sinks; i++)
        s->sinks[i].on_frame(s->sinks[i].arg, f);
}

int cg_stream_add_rtp_sink(cg_stream *s, const cg_rtp_sink *sink)
{
    if (s->n_rtp_sinks == MAX_RTP_SINKS)
        return CG_ELIMIT;
    s->rtp_sinks[s->n_rtp_sinks++] = *sink;
    return 0;
}

void cg_stream_remove_rtp_sink(cg_stream *s, void *arg)
{
    for (size_t i = 0; i < s->n_rtp_sinks; i++) {
        if (s->rtp_sinks[i].arg == arg) {
            memmove(&s->rtp_sinks[i], &s->rtp_sinks[i + 1],
                    (s->n_rtp_sinks - i - 1) * sizeof(s->rtp_sinks[0]));
            s->n_rtp_sinks--;
            return;
        }
    }
}

size_t cg_stream_rtp_sink_count(const cg_stream *s)
{
    return s->n_rtp_sinks;
}

void cg_stream_publish_rtp(cg_stream *s, int kind, const uint8_t *pkt, size_t len, uint64_t now_us)
{
    /* A sink may leave during its call (a send error ends the viewer). */
    for (size_t i = 0; i < s->n_rtp_sinks;) {
        cg_rtp_sink rs = s->rtp_sinks[i];
        rs.on_rtp(rs.arg, kind, pkt, len, now_us);
        if (i < s->n_rtp_sinks && s->rtp_sinks[i].arg == rs.arg)
            i++;
    }
}
