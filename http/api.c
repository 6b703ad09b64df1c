/* JSON API about live streams: GET /api/v1/streams and
 * /api/v1/streams/{stream}. The state lives on the media thread, so the
 * JSON is built there (cheap) and serialised here. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hub.h"
#include "egress/viewer.h"
#include "http/problem.h"
#include "http/services.h"
#include "ingest/media.h"
#include "ingest/whip.h"

typedef struct streams_call {
    const char *name; /* NULL: all */
    json_t *out;
} streams_call;

static json_t *stream_json(cg_media *m, cg_stream *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(cg_stream_name(s)));
    cg_whip *w = cg_stream_publisher(s);
    if (w)
        cg_whip_describe(w, o);
    cg_viewer_describe_stream(m, cg_stream_name(s), o);
    return o;
}

static void do_streams(cg_media *m, void *arg)
{
    streams_call *c = arg;
    cg_hub *hub = cg_media_hub(m);
    if (c->name) {
        cg_stream *s = cg_hub_find(hub, c->name);
        c->out = s ? stream_json(m, s) : NULL;
        return;
    }
    json_t *arr = json_array();
    for (cg_stream *s = cg_hub_first(hub); s; s = cg_stream_next(s))
        json_array_append_new(arr, stream_json(m, s));
    c->out = json_object();
    json_object_set_new(c->out, "streams", arr);
}

/* Adds each stream's broadcast (the recorder's registry, not the media
 * thread's state) to its JSON object. */
static void add_broadcast(cg_services *svc, json_t *stream)
{
    const char *name = json_string_value(json_object_get(stream, "name"));
    json_t *b = name ? cg_recordings_stream_json(svc, name) : NULL;
    json_object_set_new(stream, "broadcast", b ? b : json_null());
}

static int send_json(cg_http_resp *resp, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return CG_ENOMEM;
    cg_http_resp_header(resp, "Cache-Control", "no-store");
    return cg_http_resp_body_take(resp, text, strlen(text), "application/json");
}

static int api_streams(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    streams_call c = {0};
    int rc = cg_media_call(svc->media, do_streams, &c);
    if (rc)
        return rc;
    json_t *arr = json_object_get(c.out, "streams");
    for (size_t i = 0; i < json_array_size(arr); i++)
        add_broadcast(svc, json_array_get(arr, i));
    return send_json(resp, c.out);
}

static int api_stream(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_services *svc = ctx;
    streams_call c = {.name = cg_http_req_capture(req, "stream")};
    int rc = cg_media_call(svc->media, do_streams, &c);
    if (rc)
        return rc;
    if (!c.out)
        return cg_http_problem(resp, 404, "No such stream",
                               "Nobody is publishing \"%s\" right now. Live streams are listed "
                               "at /api/v1/streams.",
                               c.name);
    add_broadcast(svc, c.out);
    return send_json(resp, c.out);
}

/* GET /api/v1/info: what a page served from the HTTP port needs to find
 * the rest, such as the live events WebSocket (same host, its own port). */
static int api_info(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    const cg_config *cfg = ((cg_services *)ctx)->cfg;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string("clipgate"));
    json_object_set_new(o, "version", json_string(CG_VERSION));
    json_object_set_new(o, "events_port",
                        cfg->events_port ? json_integer(cfg->events_port) : json_null());
    json_object_set_new(o, "events_path", json_string("/events"));
    json_object_set_new(o, "tls", json_boolean(cfg->tls_cert != NULL));
    return send_json(resp, o);
}

static const cg_http_route api_routes[] = {
    {.method = "GET", .pattern = "/api/v1/info", .handler = api_info, .name = "api_info"},
    {.method = "GET", .pattern = "/api/v1/streams", .handler = api_streams, .name = "api_streams"},
    {.method = "GET",
     .pattern = "/api/v1/streams/{stream}",
     .handler = api_stream,
     .name = "api_stream"},
};

int cg_api_routes_add(cg_http_server *srv, cg_services *svc)
{
    return cg_http_server_add_routes(srv, api_routes, sizeof(api_routes) / sizeof(api_routes[0]),
                                     svc);
}
