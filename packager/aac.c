/* Opus -> AAC-LC (see aac.h). The sample clock is ours, not the codecs':
 * next_pts is the input time of the sample after the last one queued, so
 * the pts of any queued sample is known exactly and the encoder is handed
 * frames with exact pts; it then stamps its packets (priming included). */
#include "packager/aac.h"

#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "core/err.h"

#define CHANNELS 2

struct cg_aac {
    AVCodecContext *dec;
    AVCodecContext *enc;
    AVPacket *in;
    AVFrame *decoded;
    AVFrame *converted;
    AVFrame *frame; /* one encoder frame */
    SwrContext *swr;
    AVAudioFifo *fifo;
    float *silence; /* CG_AAC_FRAME zero samples, one plane reused for all */
    int started;
    int drained;
    int64_t next_pts;
    AVPacket *pending[CG_AAC_MAX_PENDING];
    size_t head, count;
    AVPacket *out; /* the packet last given by cg_aac_pull */
};

static int av_to_cg(int averr)
{
    return averr == AVERROR(ENOMEM) ? CG_ENOMEM : CG_EIO;
}

void cg_aac_free(cg_aac *a)
{
    if (!a)
        return;
    avcodec_free_context(&a->dec);
    avcodec_free_context(&a->enc);
    av_packet_free(&a->in);
    av_frame_free(&a->decoded);
    av_frame_free(&a->converted);
    av_frame_free(&a->frame);
    swr_free(&a->swr);
    if (a->fifo)
        av_audio_fifo_free(a->fifo);
    for (size_t i = 0; i < a->count; i++)
        av_packet_free(&a->pending[(a->head + i) % CG_AAC_MAX_PENDING]);
    av_packet_free(&a->out);
    free(a->silence);
    free(a);
}

int cg_aac_new(cg_aac **out, uint32_t bitrate)
{
    cg_aac *a = calloc(1, sizeof(*a));
    if (!a)
        return CG_ENOMEM;
    int rc = CG_EUNSUPP;
    const AVCodec *dc = avcodec_find_decoder(AV_CODEC_ID_OPUS);
    const AVCodec *ec = avcodec_find_encoder_by_name("aac");
    if (!dc || !ec)
        goto fail;
    rc = CG_ENOMEM;
    a->dec = avcodec_alloc_context3(dc);
    a->enc = avcodec_alloc_context3(ec);
    a->in = av_packet_alloc();
    a->out = av_packet_alloc();
    a->decoded = av_frame_alloc();
    a->converted = av_frame_alloc();
    a->frame = av_frame_alloc();
    a->silence = calloc(CG_AAC_FRAME, sizeof(float));
    a->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, CHANNELS, CG_AAC_FRAME * 4);
    if (!a->dec || !a->enc || !a->in || !a->out || !a->decoded || !a->converted || !a->frame ||
        !a->silence || !a->fifo)
        goto fail;

    /* WebRTC Opus is always 48 kHz and signalled as 2 channels (RFC 7587);
     * the decoder upmixes mono packets. No extradata: no pre-skip. */
    a->dec->sample_rate = CG_AAC_RATE;
    av_channel_layout_default(&a->dec->ch_layout, CHANNELS);
    a->dec->pkt_timebase = (AVRational){1, CG_AAC_RATE};
    rc = CG_EUNSUPP;
    if (avcodec_open2(a->dec, dc, NULL) < 0)
        goto fail;

    a->enc->sample_rate = CG_AAC_RATE;
    av_channel_layout_default(&a->enc->ch_layout, CHANNELS);
    a->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    a->enc->bit_rate = bitrate ? bitrate : 128000;
    a->enc->time_base = (AVRational){1, CG_AAC_RATE};
    a->enc->profile = FF_PROFILE_AAC_LOW;
    /* The AudioSpecificConfig goes into the init segment, not the packets. */
    a->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (avcodec_open2(a->enc, ec, NULL) < 0 || a->enc->frame_size != CG_AAC_FRAME ||
        !a->enc->extradata_size)
        goto fail;
    *out = a;
    return 0;
