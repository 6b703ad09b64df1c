/* fMP4 writer over libavformat's mp4 muxer (see fmp4.h for the flags).
 *
 * Everything the muxer writes lands in `acc` through a custom AVIOContext;
 * after the header (init segment) and after each fragment flush, acc is
 * handed over whole. Collecting everything, rather than switching targets,
 * means a byte the muxer writes early or late is never lost or misfiled. */
#include "packager/fmp4.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>

#include "core/err.h"

#define IO_BUF 65536
#define INIT_MAX (1u << 20)

struct cg_fmp4 {
    AVFormatContext *fmt;
    AVPacket *pkt;
    cg_dbuf acc;
    int vst, ast; /* stream index, -1 if absent */
    int header_done;
    int broken; /* the muxer failed; the writer cannot be trusted any more */
    size_t samples;
};

static int io_write(void *opaque, uint8_t *buf, int size)
{
    cg_fmp4 *m = opaque;
    cg_dbuf_add(&m->acc, buf, (size_t)size);
    return cg_dbuf_err(&m->acc) ? AVERROR(ENOSPC) : size;
}

static int set_extradata(AVCodecParameters *par, const uint8_t *p, size_t len)
{
    if (!len)
        return 0;
    par->extradata = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        return CG_ENOMEM;
    memcpy(par->extradata, p, len);
    par->extradata_size = (int)len;
    return 0;
}

void cg_fmp4_free(cg_fmp4 *m)
{
    if (!m)
        return;
    if (m->fmt) {
        AVIOContext *pb = m->fmt->pb;
        /* Frees the muxer's private state (deinit) without a trailer:
         * nothing may be written after the last segment. */
        avformat_free_context(m->fmt);
        if (pb) {
            av_freep(&pb->buffer);
            avio_context_free(&pb);
        }
    }
    av_packet_free(&m->pkt);
    cg_dbuf_free(&m->acc);
    free(m);
}

/* Moves what the muxer wrote so far into dst. */
static int take(cg_fmp4 *m, cg_dbuf *dst)
{
    avio_flush(m->fmt->pb);
    int rc = cg_dbuf_err(&m->acc);
    if (!rc && m->fmt->pb->error)
        rc = m->fmt->pb->error == AVERROR(ENOSPC) ? CG_ENOSPC : CG_EIO;
    if (!rc && m->acc.len) {
        cg_dbuf_add(dst, m->acc.p, m->acc.len);
        rc = cg_dbuf_err(dst);
    }
    m->acc.len = 0;
    return rc;
}

