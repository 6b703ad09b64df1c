#include "core/metrics.h"
#include "core/err.h"
#include "cg_test.h"

#include <pthread.h>

#define THREADS 4
#define PER_THREAD 100000

static char *render(void)
{
    cg_dbuf d;
    cg_dbuf_init(&d, 1 << 20);
    CHECK_INT(cg_metrics_render(&d), 0);
    return cg_dbuf_take(&d, NULL);
}

static void test_exposition_format(void)
{
    cg_metric *c = NULL, *g = NULL, *l = NULL, *s1 = NULL, *s2 = NULL;
    CHECK_INT(cg_metrics_counter(&c, "test_whip_sessions_total", "WHIP sessions.", NULL), 0);
    CHECK_INT(cg_metrics_gauge(&g, "test_sessions", "Live sessions\nnow, in \\ units.", NULL), 0);
    CHECK_INT(
        cg_metrics_counter(&l, "test_rtp_packets_received_total", "RTP packets.", "stream,kind"),
        0);
    cg_metric_add(c, 3);
    cg_metric_inc(c);
    cg_metric_set(c, 100); /* ignored: counters only go up */
    cg_metric_sub(c, 1);   /* ignored too */
    cg_metric_set(g, 5);
    cg_metric_sub(g, 7);
    CHECK_INT(cg_metric_value(g), -2);
    CHECK_INT(cg_metric_labels(l, &s1, "cam \"1\"", "video", NULL), 0);
    CHECK_INT(cg_metric_labels(l, &s2, "a\\b\nc", "audio", NULL), 0);
    cg_metric *again = NULL;
    CHECK_INT(cg_metric_labels(l, &again, "cam \"1\"", "video", NULL), 0);
    CHECK(again == s1);
    cg_metric_add(s1, 10);
    cg_metric_inc(again);
    cg_metric_inc(s2);
    cg_metric_inc(l); /* a labelled family itself is not a series: no effect */
    cg_metric_inc(NULL);

    char *text = render();
    static const char want[] =
        "# HELP test_whip_sessions_total WHIP sessions.\n"
        "# TYPE test_whip_sessions_total counter\n"
        "test_whip_sessions_total 4\n"
        "# HELP test_sessions Live sessions\\nnow, in \\\\ units.\n"
        "# TYPE test_sessions gauge\n"
        "test_sessions -2\n"
        "# HELP test_rtp_packets_received_total RTP packets.\n"
        "# TYPE test_rtp_packets_received_total counter\n"
        "test_rtp_packets_received_total{stream=\"cam \\\"1\\\"\",kind=\"video\"} 11\n"
        "test_rtp_packets_received_total{stream=\"a\\\\b\\nc\",kind=\"audio\"} 1\n";
    CHECK(strstr(text, want) != NULL);
    if (!strstr(text, want))
        fprintf(stderr, "rendered:\n%s", text);
    CHECK(strncmp(text,
                  "# HELP clipgate_build_info Version of the running clipgate binary.\n"
                  "# TYPE clipgate_build_info gauge\n"
                  "clipgate_build_info{version=\"" CG_VERSION "\"} 1\n",
                  strlen("# HELP clipgate_build_info Version of the running clipgate binary.\n"
                         "# TYPE clipgate_build_info gauge\n"
                         "clipgate_build_info{version=\"" CG_VERSION "\"} 1\n")) == 0);
    CHECK(strstr(text, "# TYPE clipgate_uptime_seconds gauge\nclipgate_uptime_seconds ") != NULL);
    free(text);
}

static void test_registration_rules(void)
{
    cg_metric *a = NULL, *b = NULL, *s = NULL;
    CHECK_INT(cg_metrics_counter(&a, "test_dup_total", "x", "stream"), 0);
    /* Same name, type and labels: the same family, whoever registers first. */
    CHECK_INT(cg_metrics_counter(&b, "test_dup_total", "other help", "stream"), 0);
    CHECK(a == b);
    CHECK_INT(cg_metrics_gauge(&b, "test_dup_total", "x", "stream"), CG_EEXIST);
    CHECK_INT(cg_metrics_counter(&b, "test_dup_total", "x", "route"), CG_EEXIST);
    CHECK_INT(cg_metrics_counter(&b, "test_dup_total", "x", NULL), CG_EEXIST);

    CHECK_INT(cg_metrics_counter(&b, "9starts_with_digit", "x", NULL), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "has-dash", "x", NULL), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "", "x", NULL), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "ok_total", "x", "bad-label"), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "ok_total", "x", "__reserved"), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "ok_total", "x", "a,"), CG_EINVAL);
    CHECK_INT(cg_metrics_counter(&b, "ok_total", "x", "a,b,c,d,e"), CG_EINVAL);

    CHECK_INT(cg_metric_labels(a, &s, NULL), CG_EINVAL);           /* too few values */
    CHECK_INT(cg_metric_labels(a, &s, "x", "y", NULL), CG_EINVAL); /* too many */
    CHECK_INT(cg_metric_labels(a, &s, "x", NULL), 0);
    CHECK_INT(cg_metric_labels(s, &b, "x", NULL), CG_EINVAL); /* a series has no series */

    /* The per-family bound. */
    cg_metric *many = NULL;
    CHECK_INT(cg_metrics_gauge(&many, "test_many", "x", "id"), 0);
    int rc = 0;
    for (int i = 0; i < CG_METRICS_MAX_SERIES && rc == 0; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        rc = cg_metric_labels(many, &s, id, NULL);
    }
    CHECK_INT(rc, 0);
    CHECK_INT(cg_metric_labels(many, &s, "one more", NULL), CG_ELIMIT);
    CHECK_INT(cg_metric_labels(many, &s, "0", NULL), 0); /* existing ones still found */
}

static void *hammer(void *arg)
{
    cg_metric *fam = arg, *s = NULL;
    for (int i = 0; i < PER_THREAD; i++) {
        /* Label lookup from many threads at once, as HTTP workers do. */
        if (i % 1000 == 0)
            cg_metric_labels(fam, &s, "shared", NULL);
        cg_metric_inc(s);
    }
    return NULL;
}

static void test_threads(void)
{
    cg_metric *fam = NULL, *s = NULL;
    CHECK_INT(cg_metrics_counter(&fam, "test_threads_total", "x", "k"), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, fam);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(cg_metric_labels(fam, &s, "shared", NULL), 0);
    CHECK_INT(cg_metric_value(s), THREADS * PER_THREAD);
}

int main(void)
{
    cg_metrics_init();
    RUN(test_exposition_format);
    RUN(test_registration_rules);
    RUN(test_threads);
    return TEST_RESULT();
}