fail:
    cg_aac_free(a);
    return rc;
}

const uint8_t *cg_aac_config(const cg_aac *a, size_t *len)
{
    *len = (size_t)a->enc->extradata_size;
    return a->enc->extradata;
}

static int queue_packet(cg_aac *a, AVPacket *pkt)
{
    if (a->count == CG_AAC_MAX_PENDING) {
        av_packet_free(&pkt);
        return CG_ELIMIT;
    }
    a->pending[(a->head + a->count) % CG_AAC_MAX_PENDING] = pkt;
    a->count++;
    return 0;
}

/* Sends one frame (or NULL to flush) and collects what comes out. */
static int encode(cg_aac *a, AVFrame *f)
{
    int ret = avcodec_send_frame(a->enc, f);
    if (ret < 0)
        return av_to_cg(ret);
    for (;;) {
        AVPacket *pkt = av_packet_alloc();
        if (!pkt)
            return CG_ENOMEM;
        ret = avcodec_receive_packet(a->enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            av_packet_free(&pkt);
            return 0;
        }
        if (ret < 0) {
            av_packet_free(&pkt);
            return av_to_cg(ret);
        }
        int rc = queue_packet(a, pkt);
        if (rc)
            return rc;
    }
}

/* Encodes queued samples in whole frames; with `partial`, also the tail
 * (the encoder accepts one short last frame). */
static int encode_fifo(cg_aac *a, int partial)
{
    for (;;) {
        int have = av_audio_fifo_size(a->fifo);
        if (have == 0 || (have < CG_AAC_FRAME && !partial))
            return 0;
        int n = have < CG_AAC_FRAME ? have : CG_AAC_FRAME;
        av_frame_unref(a->frame);
        a->frame->nb_samples = n;
        a->frame->format = AV_SAMPLE_FMT_FLTP;
        a->frame->sample_rate = CG_AAC_RATE;
        av_channel_layout_default(&a->frame->ch_layout, CHANNELS);
        if (av_frame_get_buffer(a->frame, 0) < 0)
            return CG_ENOMEM;
        a->frame->pts = a->next_pts - have;
        if (av_audio_fifo_read(a->fifo, (void **)a->frame->data, n) != n)
            return CG_EIO;
        int rc = encode(a, a->frame);
        if (rc)
            return rc;
    }
}

static int add_silence(cg_aac *a, int64_t n)
{
    void *planes[CHANNELS];
    for (int c = 0; c < CHANNELS; c++)
        planes[c] = a->silence;
    while (n > 0) {
        int chunk = n > CG_AAC_FRAME ? CG_AAC_FRAME : (int)n;
        if (av_audio_fifo_write(a->fifo, planes, chunk) != chunk)
            return CG_ENOMEM;
        a->next_pts += chunk;
        n -= chunk;
        int rc = encode_fifo(a, 0);
        if (rc)
            return rc;
    }
    return 0;
}

/* Brings f to the encoder's format when the decoder gave something else. */
static int convert(cg_aac *a, AVFrame *f, AVFrame **res)
{
    if (f->format == AV_SAMPLE_FMT_FLTP && f->sample_rate == CG_AAC_RATE &&
        f->ch_layout.nb_channels == CHANNELS) {
        *res = f;
        return 0;
    }
    if (f->sample_rate != CG_AAC_RATE)
        return CG_EUNSUPP; /* Opus decodes at 48 kHz */
    if (!a->swr) {
        AVChannelLayout out_layout;
        av_channel_layout_default(&out_layout, CHANNELS);
        if (swr_alloc_set_opts2(&a->swr, &out_layout, AV_SAMPLE_FMT_FLTP, CG_AAC_RATE,
                                &f->ch_layout, f->format, f->sample_rate, 0, NULL) < 0 ||
            swr_init(a->swr) < 0)
            return CG_EUNSUPP;
    }
    av_frame_unref(a->converted);
    a->converted->format = AV_SAMPLE_FMT_FLTP;
    a->converted->sample_rate = CG_AAC_RATE;
    av_channel_layout_default(&a->converted->ch_layout, CHANNELS);
    if (swr_convert_frame(a->swr, a->converted, f) < 0)
        return CG_EIO;
    *res = a->converted;
    return 0;
}

