/* The web UI over HTTP: GET / is the home page, GET /ui/<file> and
 * /ui/vendor/<file> the other pages and their assets, all from the table
 * the build embeds (http/ui.h, scripts/embed_web.cmake).
 *
 * Every answer carries an ETag taken from the content at build time and
 * Cache-Control: no-cache, so a browser revalidates and gets 304 until the
 * binary changes; no URL carries a version, so nothing may be cached
 * blindly. A name the table lacks is a 404 problem; hls.js missing from the
 * build is a 503 problem that says how to install it. */
#include <stdio.h>
#include <string.h>

#include "http/problem.h"
#include "http/services.h"
#include "http/ui.h"

#define UI_CACHE_CONTROL "no-cache"

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

const char *cg_ui_content_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
        size_t e = strlen(content_types[i].ext);
        if (n > e && strcmp(name + n - e, content_types[i].ext) == 0)
            return content_types[i].type;
    }
    return "application/octet-stream";
}

const cg_ui_asset *cg_ui_find(const char *name)
{
    for (size_t i = 0; i < cg_ui_asset_count; i++)
        if (strcmp(cg_ui_assets[i].name, name) == 0)
            return &cg_ui_assets[i];
    return NULL;
}

/* RFC 9110 13.1.2: "*" or a list holding our (strong) tag, weakly compared. */
static int not_modified(const cg_http_req *req, const char *etag)
{
    const char *inm = cg_http_req_header(req, "If-None-Match");
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    return strstr(inm, etag) != NULL;
}

static int serve(cg_http_req *req, cg_http_resp *resp, const char *name)
{
    const cg_ui_asset *a = cg_ui_find(name);
    if (!a)
        return cg_http_problem(resp, 404, "No such page",
                               "The web UI has no file \"%.200s\". Start from the home page at /.",
                               name);
    if (!a->data)
        return cg_http_problem(resp, 503, "Web UI dependency missing",
                               "This clipgate was built without %s (the npm package it comes from "
                               "was not installed). Run scripts/setup.sh, then rebuild.",
                               name);
    cg_http_resp_header(resp, "ETag", a->etag);
    cg_http_resp_header(resp, "Cache-Control", UI_CACHE_CONTROL);
    if (not_modified(req, a->etag)) {
        cg_http_resp_status(resp, 304);
        return 0;
    }
    return cg_http_resp_body_copy(resp, a->data, a->len, cg_ui_content_type(name));
}

static int ui_home(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return serve(req, resp, "index.html");
}

static int ui_file(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    return serve(req, resp, cg_http_req_capture(req, "file"));
}

static int ui_vendor(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    char name[256];
    int n = snprintf(name, sizeof(name), "vendor/%s", cg_http_req_capture(req, "file"));
    if (n < 0 || (size_t)n >= sizeof(name))
        return cg_http_problem(resp, 404, "No such page",
                               "The web UI has no such file. Start from the home page at /.");
    return serve(req, resp, name);
}

static const cg_http_route ui_routes[] = {
    {.method = "GET", .pattern = "/", .handler = ui_home, .name = "ui"},
    {.method = "GET", .pattern = "/ui/{file}", .handler = ui_file, .name = "ui"},
    {.method = "GET", .pattern = "/ui/vendor/{file}", .handler = ui_vendor, .name = "ui"},
};

int cg_ui_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, ui_routes, sizeof(ui_routes) / sizeof(ui_routes[0]), svc);
}
