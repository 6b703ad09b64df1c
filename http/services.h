/* What HTTP handlers reach: the configuration and the subsystems, passed as
 * the routes' ctx. Every pointer is owned by main and outlives the server. */
#ifndef CG_HTTP_SERVICES_H
#define CG_HTTP_SERVICES_H

#include "core/config.h"
#include "http/server.h"

struct cg_media;

typedef struct cg_services {
    const cg_config *cfg;
    struct cg_media *media;
} cg_services;

/* Route tables of each HTTP area; each returns cg_http_server_add_routes'
 * result. */
int cg_whip_routes_add(cg_http_server *srv, cg_services *svc);
int cg_api_routes_add(cg_http_server *srv, cg_services *svc);

/* Shared checks for handlers. */
/* 1 when the request carries "Authorization: Bearer <token>" (constant-time
 * compare); always 1 when token is NULL. */
int cg_http_bearer_ok(const cg_http_req *req, const char *token);
/* 1 when the Content-Type's media type (before any ';') equals type,
 * case-insensitively. */
int cg_http_content_type_is(const cg_http_req *req, const char *type);

#endif