static int take_decoded(cg_aac *a, AVFrame *f, int64_t pts)
{
    AVFrame *c;
    int rc = convert(a, f, &c);
    if (rc)
        return rc;
    int n = c->nb_samples;
    if (!a->started) {
        a->next_pts = pts;
        a->started = 1;
    }
    int64_t diff = pts - a->next_pts;
    int skip = 0;
    if (diff > 0 && diff <= CG_AAC_MAX_FILL) {
        rc = add_silence(a, diff); /* lost packets: keep the clock */
    } else if (diff > CG_AAC_MAX_FILL || diff <= -(int64_t)CG_AAC_MAX_FILL) {
        /* A jump: finish what we have and restart the clock there. */
        rc = encode_fifo(a, 1);
        a->next_pts = pts;
    } else if (diff < 0) {
        if (-diff >= n)
            return 0; /* entirely in the past */
        skip = (int)-diff;
    }
    if (rc)
        return rc;
    void *planes[CHANNELS];
    for (int ch = 0; ch < CHANNELS; ch++)
        planes[ch] = (float *)c->extended_data[ch] + skip;
    if (av_audio_fifo_write(a->fifo, planes, n - skip) != n - skip)
        return CG_ENOMEM;
    a->next_pts += n - skip;
    return encode_fifo(a, 0);
}

int cg_aac_push(cg_aac *a, const uint8_t *opus, size_t len, int64_t pts)
{
    if (!a || !opus || !len || len > INT32_MAX)
        return CG_EINVAL;
    if (a->drained)
        return CG_ESTATE;
    av_packet_unref(a->in);
    a->in->data = (uint8_t *)opus;
    a->in->size = (int)len;
    a->in->pts = a->in->dts = pts;
    int ret = avcodec_send_packet(a->dec, a->in);
    av_packet_unref(a->in);
    if (ret == AVERROR_INVALIDDATA)
        return CG_EPROTO;
    if (ret < 0)
        return av_to_cg(ret);
    int64_t at = pts;
    for (;;) {
        ret = avcodec_receive_frame(a->dec, a->decoded);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret == AVERROR_INVALIDDATA)
            return CG_EPROTO;
        if (ret < 0)
            return av_to_cg(ret);
        int n = a->decoded->nb_samples;
        int rc = take_decoded(a, a->decoded, at);
        av_frame_unref(a->decoded);
        if (rc)
            return rc;
        at += n;
    }
}

int cg_aac_drain(cg_aac *a)
{
    if (!a)
        return CG_EINVAL;
    if (a->drained)
        return 0;
    a->drained = 1;
    int rc = a->started ? encode_fifo(a, 1) : 0;
    if (!rc)
        rc = encode(a, NULL);
    return rc;
}

int cg_aac_pull(cg_aac *a, const uint8_t **data, size_t *len, int64_t *pts, int64_t *duration)
{
    av_packet_unref(a->out);
    if (!a->count)
        return CG_EAGAIN;
    AVPacket *p = a->pending[a->head];
    a->head = (a->head + 1) % CG_AAC_MAX_PENDING;
    a->count--;
    av_packet_move_ref(a->out, p);
    av_packet_free(&p);
    *data = a->out->data;
    *len = (size_t)a->out->size;
    *pts = a->out->pts;
    *duration = a->out->duration;
    return 0;
}
