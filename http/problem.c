#include "problem.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

const char *cg_http_reason(int status)
{
    const char *r = status > 0 ? MHD_get_reason_phrase_for((unsigned)status) : NULL;
    /* MHD answers "Unknown" for codes it has no phrase for. */
    return r && *r ? r : "Unknown";
}

int cg_http_problemv(cg_http_resp *resp, int status, const char *title, const char *detail_fmt,
                     va_list ap)
{
    cg_http_resp_status(resp, status);
    char detail[1024];
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    /* jansson does the JSON string escaping of client-supplied text (paths,
     * header values) that details often quote. */
    json_t *doc =
        json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                  title ? title : cg_http_reason(status), "status", status, "detail", detail);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        /* detail may hold bytes that are not UTF-8 (a raw path): retry with
         * a detail that cannot fail rather than send no explanation. */
        doc = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                        cg_http_reason(status), "status", status, "detail",
                        "The request could not be processed; check its URL and headers.");
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text)
            return CG_ENOMEM;
    }
    return cg_http_resp_body_take(resp, text, strlen(text), "application/problem+json");
}

int cg_http_problem(cg_http_resp *resp, int status, const char *title, const char *detail_fmt, ...)
{
    va_list ap;
    va_start(ap, detail_fmt);
    int rc = cg_http_problemv(resp, status, title, detail_fmt, ap);
    va_end(ap);
    return rc;
}
