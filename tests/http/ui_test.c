/* The embedded web UI: the table the build generated holds every file of
 * web/ byte for byte, and the HTTP routes serve it with the right
 * Content-Type, an ETag that gives 304 on revalidation, and problem+json
 * for names it lacks. hls.js is served when the build found it, else 503
 * with a sentence saying how to install it. */
#include "http/ui.h"
#include "http/services.h"
#include "core/config.h"
#include "cg_test.h"
#include "http_client.h"

#include <dirent.h>
#include <jansson.h>
#include <unistd.h>

static void check_problem(const res *r, int status)
{
    CHECK_INT(r->status, status);
    CHECK_STR(header(r, "Content-Type"), "application/problem+json");
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, &e);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    CHECK(detail && strlen(detail) > 20);
    json_decref(j);
}

/* Every file of web/ is in the table with its exact bytes. */
static void test_table_matches_web_dir(void)
{
    const char *root = getenv("CG_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/web", root ? root : ".");
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char rel[512];
        snprintf(rel, sizeof(rel), "web/%s", e->d_name);
        size_t len = 0;
        char *want = cg_test_read_file(rel, &len);
        const cg_ui_asset *a = cg_ui_find(e->d_name);
        CHECK(want != NULL);
        CHECK(a != NULL);
        if (want && a) {
            CHECK_INT(a->len, len);
            CHECK(a->data && memcmp(a->data, want, len) == 0);
            CHECK(a->etag && a->etag[0] == '"' && strlen(a->etag) > 8);
        }
        free(want);
        files++;
    }
    closedir(d);
    CHECK(files >= 9); /* 4 pages, their scripts, app.js, style.css, ... */
    CHECK(cg_ui_find("vendor/hls.min.js") != NULL);
    CHECK(cg_ui_find("nope.html") == NULL);
}

static void test_content_types(void)
{
    CHECK_STR(cg_ui_content_type("index.html"), "text/html; charset=utf-8");
    CHECK_STR(cg_ui_content_type("style.css"), "text/css; charset=utf-8");
    CHECK_STR(cg_ui_content_type("vendor/hls.min.js"), "text/javascript; charset=utf-8");
    CHECK_STR(cg_ui_content_type("icon.svg"), "image/svg+xml");
    CHECK_STR(cg_ui_content_type("x.bin"), "application/octet-stream");
    CHECK_STR(cg_ui_content_type(".js"), "application/octet-stream");
}

static void test_home_and_pages(void)
{
    static const struct {
        const char *target, *file, *type;
    } cases[] = {
        {"/", "index.html", "text/html; charset=utf-8"},
        {"/ui/index.html", "index.html", "text/html; charset=utf-8"},
        {"/ui/studio.html", "studio.html", "text/html; charset=utf-8"},
        {"/ui/watch.html?stream=a", "watch.html", "text/html; charset=utf-8"},
        {"/ui/app.js", "app.js", "text/javascript; charset=utf-8"},
        {"/ui/style.css", "style.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        res r;
        get(&r, "GET", cases[i].target, NULL);
        const cg_ui_asset *a = cg_ui_find(cases[i].file);
        CHECK_INT(r.status, 200);
        CHECK_STR(header(&r, "Content-Type"), cases[i].type);
        CHECK_STR(header(&r, "Cache-Control"), "no-cache");
        CHECK(a && strcmp(header(&r, "ETag"), a->etag) == 0);
        CHECK(a && r.body_len == a->len && memcmp(r.body, a->data, a->len) == 0);
        res_free(&r);
    }
}

static void test_etag_revalidation(void)
{
    res r;
    get(&r, "GET", "/ui/app.js", NULL);
    char etag[128];
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag"));
    res_free(&r);
    CHECK(etag[0] == '"');

    char extra[256];
    snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
    get(&r, "GET", "/ui/app.js", extra);
    CHECK_INT(r.status, 304);
    CHECK_INT(r.body_len, 0);
    CHECK_STR(header(&r, "ETag"), etag);
    res_free(&r);

    snprintf(extra, sizeof(extra), "If-None-Match: \"other\", W/%s\r\n", etag);
    get(&r, "GET", "/ui/app.js", extra);
    CHECK_INT(r.status, 304); /* weak comparison, in a list */
    res_free(&r);

    get(&r, "GET", "/ui/app.js", "If-None-Match: \"stale\"\r\n");
    CHECK_INT(r.status, 200);
    CHECK(r.body_len > 0);
    res_free(&r);

    /* Another file has another tag. */
    get(&r, "GET", "/ui/style.css", NULL);
    CHECK(strcmp(header(&r, "ETag"), etag) != 0);
    res_free(&r);
}

static void test_unknown_paths(void)
{
    static const char *const targets[] = {
        "/ui/nope.html",     "/ui/vendor/nope.js", "/ui/a/b/c.js",
        "/ui/vendor/%2e%2e", "/index.html", /* the home page is "/" */
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        res r;
        get(&r, "GET", targets[i], NULL);
        if (r.status == 400) /* encoded dot segments are refused before routing */
            check_problem(&r, 400);
        else
            check_problem(&r, 404);
        res_free(&r);
    }
}

static void test_hlsjs(void)
{
    const cg_ui_asset *a = cg_ui_find("vendor/hls.min.js");
    res r;
    get(&r, "GET", "/ui/vendor/hls.min.js", NULL);
    if (a && a->data) {
        CHECK_INT(r.status, 200);
        CHECK_STR(header(&r, "Content-Type"), "text/javascript; charset=utf-8");
        CHECK_INT(r.body_len, a->len);
    } else {
        fprintf(stderr, "note: this build has no hls.js; checking the 503 answer\n");
        check_problem(&r, 503);
        CHECK(strstr(r.body, "scripts/setup.sh") != NULL);
    }
    res_free(&r);
}

int main(void)
{
    cg_config cfg;
    if (cg_config_defaults(&cfg))
        return 1;
    cfg.http_port = 0;
    free(cfg.bind);
    cfg.bind = strdup("127.0.0.1");
    cg_services svc = {.cfg = &cfg};
    cg_http_server *srv = NULL;
    CHECK_INT(cg_http_server_new(&srv, &cfg), 0);
    CHECK_INT(cg_ui_routes_add(srv, &svc), 0);
    CHECK_INT(cg_http_server_start(srv), 0);
    g_port = cg_http_server_port(srv);

    RUN(test_table_matches_web_dir);
    RUN(test_content_types);
    RUN(test_home_and_pages);
    RUN(test_etag_revalidation);
    RUN(test_unknown_paths);
    RUN(test_hlsjs);

    cg_http_server_free(srv);
    cg_config_clear(&cfg);
    return TEST_RESULT();
}
