"""Segment thumbnails: aiortc publishes for about 10 s; every segment of
the recording gets a JPEG (named in GET /api/v1/recordings/{broadcast} and
served at /recordings/{broadcast}/thumbs/{n}.jpg with image/jpeg, an ETag
and an immutable Cache-Control) that ffprobe reads as mjpeg, 320 wide with
the publisher's 4:3 aspect kept; each one's picture is its segment's
keyframe as FFmpeg extracts it from the served init + media segment and
scales it (psnr filter), and clearly not the keyframe of the segment two
further on (aiortc's pattern moves), so shuffled or stale thumbnails fail.
A WebSocket client on the events port gets one "thumbnail" event per
segment naming the same URL, after that segment's "segment" event and
before the broadcast's "stream.ended". The counters in /metrics agree. After a restart the API
still names the thumbnails and they are served. Bad names answer 400,
absent thumbnails 404, both as problem+json."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

import harness
import hls_util
from hls_util import get

STARTUP_S = 45
PUBLISH_S = 10
THUMB_CACHE = "public, max-age=31536000, immutable"
# Measured (average of the planes): a thumbnail against its own keyframe
# 41.7-44.5 dB (luma 40.3-43.7), against the keyframe two segments on
# 5.8-7.4 dB.
MIN_OWN_PSNR = 35.0
MIN_MARGIN_DB = 20.0

PSNR_LINE = re.compile(r"PSNR y:(\S+) u:(\S+) v:(\S+) average:(\S+)")


def log(msg):
    sys.stderr.write(f"thumbnails: {msg}\n")
    sys.stderr.flush()


def psnr(thumb, ref, size):
    """FFmpeg's psnr filter between a JPEG and a raw full-range 4:2:0
    picture of the same size: {y, u, v, average} in dB."""
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "info", "-i", thumb,
                          "-f", "rawvideo", "-pix_fmt", "yuvj420p", "-video_size", size,
                          "-i", ref, "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=60)
    m = PSNR_LINE.search(res.stderr)
    if res.returncode or not m:
        raise AssertionError(f"psnr {thumb} {ref}: {res.stderr[-2000:]}")
    vals = [99.0 if v == "inf" else float(v) for v in m.groups()]
    return dict(zip(("y", "u", "v", "average"), vals))


def reference_frame(part, dest):
    """The first video frame of an init + media segment file, decoded and
    scaled by FFmpeg as the thumbnailer does (320 wide, even height, full
    range 4:2:0), as raw planes (a container could retag the range)."""
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", part, "-map", "0:v:0",
                          "-frames:v", "1", "-vf", "scale=320:-2", "-pix_fmt", "yuvj420p",
                          "-f", "rawvideo", dest],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=60)
    if res.returncode:
        raise AssertionError(f"ffmpeg first frame of {part}: {res.stderr[-2000:]}")


class EventLog:
    """Every message of the events WebSocket, collected on a thread by
    aiohttp's client."""

    def __init__(self, url):
        self.url = url
        self.events = []
        self.error = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    async def _main(self):
        import aiohttp
        try:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(self.url) as ws:
                    self.connected.set()
                    while not self._stop.is_set():
                        try:
                            msg = await ws.receive(timeout=0.2)
                        except asyncio.TimeoutError:
                            continue
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        self.events.append(json.loads(msg.data))
        except Exception as e:  # reported by the test
            self.error = e
            self.connected.set()

    def of_type(self, kind):
        return [e for e in list(self.events) if e.get("type") == kind]

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)


