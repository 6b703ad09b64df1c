/* Test helpers shared by the packager tests: make media with the ffmpeg
 * CLI, demux it with libavformat into cg_frames shaped exactly as WHIP
 * ingest delivers them, and ask ffprobe/ffmpeg about the output. */
#ifndef CG_TEST_MEDIA_UTIL_H
#define CG_TEST_MEDIA_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>

#include "core/frame.h"

#define MU_WALL_BASE 1700000000000000ull /* synthetic capture clock origin */

static inline int mu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void mu_rm_rf(const char *path)
{
    nftw(path, mu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes a scratch directory; out holds at least 256 bytes. */
static inline int mu_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, cap, "%s/cg-%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
    return mkdtemp(out) ? 0 : -1;
}

/* Runs a shell command; captures stdout+stderr into out (NUL-terminated).
 * Returns the exit status, or -1. */
static inline int mu_run(const char *cmd, char *out, size_t cap)
{
    char full[8192];
    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t n = 0;
    if (out && cap) {
        size_t got;
        while (n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
            n += got;
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof(sink), p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* H.264 Constrained Baseline 640x360 30 fps with a keyframe every gop
 * frames, plus Opus 48 kHz stereo 20 ms frames (a sine, so a decoder has
 * real signal), `seconds` long, into path (mp4). what: "av", "v" or "a". */
static inline int mu_make_media(const char *path, int gop, int seconds, const char *what)
{
    char cmd[2048];
    const char *v = "-f lavfi -i testsrc2=size=640x360:rate=30";
    const char *a = "-f lavfi -i sine=frequency=440:sample_rate=48000";
    const char *venc = "-c:v libx264 -profile:v baseline -preset veryfast -pix_fmt yuv420p "
                       "-sc_threshold 0 -bf 0";
    const char *aenc = "-c:a libopus -b:a 64k -frame_duration 20 -ac 2 -ar 48000";
    int has_v = strchr(what, 'v') != NULL, has_a = strchr(what, 'a') != NULL;
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -y %s %s -t %d %s -g %d -keyint_min %d %s %s %s",
             has_v ? v : "", has_a ? a : "", seconds, has_v ? venc : "", gop, gop,
             has_a ? aenc : "", has_v && !has_a ? "-an" : "", path);
    char out[4096];
    int rc = mu_run(cmd, out, sizeof(out));
    if (rc != 0)
        fprintf(stderr, "ffmpeg failed (%d): %s\n", rc, out);
    return rc;
}

typedef void (*mu_frame_fn)(void *arg, cg_frame *f);

/* Demuxes path and calls fn with each packet as a cg_frame (borrowed for
 * the call): H.264 in Annex B with SPS/PPS before every IDR (the
 * h264_mp4toannexb filter does that), pts on one epoch for both tracks
 * (the earliest start), at 90000 for video and 48000 for Opus, wall_us
 * synthetic. Returns the number of frames, or -1. */
static inline int mu_feed(const char *path, mu_frame_fn fn, void *arg)
{
    AVFormatContext *ic = NULL;
    if (avformat_open_input(&ic, path, NULL, NULL) < 0)
        return -1;
    avformat_find_stream_info(ic, NULL);
    AVBSFContext *bsf = NULL;
    int vi = -1, ai = -1;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVCodecParameters *par = ic->streams[i]->codecpar;
        if (par->codec_id == AV_CODEC_ID_H264 && vi < 0)
            vi = (int)i;
        if (par->codec_id == AV_CODEC_ID_OPUS && ai < 0)
            ai = (int)i;
    }
    if (vi >= 0) {
        const AVBitStreamFilter *f = av_bsf_get_by_name("h264_mp4toannexb");
        av_bsf_alloc(f, &bsf);
        avcodec_parameters_copy(bsf->par_in, ic->streams[vi]->codecpar);
        bsf->time_base_in = ic->streams[vi]->time_base;
        av_bsf_init(bsf);
    }
    /* The epoch: the earliest first timestamp of either track, in us,
     * from the packets themselves (the container's start time hides the
     * Opus pre-skip behind an edit list). */
    int64_t epoch_us = INT64_MAX;
    {
        AVFormatContext *scan = NULL;
        AVPacket *sp = av_packet_alloc();
        int seen_v = vi < 0, seen_a = ai < 0;
        if (avformat_open_input(&scan, path, NULL, NULL) == 0) {
            for (int n = 0; n < 1000 && !(seen_v && seen_a) && av_read_frame(scan, sp) >= 0; n++) {
                int idx = sp->stream_index;
                if ((idx == vi && !seen_v) || (idx == ai && !seen_a)) {
                    int64_t us = av_rescale_q(sp->pts, scan->streams[idx]->time_base,
                                              (AVRational){1, 1000000});
                    if (us < epoch_us)
                        epoch_us = us;
                    if (idx == vi)
                        seen_v = 1;
                    else
                        seen_a = 1;
                }
                av_packet_unref(sp);
            }
            avformat_close_input(&scan);
        }
        av_packet_free(&sp);
    }
    AVPacket *pkt = av_packet_alloc();
    int count = 0;
    while (av_read_frame(ic, pkt) >= 0) {
        int idx = pkt->stream_index;
        if (idx != vi && idx != ai) {
            av_packet_unref(pkt);
            continue;
        }
        AVStream *st = ic->streams[idx];
        int is_v = idx == vi;
        if (is_v) {
            av_bsf_send_packet(bsf, pkt);
            if (av_bsf_receive_packet(bsf, pkt) < 0) {
                av_packet_unref(pkt);
                continue;
            }
        }
        uint32_t ts = is_v ? 90000 : 48000;
        int64_t epoch = av_rescale_q(epoch_us, (AVRational){1, 1000000}, (AVRational){1, (int)ts});
        int64_t pts = av_rescale_q(pkt->pts, st->time_base, (AVRational){1, (int)ts}) - epoch;
        cg_frame *f = NULL;
        cg_frame_new(&f, (size_t)pkt->size);
        memcpy(f->data, pkt->data, (size_t)pkt->size);
        f->kind = is_v ? CG_MEDIA_VIDEO : CG_MEDIA_AUDIO;
        f->codec = is_v ? CG_CODEC_H264 : CG_CODEC_OPUS;
        f->timescale = ts;
        f->pts = f->dts = pts;
        f->flags = is_v ? ((pkt->flags & AV_PKT_FLAG_KEY) ? CG_FRAME_KEY : 0) : CG_FRAME_KEY;
        f->wall_us = MU_WALL_BASE + (uint64_t)(pts * 1000000 / ts);
        fn(arg, f);
        cg_frame_unref(f);
        av_packet_unref(pkt);
        count++;
    }
    av_packet_free(&pkt);
    av_bsf_free(&bsf);
    avformat_close_input(&ic);
    return count;
}

/* Writes bytes to dir/name. */
static inline int mu_write(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

/* Appends the file at path to f. */
static inline int mu_append(FILE *f, const char *path)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return -1;
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, f) != n)
            rc = -1;
    fclose(in);
    return rc;
}

