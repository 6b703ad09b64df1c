/* Clip cutter on libavformat: the stored init segment and media segments
 * are read back-to-back as one fragmented MP4 (a custom AVIOContext walks
 * the storage objects in order, so nothing is staged in memory or on
 * disk), and their packets are remuxed into a plain MP4 written to a
 * local file, which the mp4 muxer then rewrites with the moov first
 * (faststart needs a seekable file: that is why the caller names one).
 *
 * Timing: the segments' sample times are the broadcast's media clock
 * (their tfdt), so a clip's bounds compare directly with packet times.
 * Output times are shifted so that the clip's start is 0. In precise mode
 * the frames between the keyframe and the start come out with negative
 * times; with use_editlist on and avoid_negative_ts disabled, the mov
 * muxer turns that into each track's edit list media_time, which is what
 * `ffmpeg -ss T -i x -c copy` produces: players decode from the keyframe
 * and start showing at T. */
#include "clip/cutter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/opt.h>

#include "core/err.h"
#include "packager/avin.h"
#include "packager/playlist.h"

#define IO_BUF 65536
#define MAX_TRACKS 4

/* The clip's storage objects, read one after another as a single stream
 * (packager/avin.h). */
typedef struct src {
    cg_storage_obj **objs;
    size_t nobj;
} src;

static void src_close(src *s)
{
    for (size_t i = 0; i < s->nobj; i++)
        cg_storage_obj_close(s->objs[i]);
    free(s->objs);
    s->objs = NULL;
    s->nobj = 0;
}

/* Opens dir/init + dir/seg-<first..last>. */
static int src_open(src *s, cg_storage *st, const char *dir, const cg_tl_snap *snap,
                    const cg_clip_plan *plan)
{
    size_t nseg = plan->last_seg - plan->first_seg + 1;
    s->objs = calloc(nseg + 1, sizeof(*s->objs));
    if (!s->objs)
        return CG_ENOMEM;
    char name[CG_STORAGE_NAME_MAX + 1], leaf[32];
    for (size_t i = 0; i <= nseg; i++) {
        const cg_tl_segment *seg = cg_tl_snap_seg(snap, plan->first_seg + (i ? i - 1 : 0));
        if (i == 0)
            cg_tl_init_name(seg->period, leaf, sizeof(leaf));
        else
            cg_tl_segment_name(seg->seq, leaf, sizeof(leaf));
        int n = snprintf(name, sizeof(name), "%s/%s", dir, leaf);
        if (n < 0 || (size_t)n >= sizeof(name))
            return CG_EINVAL;
        int rc = cg_storage_open(st, name, &s->objs[i]);
        if (rc)
            return rc;
        s->nobj = i + 1;
    }
    return 0;
}

typedef struct track {
    int out; /* output stream index, -1: not copied */
    int video;
    int started;         /* video: the first keyframe was kept */
    int64_t from, until; /* keep packets with from <= pts (+dur for audio) and pts < until */
    int64_t origin;      /* subtracted from every time */
    int64_t frame_dur;   /* audio: one frame, when the demuxer gives no duration */
} track;

static int check_plan(const cg_tl_snap *snap, const cg_clip_plan *plan)
{
    size_t n = cg_tl_snap_count(snap);
    if (plan->first_seg > plan->last_seg || plan->last_seg >= n || plan->duration_us <= 0 ||
        (plan->mode != CG_CLIP_PRECISE && plan->mode != CG_CLIP_KEYFRAME) ||
        plan->start_us < plan->keyframe_us)
        return CG_EINVAL;
    uint32_t period = cg_tl_snap_seg(snap, plan->first_seg)->period;
    for (size_t i = plan->first_seg; i <= plan->last_seg; i++)
        if (cg_tl_snap_seg(snap, i)->period != period)
            return CG_EUNSUPP;
    return 0;
}