int cg_fmp4_new(cg_fmp4 **out, const cg_fmp4_cfg *cfg, cg_dbuf *init)
{
    if (!out || !cfg || !init || (!cfg->avc_ps && cfg->audio == CG_FMP4_AUDIO_NONE))
        return CG_EINVAL;
    if (cfg->avc_ps && (!cfg->avc_ps_len || cfg->avc_ps_len > INIT_MAX))
        return CG_EINVAL;
    cg_fmp4 *m = calloc(1, sizeof(*m));
    if (!m)
        return CG_ENOMEM;
    m->vst = m->ast = -1;
    cg_dbuf_init(&m->acc, cfg->max_segment_bytes ? cfg->max_segment_bytes : (64u << 20));
    int rc = CG_ENOMEM;
    m->pkt = av_packet_alloc();
    if (!m->pkt || avformat_alloc_output_context2(&m->fmt, NULL, "mp4", NULL) < 0 || !m->fmt)
        goto fail;
    uint8_t *iobuf = av_malloc(IO_BUF);
    if (!iobuf)
        goto fail;
    m->fmt->pb = avio_alloc_context(iobuf, IO_BUF, 1, m, NULL, io_write, NULL);
    if (!m->fmt->pb) {
        av_free(iobuf);
        goto fail;
    }

    if (cfg->avc_ps) {
        AVStream *st = avformat_new_stream(m->fmt, NULL);
        if (!st)
            goto fail;
        st->time_base = (AVRational){1, 90000};
        AVCodecParameters *par = st->codecpar;
        par->codec_type = AVMEDIA_TYPE_VIDEO;
        par->codec_id = AV_CODEC_ID_H264;
        par->width = cfg->width;
        par->height = cfg->height;
        if ((rc = set_extradata(par, cfg->avc_ps, cfg->avc_ps_len)))
            goto fail;
        m->vst = st->index;
    }
    if (cfg->audio != CG_FMP4_AUDIO_NONE) {
        rc = CG_ENOMEM;
        AVStream *st = avformat_new_stream(m->fmt, NULL);
        if (!st)
            goto fail;
        st->time_base = (AVRational){1, 48000};
        AVCodecParameters *par = st->codecpar;
        par->codec_type = AVMEDIA_TYPE_AUDIO;
        par->codec_id = cfg->audio == CG_FMP4_AUDIO_AAC ? AV_CODEC_ID_AAC : AV_CODEC_ID_OPUS;
        par->sample_rate = 48000;
        av_channel_layout_default(&par->ch_layout, cfg->channels ? cfg->channels : 2);
        par->frame_size = cfg->audio == CG_FMP4_AUDIO_AAC ? 1024 : 960;
        if ((rc = set_extradata(par, cfg->audio_config, cfg->audio_config_len)))
            goto fail;
        m->ast = st->index;
    }

    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+frag_custom+cmaf+frag_discont+skip_trailer", 0);
    /* Sample times must stay exactly ours: no edit lists, no shifting. */
    av_dict_set(&opts, "use_editlist", "0", 0);
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    int ret = avformat_write_header(m->fmt, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        rc = ret == AVERROR(ENOMEM) ? CG_ENOMEM : CG_EUNSUPP;
        goto fail;
    }
    m->header_done = 1;
    cg_dbuf tmp;
    cg_dbuf_init(&tmp, INIT_MAX);
    rc = take(m, &tmp);
    if (!rc) {
        cg_dbuf_add(init, tmp.p, tmp.len);
        rc = cg_dbuf_err(init);
    }
    cg_dbuf_free(&tmp);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    cg_fmp4_free(m);
    return rc;
}

int cg_fmp4_write(cg_fmp4 *m, int track, const uint8_t *data, size_t len, int64_t dts,
                  int64_t duration, int key)
{
    if (!m || !data || !len || len > INT32_MAX || dts < 0 || duration < 0)
        return CG_EINVAL;
    if (m->broken)
        return CG_ESTATE;
    int idx = track == CG_FMP4_VIDEO ? m->vst : track == CG_FMP4_AUDIO ? m->ast : -1;
    if (idx < 0)
        return CG_EINVAL;
    AVStream *st = m->fmt->streams[idx];
    AVRational tb = {1, track == CG_FMP4_VIDEO ? 90000 : 48000};
    AVPacket *p = m->pkt;
    /* Not refcounted: libavformat copies what it keeps. */
    p->data = (uint8_t *)data;
    p->size = (int)len;
    p->stream_index = idx;
    p->pts = p->dts = av_rescale_q(dts, tb, st->time_base);
    p->duration = av_rescale_q(duration, tb, st->time_base);
    p->flags = key ? AV_PKT_FLAG_KEY : 0;
    int ret = av_write_frame(m->fmt, p);
    av_packet_unref(p);
    if (ret < 0) {
        if (ret != AVERROR(EINVAL))
            m->broken = 1;
        return ret == AVERROR(ENOMEM) ? CG_ENOMEM : CG_EIO;
    }
    m->samples++;
    return 0;
}

int cg_fmp4_flush(cg_fmp4 *m, cg_dbuf *seg)
{
    if (!m || !seg)
        return CG_EINVAL;
    if (m->broken)
        return CG_ESTATE;
    if (!m->samples)
        return 0;
    m->samples = 0;
    int ret = av_write_frame(m->fmt, NULL);
    int rc = ret < 0 ? CG_EIO : take(m, seg);
    /* Without this the muxer snaps each track's next fragment to the end
     * of its previous one, erasing real gaps (lost frames, dropped
     * segments) and letting audio drift off its own timestamps. */
    if (!rc && av_opt_set(m->fmt->priv_data, "movflags", "+frag_discont", 0) < 0)
        rc = CG_EIO;
    if (rc)
        m->broken = 1;
    return rc;
}
