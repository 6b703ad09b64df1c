#include "events/emit.h"

#include <stdio.h>

#include "core/err.h"

/* json_pack gives NULL on bad input (a string that is not UTF-8): that is
 * an error here, not an event without fields. */
static int emit(cg_events *ev, const char *type, json_t *fields)
{
    return fields ? cg_events_emit(ev, type, fields) : CG_EINVAL;
}

/* jansson refuses NULL strings in json_pack: an empty string keeps the
 * field present. */
static const char *str(const char *s)
{
    return s ? s : "";
}

int cg_events_stream_started(cg_events *ev, const char *stream, const char *broadcast, int video,
                             int audio)
{
    if (!ev)
        return 0;
    return emit(ev, "stream.started",
                json_pack("{s:s,s:s,s:b,s:b}", "stream", str(stream), "broadcast", str(broadcast),
                          "video", video, "audio", audio));
}

int cg_events_stream_ended(cg_events *ev, const char *stream, const char *broadcast,
                           double duration_s)
{
    if (!ev)
        return 0;
    return emit(ev, "stream.ended",
                json_pack("{s:s,s:s,s:f}", "stream", str(stream), "broadcast", str(broadcast),
                          "duration", duration_s));
}

int cg_events_segment(cg_events *ev, const char *stream, const char *broadcast, uint64_t n,
                      double start_s, double duration_s, uint64_t pdt_wall_us)
{
    if (!ev)
        return 0;
    char pdt[32];
    if (cg_events_rfc3339(pdt_wall_us, pdt, sizeof(pdt)) != 0)
        return CG_EINVAL;
    return emit(ev, "segment",
                json_pack("{s:s,s:s,s:I,s:f,s:f,s:s}", "stream", str(stream), "broadcast",
                          str(broadcast), "segment", (json_int_t)n, "start", start_s, "duration",
                          duration_s, "pdt", pdt));
}

int cg_events_thumbnail(cg_events *ev, const char *stream, const char *broadcast, uint64_t n,
                        const char *url)
{
    if (!ev)
        return 0;
    return emit(ev, "thumbnail",
                json_pack("{s:s,s:s,s:I,s:s}", "stream", str(stream), "broadcast", str(broadcast),
                          "segment", (json_int_t)n, "url", str(url)));
}

int cg_events_clip_created(cg_events *ev, const char *id, const char *broadcast, const char *stream,
                           double start_s, double duration_s)
{
    if (!ev)
        return 0;
    char mp4[96], m3u8[96];
    snprintf(mp4, sizeof(mp4), "/clips/%s.mp4", str(id));
    snprintf(m3u8, sizeof(m3u8), "/clips/%s.m3u8", str(id));
    return emit(ev, "clip.created",
                json_pack("{s:s,s:s,s:s,s:f,s:f,s:s,s:s}", "id", str(id), "broadcast",
                          str(broadcast), "stream", str(stream), "start", start_s, "duration",
                          duration_s, "mp4", mp4, "m3u8", m3u8));
}

int cg_events_viewers(cg_events *ev, const char *stream, size_t n)
{
    if (!ev)
        return 0;
    return emit(ev, "viewers",
                json_pack("{s:s,s:I}", "stream", str(stream), "viewers", (json_int_t)n));
}