int cg_clip_write_mp4(cg_storage *st, const char *dir, const cg_tl_snap *snap,
                      const cg_clip_plan *plan, const char *out_path)
{
    if (!st || !dir || !snap || !plan || !out_path)
        return CG_EINVAL;
    int rc = check_plan(snap, plan);
    if (rc)
        return rc;

    src s = {0};
    cg_avin in = {0};
    AVFormatContext *ic = NULL, *oc = NULL;
    AVPacket *pkt = NULL;
    AVDictionary *opts = NULL;
    track tracks[MAX_TRACKS];

    if ((rc = src_open(&s, st, dir, snap, plan)))
        goto out;
    int ret = cg_avin_open(&in, s.objs, s.nobj, IO_BUF);
    if (ret < 0) {
        rc = in.err ? in.err : cg_avin_err(ret);
        goto out;
    }
    ic = in.ic;
    if (ic->nb_streams == 0 || ic->nb_streams > MAX_TRACKS) {
        rc = CG_EIO;
        goto out;
    }

    if ((ret = avformat_alloc_output_context2(&oc, NULL, "mp4", out_path)) < 0 || !oc) {
        rc = cg_avin_err(ret);
        goto out;
    }
    AVRational us = {1, 1000000};
    int64_t origin_us = plan->mode == CG_CLIP_PRECISE ? plan->start_us : plan->keyframe_us;
    int64_t end_us = plan->start_us + plan->duration_us;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVStream *is = ic->streams[i];
        track *t = &tracks[i];
        t->out = -1;
        int type = is->codecpar->codec_type;
        if (type != AVMEDIA_TYPE_VIDEO && type != AVMEDIA_TYPE_AUDIO)
            continue;
        AVStream *os = avformat_new_stream(oc, NULL);
        if (!os || (ret = avcodec_parameters_copy(os->codecpar, is->codecpar)) < 0) {
            rc = CG_ENOMEM;
            goto out;
        }
        os->codecpar->codec_tag = 0;
        if (!t->video && !os->codecpar->frame_size)
            os->codecpar->frame_size = os->codecpar->codec_id == AV_CODEC_ID_OPUS ? 960 : 1024;
        os->time_base = is->time_base;
        t->out = os->index;
        t->video = type == AVMEDIA_TYPE_VIDEO;
        t->started = 0;
        /* Video from the keyframe; audio from the clip's start (keyframe
         * mode: the keyframe), both up to the end. */
        int64_t from_us =
            t->video || plan->mode == CG_CLIP_KEYFRAME ? plan->keyframe_us : plan->start_us;
        t->from = av_rescale_q(from_us, us, is->time_base);
        t->until = av_rescale_q_rnd(end_us, us, is->time_base, AV_ROUND_UP);
        t->origin = av_rescale_q(origin_us, us, is->time_base);
        t->frame_dur = 0;
        if (!t->video && is->codecpar->sample_rate > 0)
            t->frame_dur = av_rescale_q(os->codecpar->frame_size,
                                        (AVRational){1, is->codecpar->sample_rate}, is->time_base);
    }
    if ((ret = avio_open(&oc->pb, out_path, AVIO_FLAG_WRITE)) < 0) {
        rc = CG_EIO;
        goto out;
    }
    av_dict_set(&opts, "movflags", "+faststart", 0);
    /* Keyframe clips have nothing to hide: no edit list at all, for
     * players that ignore them. */
    av_dict_set(&opts, "use_editlist", plan->mode == CG_CLIP_PRECISE ? "1" : "0", 0);
    av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
    if ((ret = avformat_write_header(oc, &opts)) < 0) {
        rc = cg_avin_err(ret);
        goto out;
    }

    rc = CG_ENOMEM;
    if (!(pkt = av_packet_alloc()))
        goto out;
    size_t kept = 0;
    while ((ret = av_read_frame(ic, pkt)) >= 0) {
        track *t = pkt->stream_index < (int)ic->nb_streams ? &tracks[pkt->stream_index] : NULL;
        int keep = t && t->out >= 0 && pkt->pts != AV_NOPTS_VALUE && pkt->pts < t->until;
        if (keep && t->video) {
            /* The first video sample must be the keyframe itself. */
            if (!t->started)
                t->started = pkt->pts >= t->from && (pkt->flags & AV_PKT_FLAG_KEY);
            keep = t->started;
        } else if (keep) {
            /* Read without an index, fragments carry no sample durations
             * the demuxer passes on. */
            if (pkt->duration <= 0)
                pkt->duration = t->frame_dur;
            /* Audio: drop whole frames before the start; the one that
             * straddles it is kept and trimmed by the edit list. */
            keep = plan->mode == CG_CLIP_PRECISE ? pkt->pts + pkt->duration > t->from
                                                 : pkt->pts >= t->from;
        }
        if (!keep) {
            av_packet_unref(pkt);
            continue;
        }
        AVStream *os = oc->streams[t->out];
        pkt->pts -= t->origin;
        if (pkt->dts != AV_NOPTS_VALUE)
            pkt->dts -= t->origin;
        av_packet_rescale_ts(pkt, ic->streams[pkt->stream_index]->time_base, os->time_base);
        pkt->stream_index = t->out;
        pkt->pos = -1;
        if ((ret = av_interleaved_write_frame(oc, pkt)) < 0) {
            rc = cg_avin_err(ret);
            goto out;
        }
        kept++;
    }
    av_packet_unref(pkt);
    if (ret != AVERROR_EOF) {
        rc = in.err ? in.err : CG_EIO;
        goto out;
    }
    if (!kept) {
        rc = CG_EIO;
        goto out;
    }
    /* The trailer writes the moov and moves it before the mdat. */
    rc = av_write_trailer(oc) < 0 ? CG_EIO : 0;