class Thumbnails(harness.ClipgateTestCase):
    def setUp(self):
        for peer in ("aiortc", "ffmpeg"):
            reason = hls_util.missing(peer)
            if reason:
                self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="cg-thumbs-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def publish(self, cg, stream):
        watch = hls_util.StreamWatch(cg, stream, interval=0.2)
        self.addCleanup(watch.stop)
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), PUBLISH_S)
        self.addCleanup(pub.kill)
        rc = pub.wait(PUBLISH_S + STARTUP_S)
        watch.stop()
        self.assertEqual(rc, 0, pub.describe())
        ids = {hls_util.broadcast_of_stream(d) for d in watch.live_docs()} - {None}
        self.assertEqual(len(ids), 1, f"broadcast ids seen while publishing: {ids}")
        return ids.pop()

    def all_thumbnails(self, cg, bid):
        """The recording's segments once every one names its thumbnail."""
        def ready():
            doc = hls_util.recording(cg, bid)
            segs = doc["segments"]
            return segs if segs and all("thumbnail" in s for s in segs) else None
        try:
            return hls_util.wait_for(ready, 30, what="a thumbnail for every segment")
        except AssertionError:
            doc = hls_util.recording(cg, bid)
            missing = [s["seq"] for s in doc["segments"] if "thumbnail" not in s]
            raise AssertionError(f"segments without a thumbnail: {missing}\n"
                                 f"{hls_util.metrics(cg)}")

    def fetch_thumbnail(self, cg, url, dest):
        r = get(cg, url)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "image/jpeg", r)
        self.assertEqual(r.header("Cache-Control"), THUMB_CACHE, r)
        etag = r.header("ETag")
        self.assertTrue(etag and etag.startswith('"') and etag.endswith('"'), r)
        self.assertEqual(r.body[:2], b"\xff\xd8", "not a JPEG")
        with open(dest, "wb") as f:
            f.write(r.body)
        return r

    def test_thumbnails(self):
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "1s")
        info = hls_util.get_json(cg, "/api/v1/info")
        events = EventLog(f"ws://127.0.0.1:{info['events_port']}{info['events_path']}")
        self.addCleanup(events.stop)
        self.assertTrue(events.connected.wait(10) and events.error is None,
                        f"events WebSocket: {events.error}")
        bid = self.publish(cg, "thumbs")
        hls_util.wait_ended(cg, bid, timeout=30)
        segs = self.all_thumbnails(cg, bid)
        n = len(segs)
        self.assertGreaterEqual(n, 3, "too few segments to compare thumbnails across them")
        for s in segs:
            self.assertEqual(s["thumbnail"], f"/recordings/{bid}/thumbs/{s['seq']}.jpg", s)

        # The segments as a player gets them (init + media segment).
        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(pl.seqs(), [s["seq"] for s in segs], pl.text)
        parts = hls_util.fetch_segment_files(cg.url(f"/recordings/{bid}/index.m3u8"), pl,
                                             self.tmp)
        refs, thumbs, etags = [], [], {}
        for s, part in zip(segs, parts):
            ref = os.path.join(self.tmp, f"ref-{s['seq']}.yuv")
            reference_frame(part, ref)
            refs.append(ref)
            thumb = os.path.join(self.tmp, f"thumb-{s['seq']}.jpg")
            etags[s["seq"]] = self.fetch_thumbnail(cg, s["thumbnail"], thumb).header("ETag")
            thumbs.append(thumb)
            st = hls_util.streams(thumb)
            self.assertEqual(len(st), 1, st)
            self.assertEqual((st[0]["codec_name"], st[0]["width"], st[0]["height"]),
                             ("mjpeg", 320, 240), st)
            self.assertEqual(st[0].get("pix_fmt"), "yuvj420p", st)

        # Each picture is its own segment's keyframe, not one further on.
        for i in range(n):
            own = psnr(thumbs[i], refs[i], "320x240")
            k = (i + 2) % n
            other = psnr(thumbs[i], refs[k], "320x240")
            log(f"segment {segs[i]['seq']}: PSNR own keyframe y {own['y']:.1f} average "
                f"{own['average']:.1f} dB; segment {segs[k]['seq']}'s y {other['y']:.1f} "
                f"average {other['average']:.1f} dB")
            self.assertGreater(own["average"], MIN_OWN_PSNR,
                               f"thumbnail of segment {segs[i]['seq']} is not its keyframe")
            self.assertGreater(own["y"], MIN_OWN_PSNR)
            self.assertGreater(own["average"] - other["average"], MIN_MARGIN_DB,
                               f"thumbnail of segment {segs[i]['seq']} matches segment "
                               f"{segs[k]['seq']}'s keyframe about as well as its own")

        # One event per thumbnail, naming what the API names.
        hls_util.wait_for(lambda: len(events.of_type("thumbnail")) >= n, 10,
                          what="a thumbnail event per segment")
        got = sorted((e["segment"], e["url"], e["broadcast"], e["stream"])
                     for e in events.of_type("thumbnail"))
        self.assertEqual(got, [(s["seq"], s["thumbnail"], bid, "thumbs") for s in segs])
        seg_seq = {e["segment"]: e["seq"] for e in events.of_type("segment")
                   if e.get("broadcast") == bid}
        for e in events.of_type("thumbnail"):
            if e["segment"] in seg_seq:
                self.assertGreater(e["seq"], seg_seq[e["segment"]],
                                   "a thumbnail event came before its segment's")
        self.assertEqual(len(seg_seq), n, "segment events")
        # The broadcast's end is told after its last thumbnails.
        ended = hls_util.wait_for(
            lambda: [e for e in events.of_type("stream.ended") if e.get("broadcast") == bid], 10,
            what="stream.ended")
        self.assertGreater(ended[0]["seq"], max(e["seq"] for e in events.of_type("thumbnail")),
                           "a thumbnail event came after stream.ended")
        log(f"{n} thumbnail events, each after its segment event and before stream.ended")

        # Cached as immutable: the same validator on every fetch.
        r = get(cg, segs[0]["thumbnail"])
        self.assertEqual(r.header("ETag"), etags[segs[0]["seq"]], r)

        text = hls_util.metrics(cg)
        self.assertEqual(hls_util.metric(text, "clipgate_thumbnails_total"), n, text)
        self.assertEqual(hls_util.metric(text, "clipgate_thumbnails_failed_total"), 0, text)
        self.assertEqual(hls_util.metric(text, "clipgate_thumbnails_skipped_total"), 0, text)
        work_us = hls_util.metric(text, "clipgate_thumbnail_work_microseconds_total")
        self.assertGreater(work_us, 0, text)
        log(f"{n} thumbnails, {work_us / n / 1000:.1f} ms each on average (sanitized build)")

        # Absent or badly named.
        for path in [f"/recordings/{bid}/thumbs/{n + 1000}.jpg", "/recordings/nope/thumbs/0.jpg",
                     f"/recordings/{bid}x/thumbs/0.jpg"]:
            self.assertProblem(get(cg, path), 404)
        docs = [self.assertProblem(get(cg, f"/recordings/{bid}/thumbs/{name}.jpg"), 400)
                for name in ["abc", "01", "-1", "1.5", "99999999999999999999", "1%2F2"]]
        log(f"bad name, e.g.: {docs[0]['detail']}")

        # After a restart the API still names them and they are served.
        self.assertEqual(cg.stop(), 0, cg.log())
        cg2 = self.start_clipgate("--public-ip", "127.0.0.1", data_dir=cg.data_dir)
        doc = hls_util.recording(cg2, bid)
        self.assertEqual([s.get("thumbnail") for s in doc["segments"]],
                         [s["thumbnail"] for s in segs], doc)
        r = self.fetch_thumbnail(cg2, segs[-1]["thumbnail"], os.path.join(self.tmp, "again.jpg"))
        with open(thumbs[-1], "rb") as f:
            self.assertEqual(r.body, f.read())


if __name__ == "__main__":
    unittest.main()
