/* Checks the WHIP and WHEP handlers share, each answering with the same
 * problem the client would get from either endpoint: the bearer token, the
 * stream name, and an SDP offer's content type, presence and syntax. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/hub.h"
#include "http/problem.h"
#include "http/services.h"

int cg_http_bearer_ok(const cg_http_req *req, const char *token)
{
    if (!token || !*token)
        return 1;
    const char *h = cg_http_req_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    size_t a = strlen(h), b = strlen(token);
    unsigned diff = a != b;
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned)(unsigned char)token[i] ^ (unsigned)(unsigned char)(i < a ? h[i] : 0);
    return diff == 0;
}

int cg_http_content_type_is(const cg_http_req *req, const char *type)
{
    const char *h = cg_http_req_header(req, "Content-Type");
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    size_t n = strlen(type);
    return strncasecmp(h, type, n) == 0 && (h[n] == '\0' || h[n] == ';' || h[n] == ' ');
}

int cg_http_stream_ok(cg_http_resp *resp, const char *stream)
{
    if (stream && cg_stream_name_valid(stream))
        return 1;
    cg_http_problem(resp, 400, "Bad stream name",
                    "Stream names are 1 to %d characters from A-Z, a-z, 0-9, '_' and '-'.",
                    CG_STREAM_NAME_MAX);
    return 0;
}

int cg_http_read_offer(cg_http_req *req, cg_http_resp *resp, const char *proto, cg_sdp **offer)
{
    *offer = NULL;
    if (!cg_http_content_type_is(req, "application/sdp"))
        return cg_http_problem(resp, 415, "Unsupported Media Type",
                               "A %s offer must be sent with \"Content-Type: application/sdp\".",
                               proto);
    size_t len;
    const uint8_t *body = cg_http_req_body(req, &len);
    if (len == 0)
        return cg_http_problem(resp, 400, "Empty offer", "The request body must be an SDP offer.");
    char why[512];
    int rc = cg_sdp_parse(offer, (const char *)body, len, why, sizeof(why));
    if (rc)
        return cg_http_problem(resp, 400, "Malformed SDP offer", "%s",
                               *why ? why : cg_strerror(rc));
    return 0;
}

int cg_http_offer_options(cg_http_req *req, cg_http_resp *resp, void *ctx)
{
    cg_http_resp_status(resp, 204);
    cg_http_resp_header(resp, "Accept-Post", "application/sdp");
    return 0;
}