/* Concatenates the files a (may be NULL) and b into out. */
static inline int mu_concat(const char *a, const char *b, const char *out)
{
    FILE *f = fopen(out, "wb");
    if (!f)
        return -1;
    int rc = (a ? mu_append(f, a) : 0) | mu_append(f, b);
    return fclose(f) == 0 ? rc : -1;
}

/* Finds `key=` at the start of a line of ffprobe's key=value output. */
static inline const char *mu_find(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return p + kl + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

/* Its value as a number; NAN if absent or N/A. */
static inline double mu_field(const char *text, const char *key)
{
    const char *v = mu_find(text, key);
    if (!v || strncmp(v, "N/A", 3) == 0)
        return 0.0 / 0.0;
    return strtod(v, NULL);
}

/* Its value as a string (up to the end of the line). */
static inline void mu_field_str(const char *text, const char *key, char *out, size_t cap)
{
    const char *v = mu_find(text, key);
    size_t n = v ? strcspn(v, "\r\n") : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, v, n);
    out[n] = '\0';
}

/* Decodes a file (or playlist) completely; returns the exit status and
 * puts ffmpeg's error output into err. */
static inline int mu_decode(const char *path, char *err, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -v error -allowed_extensions ALL -i '%s' -f null - ", path);
    if (!strstr(path, ".m3u8"))
        snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -i '%s' -f null - ", path);
    return mu_run(cmd, err, cap);
}

/* ffprobe a whole file in one run (each run costs a process start):
 * every decoded frame's media type and key flag, then each stream's codec,
 * start and size, as key=value lines; a stream's lines start with
 * codec_name. Decoding errors, if any, are in the text too. */
static inline int mu_probe(const char *path, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries "
             "frame=media_type,key_frame:stream=codec_type,codec_name,start_time,width,height,"
             "is_avc,nal_length_size "
             "-of default=nw=1 '%s'",
             path);
    return mu_run(cmd, out, cap);
}

/* From mu_probe's text: how many frames of one type (v or a) were
 * decoded, and the key flag of the first one (-1 if none). */
static inline int mu_frames(const char *probe, char sel, int *first_key)
{
    const char *want = sel == 'v' ? "media_type=video\nkey_frame=" : "media_type=audio\nkey_frame=";
    size_t wl = strlen(want);
    int n = 0;
    *first_key = -1;
    for (const char *p = strstr(probe, want); p; p = strstr(p + wl, want)) {
        if (n++ == 0)
            *first_key = p[wl] == '1';
    }
    return n;
}

/* The lines of one stream (v or a) out of mu_probe's text. */
static inline void mu_stream(const char *probe, char sel, char *out, size_t cap)
{
    const char *want = sel == 'v' ? "codec_type=video" : "codec_type=audio";
    const char *p = strstr(probe, want);
    out[0] = '\0';
    if (!p)
        return;
    const char *begin = p;
    while (begin > probe && strncmp(begin, "codec_name=", 11) != 0)
        begin--;
    const char *end = strstr(p, "codec_name=");
    size_t n = end ? (size_t)(end - begin) : strlen(begin);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, begin, n);
    out[n] = '\0';
}

/* Seconds covered by a file's video packets: from the first pts to the
 * last pts plus its duration (a picture held over a gap counts in full). */
static inline double mu_video_span(const char *path)
{
    char cmd[2048];
    static char out[1 << 16];
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -select_streams v -show_entries packet=pts_time,duration_time "
             "-of csv=p=0 '%s'",
             path);
    if (mu_run(cmd, out, sizeof(out)) != 0 || !out[0])
        return -1;
    double first = strtod(out, NULL), last = 0, dur = 0;
    for (char *line = out; line && *line;) {
        char *comma = strchr(line, ',');
        if (comma) {
            last = strtod(line, NULL);
            dur = strtod(comma + 1, NULL);
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return last + dur - first;
}

#endif