out:
    /* After a failure the half-written file is abandoned: freeing the
     * context runs the muxer's deinit without a trailer. */
    av_dict_free(&opts);
    av_packet_free(&pkt);
    if (oc) {
        if (oc->pb)
            avio_closep(&oc->pb);
        avformat_free_context(oc);
    }
    cg_avin_close(&in);
    src_close(&s);
    return rc;
}

static void add_seconds(cg_dbuf *out, int64_t us)
{
    if (us < 0)
        us = 0;
    cg_dbuf_printf(out, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
}

int cg_clip_playlist(const cg_tl_snap *snap, const cg_clip_plan *plan, const char *uri_prefix,
                     cg_dbuf *out)
{
    if (!snap || !plan || !out || plan->first_seg > plan->last_seg ||
        plan->last_seg >= cg_tl_snap_count(snap))
        return CG_EINVAL;
    const char *prefix = uri_prefix ? uri_prefix : "";
    uint32_t ts = cg_tl_snap_info(snap)->timescale;
    if (!ts)
        return CG_EINVAL;
    int64_t target = 1;
    for (size_t i = plan->first_seg; i <= plan->last_seg; i++) {
        const cg_tl_segment *seg = cg_tl_snap_seg(snap, i);
        int64_t secs = (seg->duration + ts - 1) / ts;
        if (secs > target)
            target = secs;
    }
    const cg_tl_segment *first = cg_tl_snap_seg(snap, plan->first_seg);
    int64_t first_us = (int64_t)((__int128)first->start * 1000000 / ts);
    cg_dbuf_adds(out, "#EXTM3U\n#EXT-X-VERSION:7\n");
    cg_dbuf_printf(out, "#EXT-X-TARGETDURATION:%lld\n", (long long)target);
    cg_dbuf_printf(out, "#EXT-X-MEDIA-SEQUENCE:%llu\n", (unsigned long long)first->seq);
    cg_dbuf_adds(out, "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    cg_dbuf_adds(out, "#EXT-X-START:TIME-OFFSET=");
    add_seconds(out, plan->start_us - first_us);
    cg_dbuf_adds(out, ",PRECISE=YES\n");
    char name[32], date[40];
    for (size_t i = plan->first_seg; i <= plan->last_seg; i++) {
        const cg_tl_segment *seg = cg_tl_snap_seg(snap, i);
        if (i > plan->first_seg && (seg->flags & CG_TL_DISCONTINUITY))
            cg_dbuf_adds(out, "#EXT-X-DISCONTINUITY\n");
        if (i == plan->first_seg || seg->period != cg_tl_snap_seg(snap, i - 1)->period) {
            cg_tl_init_name(seg->period, name, sizeof(name));
            cg_dbuf_printf(out, "#EXT-X-MAP:URI=\"%s%s\"\n", prefix, name);
        }
        cg_playlist_iso8601(seg->wall_us, date, sizeof(date));
        cg_dbuf_printf(out, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:", date);
        add_seconds(out, (int64_t)((__int128)seg->duration * 1000000 / ts));
        cg_tl_segment_name(seg->seq, name, sizeof(name));
        cg_dbuf_printf(out, ",\n%s%s\n", prefix, name);
    }
    cg_dbuf_adds(out, "#EXT-X-ENDLIST\n");
    return cg_dbuf_err(out);
}
