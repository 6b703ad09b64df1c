/* RFC 9457 problem details: every HTTP error clipgate sends is an
 * application/problem+json body whose "detail" is a sentence telling the
 * client what was wrong and how to fix it, e.g.
 *   {"type":"about:blank","title":"Payload Too Large","status":413,
 *    "detail":"The request body is 300000 bytes; the limit is 262144 ..."} */
#ifndef CG_HTTP_PROBLEM_H
#define CG_HTTP_PROBLEM_H

#include <stdarg.h>

#include "http/server.h"

/* Sets resp's status and replaces its body with a problem document. title
 * may be NULL for the standard reason phrase of status. Headers already
 * added (Retry-After, Allow, ...) are kept. resp is borrowed.
 * Returns 0 or CG_ENOMEM (resp then has the status and no body). */
int cg_http_problem(cg_http_resp *resp, int status, const char *title, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cg_http_problemv(cg_http_resp *resp, int status, const char *title, const char *detail_fmt,
                     va_list ap) __attribute__((format(printf, 4, 0)));

/* Standard reason phrase ("Not Found"), "Unknown" for unlisted codes.
 * Static string. */
const char *cg_http_reason(int status);

#endif
