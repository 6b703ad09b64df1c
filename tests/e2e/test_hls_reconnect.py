"""A publisher that drops and comes back: within --reconnect-grace the
broadcast goes on (one broadcast id, the recording gets an
EXT-X-DISCONTINUITY and a new init segment, its PROGRAM-DATE-TIME shows the
real gap, FFmpeg decodes it with zero errors); after the grace period the
second publish is a new broadcast, and the first one has ended.

The publisher is aiortc; it ends each publish with a WHIP DELETE."""
import shutil
import sys
import tempfile
import time
import unittest

import harness
import hls_util
from hls_util import get

STARTUP_S = 45


def log(msg):
    sys.stderr.write(f"hls_reconnect: {msg}\n")
    sys.stderr.flush()


class HlsReconnect(harness.ClipgateTestCase):
    def setUp(self):
        for peer in ("aiortc", "ffmpeg"):
            reason = hls_util.missing(peer)
            if reason:
                self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="cg-hls-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def publish(self, cg, stream, seconds):
        """Publishes for `seconds` and waits for the DELETE; returns the
        broadcast id the streams API named while it ran."""
        watch = hls_util.StreamWatch(cg, stream, interval=0.2)
        self.addCleanup(watch.stop)
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), seconds)
        self.addCleanup(pub.kill)
        rc = pub.wait(seconds + STARTUP_S)
        watch.stop()
        self.assertEqual(rc, 0, pub.describe())
        self.assertEqual(pub.result().get("delete_status"), 200, pub.describe())
        ids = {hls_util.broadcast_of_stream(d) for d in watch.live_docs()} - {None}
        self.assertEqual(len(ids), 1, f"broadcast ids seen while publishing: {ids}")
        return ids.pop()

    def stream_recordings(self, cg, stream):
        return [r for r in hls_util.recordings(cg) if r.get("stream") == stream]

    def check_decodes(self, cg, bid, pl):
        url = cg.url(f"/recordings/{bid}/index.m3u8")
        code, errors = hls_util.ffmpeg_decode_errors(url)
        self.assertEqual((code, errors), (0, ""), f"ffmpeg decode of {url}")
        for path, seg in zip(hls_util.fetch_segment_files(url, pl, self.tmp), pl.segments):
            frame = hls_util.first_video_frame(path)
            self.assertEqual((int(frame["key_frame"]), frame["pict_type"]), (1, "I"),
                             f"{seg['uri']} does not start with an IDR: {frame}")

    def test_within_grace_one_broadcast(self):
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "10s")
        stream = "comeback"
        bid1 = self.publish(cg, stream, 8)
        gone_at = time.monotonic()
        doc = hls_util.recording(cg, bid1)
        self.assertEqual(doc.get("state"), "live", "the broadcast ended inside the grace "
                                                   f"period: {doc.get('state')}")
        n_before = len(doc["segments"])
        self.assertGreater(n_before, 0, doc)
        bid2 = self.publish(cg, stream, 6)
        self.assertLess(time.monotonic() - gone_at, 10 + STARTUP_S)
        self.assertEqual(bid2, bid1, "a reconnect within the grace period started a new "
                                     "broadcast")
        doc = hls_util.wait_ended(cg, bid1, timeout=40)
        mine = self.stream_recordings(cg, stream)
        self.assertEqual([r.get("id") for r in mine], [bid1], mine)

        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid1}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(pl.endlist, pl.text)
        self.assertEqual(pl.tag("#EXT-X-PLAYLIST-TYPE"), "VOD", pl.text)
        discs = [i for i, s in enumerate(pl.segments) if s["disc"]]
        self.assertEqual(len(discs), 1, pl.text)
        i = discs[0]
        self.assertGreater(i, 0, pl.text)
        self.assertGreaterEqual(i, n_before, "segments published before the drop moved")
        self.assertLess(i, len(pl.segments), pl.text)
        # A new period: its own init segment.
        self.assertNotEqual(pl.segments[i]["map"], pl.segments[i - 1]["map"], pl.text)
        # The wall clock shows the gap; the timeline flags the segment.
        a, b = pl.segments[i - 1], pl.segments[i]
        gap = b["pdt"] - (a["pdt"] + a["duration"])
        log(f"broadcast {bid1}: {len(pl.segments)} segments, discontinuity before #{i} "
            f"({b['uri']}, map {b['map']}), wall-clock gap {gap:.3f} s")
        self.assertGreater(gap, 0.5, pl.text)
        tl = hls_util.timeline(doc)
        self.assertEqual([s["disc"] for s in tl], [k == i for k in range(len(tl))], doc)
        for s, seg in zip(tl, pl.segments):
            self.assertAlmostEqual(s["wall"], seg["pdt"], delta=0.0011)
        self.check_decodes(cg, bid1, pl)

    def test_after_grace_two_broadcasts(self):
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "2s")
        stream = "late"
        bid1 = self.publish(cg, stream, 5)
        hls_util.wait_ended(cg, bid1, timeout=20)
        # The stream is gone until someone publishes again.
        self.assertProblem(get(cg, f"/api/v1/streams/{stream}"), 404)
        bid2 = self.publish(cg, stream, 5)
        self.assertNotEqual(bid2, bid1)
        hls_util.wait_ended(cg, bid2, timeout=20)
        mine = self.stream_recordings(cg, stream)
        self.assertEqual(sorted(r.get("id") for r in mine), sorted([bid1, bid2]), mine)
        self.assertEqual({r.get("state") for r in mine}, {"ended"}, mine)
        for bid in (bid1, bid2):
            r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
            self.assertEqual(r.status, 200, r)
            self.assertTrue(pl.endlist, pl.text)
            self.assertFalse(any(s["disc"] for s in pl.segments), pl.text)
            self.assertGreater(len(pl.segments), 0, pl.text)
            log(f"broadcast {bid}: {len(pl.segments)} segments, "
                f"{sum(s['duration'] for s in pl.segments):.3f} s")
        pl1 = hls_util.fetch_playlist(cg, f"/recordings/{bid1}/index.m3u8")[1]
        pl2 = hls_util.fetch_playlist(cg, f"/recordings/{bid2}/index.m3u8")[1]
        self.assertGreater(pl2.segments[0]["pdt"],
                           pl1.segments[-1]["pdt"] + pl1.segments[-1]["duration"] + 2.0)
        self.check_decodes(cg, bid2, pl2)


if __name__ == "__main__":
    unittest.main()
