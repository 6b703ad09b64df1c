/* Stored objects as one libavformat input (see avin.h). */
#include "packager/avin.h"

#include <string.h>

#include "core/err.h"

static int avin_read(void *opaque, uint8_t *buf, int size)
{
    cg_avin *in = opaque;
    while (in->cur < in->nobj) {
        size_t got = 0;
        int rc = cg_storage_obj_read(in->objs[in->cur], in->off, buf, (size_t)size, &got);
        if (rc) {
            in->err = rc;
            return AVERROR(EIO);
        }
        if (got) {
            in->off += got;
            return (int)got;
        }
        in->cur++;
        in->off = 0;
    }
    return AVERROR_EOF;
}

int cg_avin_open(cg_avin *in, cg_storage_obj *const *objs, size_t nobj, int io_buf)
{
    memset(in, 0, sizeof(*in));
    in->objs = objs;
    in->nobj = nobj;
    uint8_t *iobuf = av_malloc((size_t)io_buf);
    if (!iobuf)
        return AVERROR(ENOMEM);
    in->pb = avio_alloc_context(iobuf, io_buf, 0, in, avin_read, NULL, NULL);
    if (!in->pb) {
        av_free(iobuf);
        return AVERROR(ENOMEM);
    }
    in->pb->seekable = 0;
    if (!(in->ic = avformat_alloc_context()))
        return AVERROR(ENOMEM);
    in->ic->pb = in->pb;
    in->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    /* On failure avformat_open_input frees the context and NULLs ic. */
    return avformat_open_input(&in->ic, NULL, av_find_input_format("mp4"), NULL);
}

void cg_avin_close(cg_avin *in)
{
    avformat_close_input(&in->ic);
    if (in->pb) {
        av_freep(&in->pb->buffer);
        avio_context_free(&in->pb);
    }
}

int cg_avin_err(int averror)
{
    return averror == AVERROR(ENOMEM) ? CG_ENOMEM : CG_EIO;
}
