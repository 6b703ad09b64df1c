/* Process-wide metrics registry. One mutex guards the lists (registration,
 * label lookup, rendering); values are atomics so the hot path never takes
 * it. Lists only grow, so a handle given out stays valid and a renderer
 * holding the mutex sees a consistent set of series. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "err.h"
#include "log.h"

#ifndef CG_VERSION
#define CG_VERSION "unknown"
#endif

struct cg_metric {
    cg_metric *fam;         /* NULL for a family, else the family of this series */
    cg_metric *next;        /* next family, or next series of the same family */
    _Atomic uint64_t value; /* gauges store int64 two's complement */
    /* family only */
    char *name;
    char *help;
    int type;
    size_t n_labels;
    char *label_names[CG_METRICS_MAX_LABELS];
    cg_metric *series, **series_tail;
    size_t n_series;
    /* series only */
    char *label_values[CG_METRICS_MAX_LABELS];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cg_metric *g_families;
static cg_metric **g_tail = &g_families;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static uint64_t g_start_us;

static void record_start(void)
{
    g_start_us = cg_now_us();
}

void cg_metrics_init(void)
{
    pthread_once(&g_once, record_start);
}

static bool valid_name(const char *s, size_t len, bool colon_ok)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static void free_metric(cg_metric *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->help);
    for (size_t i = 0; i < CG_METRICS_MAX_LABELS; i++) {
        free(m->label_names[i]);
        free(m->label_values[i]);
    }
    free(m);
}

/* Splits "a,b" into label names; NULL or "" gives none. */
static int split_labels(const char *labels, char **names, size_t *n)
{
    *n = 0;
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        /* Names starting with "__" are reserved by Prometheus. */
        if (*n == CG_METRICS_MAX_LABELS || !valid_name(p, len, false) ||
            (len >= 2 && p[0] == '_' && p[1] == '_'))
            return CG_EINVAL;
        names[*n] = strndup(p, len);
        if (!names[*n])
            return CG_ENOMEM;
        (*n)++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static bool same_labels(const cg_metric *f, char *const *names, size_t n)
{
    if (f->n_labels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f->label_names[i], names[i]) != 0)
            return false;
    return true;
}

static int register_family(cg_metric **out, const char *name, const char *help, const char *labels,
                           int type)
{
    if (!out || !name || !valid_name(name, strlen(name), true))
        return CG_EINVAL;
    cg_metrics_init();
    cg_metric *f = calloc(1, sizeof(*f));
    if (!f)
        return CG_ENOMEM;
    int rc = split_labels(labels, f->label_names, &f->n_labels);
    if (rc) {
        free_metric(f);
        return rc;
    }
    f->type = type;
    f->series_tail = &f->series;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        free_metric(f);
        return CG_ENOMEM;
    }
    pthread_mutex_lock(&g_lock);
    for (cg_metric *e = g_families; e; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        rc = e->type == type && same_labels(e, f->label_names, f->n_labels) ? 0 : CG_EEXIST;
        pthread_mutex_unlock(&g_lock);
        free_metric(f);
        if (rc == 0)
            *out = e;
        return rc;
    }
    *g_tail = f;
    g_tail = &f->next;
    pthread_mutex_unlock(&g_lock);
    *out = f;
    return 0;
}

int cg_metrics_counter(cg_metric **out, const char *name, const char *help, const char *labels)
{
    return register_family(out, name, help, labels, CG_METRIC_COUNTER);
}

int cg_metrics_gauge(cg_metric **out, const char *name, const char *help, const char *labels)
{
    return register_family(out, name, help, labels, CG_METRIC_GAUGE);
}

void cg_metrics_register_table(const cg_metric_def *defs, size_t n, const char *log_id)
{
    for (size_t i = 0; i < n; i++) {
        const cg_metric_def *d = &defs[i];
        int rc = d->gauge ? cg_metrics_gauge(d->handle, d->name, d->help, d->labels)
                          : cg_metrics_counter(d->handle, d->name, d->help, d->labels);
        if (rc)
            cg_warn(log_id, "metric %s not registered: %s", d->name, cg_strerror(rc));
    }
}

