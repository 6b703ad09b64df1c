/* Fuzzes the text parsers that see raw client input in HTTP requests: the
 * percent-decoder (paths and queries), the query lookup, the Range header
 * parser and the duration syntax of clip and preview parameters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "http/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The server hands these parsers NUL-terminated strings. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    size_t n;
    if (out) {
        cg_http_pct_decode(s, len, false, out, len + 1, &n);
        cg_http_pct_decode(s, len, true, out, len + 1, &n);
        /* Too small on purpose: must refuse, not overflow. */
        cg_http_pct_decode(s, len, true, out, len, &n);
        static const char *const names[] = {"time", "duration", "last", "filename", "a", ""};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            cg_http_query_get(s, names[i], out, len + 1, &n);
    }
    static const uint64_t sizes[] = {0, 1, 10000, UINT64_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t start, rlen;
        if (cg_http_range_parse(s, sizes[i], &start, &rlen) == 0 &&
            (rlen == 0 || start + rlen > sizes[i] || start + rlen < start))
            abort(); /* a satisfiable range always lies inside the body */
    }
    uint64_t us;
    cg_parse_duration_us(s, &us);
    cg_parse_size(s, &us);
    free(out);
    free(s);
    return 0;
}
