/* Metrics: counters and gauges with labels, rendered in the Prometheus text
 * exposition format (version 0.0.4) for GET /metrics.
 *
 * There is one registry per process, like the log: any module on any thread
 * registers a family by name and gets a handle, without a registry pointer
 * threaded through every constructor. Registering the same name again with
 * the same type and labels gives the same family, so modules need not agree
 * on who registers first.
 *
 * Cost: registration and label lookup take a mutex (do them once per
 * stream or session and keep the handle); cg_metric_inc/add/set on a handle
 * are single relaxed atomic operations, safe from any thread, including the
 * media loop. Families and series are never freed (handles stay valid for
 * the life of the process); a family holds at most CG_METRICS_MAX_SERIES
 * label sets, beyond which cg_metric_labels() refuses with CG_ELIMIT and the
 * caller skips counting.
 *
 * Built in: clipgate_build_info{version="..."} 1 and clipgate_uptime_seconds
 * (since cg_metrics_init(), or the first use of this module). */
#ifndef CG_METRICS_H
#define CG_METRICS_H

#include <stdint.h>

#include "core/buf.h"

#define CG_METRICS_MAX_LABELS 4
#define CG_METRICS_MAX_SERIES 10000

/* A family (name, help, type, label names) or one of its series (label
 * values). Handles are owned by the registry; callers only borrow them. */
typedef struct cg_metric cg_metric;

enum cg_metric_type {
    CG_METRIC_COUNTER = 0,
    CG_METRIC_GAUGE = 1,
};

/* Starts the uptime clock. Idempotent; call early in main. */
void cg_metrics_init(void);

/* Registers or finds a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*, counters end
 * in _total by convention. help: one line (borrowed, copied). labels:
 * comma-separated label names ("stream", "route,code"), or NULL for an
 * unlabelled metric that is counted directly through *out.
 * Gives a registry-owned handle. Returns 0, CG_EINVAL (bad name or labels),
 * CG_EEXIST (name registered with another type or labels) or CG_ENOMEM. */
int cg_metrics_counter(cg_metric **out, const char *name, const char *help, const char *labels);
int cg_metrics_gauge(cg_metric **out, const char *name, const char *help, const char *labels);

/* One family in a module's const table of metrics. */
typedef struct cg_metric_def {
    cg_metric **handle; /* where the family's handle goes */
    int gauge;          /* 1: gauge, 0: counter */
    const char *name, *help, *labels;
} cg_metric_def;

/* Registers every family of defs[0..n) as cg_metrics_counter/gauge do. One
 * that cannot be registered is logged as a warning under log_id and its
 * handle stays NULL (nothing is counted on it); the others are registered
 * all the same. defs and log_id borrowed. */
void cg_metrics_register_table(const cg_metric_def *defs, size_t n, const char *log_id);

/* Finds or creates the series of a labelled family for the given label
 * values, one per label name, followed by NULL. Values are borrowed and
 * copied; any text is allowed (it is escaped when rendered).
 * Gives a registry-owned handle. Returns 0, CG_EINVAL (wrong number of
 * values, or fam is a series or unlabelled), CG_ELIMIT (family full) or
 * CG_ENOMEM. */
int cg_metric_labels(cg_metric *fam, cg_metric **out, ...) __attribute__((sentinel));
/* Same with an array of n values. */
int cg_metric_labelv(cg_metric *fam, cg_metric **out, const char *const *values, size_t n);

/* Updates accept NULL (a series that could not be created) and do nothing
 * on a labelled family itself. Counters only go up: cg_metric_set and
 * cg_metric_sub are ignored on counters. */
void cg_metric_inc(cg_metric *m);
void cg_metric_add(cg_metric *m, uint64_t n);
void cg_metric_sub(cg_metric *m, uint64_t n);
void cg_metric_set(cg_metric *m, int64_t v);
/* Current value (gauges may be negative). */
int64_t cg_metric_value(const cg_metric *m);

/* Appends the built-ins, then every family in registration order.
 * Returns 0 or the dbuf's error (CG_ENOSPC, CG_ENOMEM). */
int cg_metrics_render(cg_dbuf *out);

#endif