int cg_metric_labelv(cg_metric *fam, cg_metric **out, const char *const *values, size_t n)
{
    if (!fam || !out || fam->fam || fam->n_labels == 0 || n != fam->n_labels)
        return CG_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!values[i])
            return CG_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    cg_metric *s;
    for (s = fam->series; s; s = s->next) {
        size_t i = 0;
        while (i < n && strcmp(s->label_values[i], values[i]) == 0)
            i++;
        if (i == n)
            break;
    }
    if (!s && fam->n_series >= CG_METRICS_MAX_SERIES)
        rc = CG_ELIMIT;
    if (!s && rc == 0) {
        s = calloc(1, sizeof(*s));
        for (size_t i = 0; s && i < n; i++) {
            s->label_values[i] = strdup(values[i]);
            if (!s->label_values[i]) {
                free_metric(s);
                s = NULL;
            }
        }
        if (s) {
            s->fam = fam;
            *fam->series_tail = s;
            fam->series_tail = &s->next;
            fam->n_series++;
        } else {
            rc = CG_ENOMEM;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (rc == 0)
        *out = s;
    return rc;
}

int cg_metric_labels(cg_metric *fam, cg_metric **out, ...)
{
    const char *values[CG_METRICS_MAX_LABELS + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, out);
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL) {
        if (n == CG_METRICS_MAX_LABELS + 1)
            break;
        values[n++] = v;
    }
    va_end(ap);
    return cg_metric_labelv(fam, out, values, n);
}

/* Updates go to unlabelled families and to series, not to labelled families. */
static bool countable(const cg_metric *m)
{
    return m && (m->fam || m->n_labels == 0);
}

static int type_of(const cg_metric *m)
{
    return m->fam ? m->fam->type : m->type;
}

void cg_metric_add(cg_metric *m, uint64_t n)
{
    if (countable(m))
        atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void cg_metric_inc(cg_metric *m)
{
    cg_metric_add(m, 1);
}

void cg_metric_sub(cg_metric *m, uint64_t n)
{
    if (countable(m) && type_of(m) == CG_METRIC_GAUGE)
        atomic_fetch_sub_explicit(&m->value, n, memory_order_relaxed);
}

void cg_metric_set(cg_metric *m, int64_t v)
{
    if (countable(m) && type_of(m) == CG_METRIC_GAUGE)
        atomic_store_explicit(&m->value, (uint64_t)v, memory_order_relaxed);
}

int64_t cg_metric_value(const cg_metric *m)
{
    if (!m)
        return 0;
    return (int64_t)atomic_load_explicit(&((cg_metric *)m)->value, memory_order_relaxed);
}

/* Exposition-format escaping: help text escapes \ and newline; label
 * values also escape the double quote. */
static void add_escaped(cg_dbuf *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            cg_dbuf_adds(out, "\\\\");
        else if (*s == '\n')
            cg_dbuf_adds(out, "\\n");
        else if (quote && *s == '"')
            cg_dbuf_adds(out, "\\\"");
        else
            cg_dbuf_add(out, s, 1);
    }
}

static void render_value(cg_dbuf *out, const cg_metric *m, int type)
{
    int64_t v = cg_metric_value(m);
    if (type == CG_METRIC_COUNTER)
        cg_dbuf_printf(out, " %llu\n", (unsigned long long)(uint64_t)v);
    else
        cg_dbuf_printf(out, " %lld\n", (long long)v);
}

static void render_family(cg_dbuf *out, const cg_metric *f)
{
    cg_dbuf_printf(out, "# HELP %s ", f->name);
    add_escaped(out, f->help, false);
    cg_dbuf_printf(out, "\n# TYPE %s %s\n", f->name,
                   f->type == CG_METRIC_COUNTER ? "counter" : "gauge");
    if (f->n_labels == 0) {
        cg_dbuf_adds(out, f->name);
        render_value(out, f, f->type);
        return;
    }
    for (const cg_metric *s = f->series; s; s = s->next) {
        cg_dbuf_printf(out, "%s{", f->name);
        for (size_t i = 0; i < f->n_labels; i++) {
            cg_dbuf_printf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
            add_escaped(out, s->label_values[i], true);
            cg_dbuf_adds(out, "\"");
        }
        cg_dbuf_adds(out, "}");
        render_value(out, s, f->type);
    }
}

int cg_metrics_render(cg_dbuf *out)
{
    cg_metrics_init();
    uint64_t up = cg_now_us() - g_start_us;
    cg_dbuf_printf(out,
                   "# HELP clipgate_build_info Version of the running clipgate binary.\n"
                   "# TYPE clipgate_build_info gauge\n"
                   "clipgate_build_info{version=\"%s\"} 1\n"
                   "# HELP clipgate_uptime_seconds Seconds since clipgate started.\n"
                   "# TYPE clipgate_uptime_seconds gauge\n"
                   "clipgate_uptime_seconds %llu.%03llu\n",
                   CG_VERSION, (unsigned long long)(up / 1000000),
                   (unsigned long long)(up % 1000000 / 1000));
    pthread_mutex_lock(&g_lock);
    for (const cg_metric *f = g_families; f; f = f->next)
        render_family(out, f);
    pthread_mutex_unlock(&g_lock);
    return cg_dbuf_err(out);
}
