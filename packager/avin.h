/* Stored objects read back-to-back as one fragmented MP4 by libavformat:
 * the init segment and then media segments (one for a thumbnail, a range
 * for a clip). A custom AVIOContext walks the objects in order, so only
 * what the demuxer asks for is read and nothing is staged in memory or on
 * disk. The input is not seekable.
 *
 * The caller keeps a cg_avin on its stack: ic is the open demuxer and err
 * the first storage error, both read-only for it; the rest is private. */
#ifndef CG_PACKAGER_AVIN_H
#define CG_PACKAGER_AVIN_H

#include <stddef.h>
#include <stdint.h>

#include <libavformat/avformat.h>

#include "storage/storage.h"

typedef struct cg_avin {
    AVFormatContext *ic; /* the open mp4 demuxer after cg_avin_open */
    int err;             /* first storage read error (CG_EIO), 0 if none */
    AVIOContext *pb;
    cg_storage_obj *const *objs;
    size_t nobj, cur;
    uint64_t off;
} cg_avin;

/* Opens the mp4 demuxer over objs[0..nobj), read in io_buf-byte requests.
 * in is zeroed first; objs are borrowed and must stay open until
 * cg_avin_close. Returns 0 or a negative AVERROR code: AVERROR(ENOMEM) when
 * an allocation failed, else what avformat_open_input returned (in->err
 * says whether a storage read failed underneath). Call cg_avin_close after
 * a failure too. */
int cg_avin_open(cg_avin *in, cg_storage_obj *const *objs, size_t nobj, int io_buf);

/* Closes the demuxer and the I/O context (not the objects). Accepts a
 * zeroed or half-opened in; idempotent. */
void cg_avin_close(cg_avin *in);

/* CG_ENOMEM for AVERROR(ENOMEM), CG_EIO for any other AVERROR code. */
int cg_avin_err(int averror);

#endif
