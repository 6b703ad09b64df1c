/* Response bodies from storage objects, shared by the HLS, recording and
 * clip routes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/err.h"
#include "http/services.h"
#include "storage/storage.h"

#define MEMORY_BODY_MAX (256u << 20) /* backends without a file descriptor */

int cg_http_resp_body_object(cg_http_resp *resp, cg_storage_obj *o, const char *type,
                             const char *cache_control)
{
    uint64_t size = cg_storage_obj_size(o);
    char etag[64];
    snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "\"", size, cg_storage_obj_mtime_us(o));
    cg_http_resp_header(resp, "ETag", etag);
    cg_http_resp_header(resp, "Cache-Control", cache_control);
    int fd = cg_storage_obj_fd(o);
    if (fd >= 0) {
        int own = dup(fd);
        cg_storage_obj_close(o);
        if (own < 0)
            return CG_EIO;
        return cg_http_resp_body_fd(resp, own, 0, size, type);
    }
    if (size > MEMORY_BODY_MAX) {
        cg_storage_obj_close(o);
        return CG_ENOSPC;
    }
    uint8_t *buf = malloc(size ? size : 1);
    uint64_t off = 0;
    int rc = buf ? 0 : CG_ENOMEM;
    while (!rc && off < size) {
        size_t got = 0;
        rc = cg_storage_obj_read(o, off, buf + off, (size_t)(size - off), &got);
        if (!rc && got == 0)
            rc = CG_EIO; /* shorter than its size: the store changed under us */
        off += got;
    }
    cg_storage_obj_close(o);
    if (rc) {
        free(buf);
        return rc;
    }
    return cg_http_resp_body_take(resp, buf, (size_t)size, type);
}
