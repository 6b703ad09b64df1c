"""Instant first frame from the GOP cache.

A GStreamer webrtcbin publisher sends H.264 with a keyframe only every
10 s (x264enc key-int-max=300 at 30 fps) and ignores keyframe requests as
OBS does (peers/gst_offer.py --ignore-keyframe-requests drops every
force-key-unit event on its way to the encoder, so clipgate's PLI cannot
help). Once the stream's first keyframe is in, a Chromium WHEP viewer
(peers/chromium_whep.mjs) joins: mid-GOP, a few seconds after that
keyframe and several before the next.

- With the GOP cache (the default), Chromium decodes its first frame
  before the publisher's encoder has even produced its next keyframe: the
  picture can only come from the keyframe clipgate kept. clipgate agrees:
  packets were replayed and its log says the first keyframe sent came
  from the GOP cache.
- With --gop-cache=false the same viewer decodes nothing until after the
  next keyframe left the publisher's encoder, nothing is replayed and the
  first keyframe sent was live: the first case depends on the cache (and
  this test would fail without it).

Both compare the moments of events on this machine's one clock (the
publisher's keyframe times, Chromium's first decoded frame); neither
asserts how long anything took. The time from connected to the first
frame is printed (`whep_gop: ...`)."""
import sys
import time
import unittest

import harness
import hls_util
import whip_util
import whep_util
from whep_util import stream_json, video_keyframes

KEY_INT = 300  # frames: 10 s at 30 fps
PUBLISH_S = 34
VIEW_S = 12  # from connected: past the next keyframe when joining mid-GOP
JOIN_AFTER_KEY_S = 2.0  # the viewer starts this long after the first keyframe is in
MIN_MID_GOP_S = 1.0  # connected at least this long after a keyframe


class WhepGop(harness.ClipgateTestCase):
    def watch(self, *cg_args):
        """Publishes with a 10 s GOP that ignores keyframe requests, joins
        a Chromium viewer mid-GOP; returns (viewer result, publisher
        result, the keyframe before the join, the one after or None, the
        first frame's wall clock or None, the stream JSON at the end)."""
        for peer in ("webrtcbin", "chromium"):
            reason = hls_util.missing(peer)
            if reason:
                self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", *cg_args)
        pub = whip_util.Publisher("webrtcbin", cg.url("/whip/s"), PUBLISH_S,
                                  extra=["--key-int", str(KEY_INT), "--ignore-keyframe-requests"])
        self.addCleanup(pub.kill)
        live = whep_util.wait_for(lambda: video_keyframes(stream_json(cg, "s")) > 0 or
                                  not pub.running(), 30, interval=0.05)
        if not live or not pub.running():
            pub.wait(5)
            self.fail("publisher never went live:\n" + pub.describe())
        time.sleep(JOIN_AFTER_KEY_S)
        viewer = whep_util.Viewer("chromium", cg.url("/whep/s"), VIEW_S)
        self.addCleanup(viewer.kill)
        rc = viewer.wait(VIEW_S + 60)
        doc = stream_json(cg, "s") or {}
        self.assertEqual(rc, 0, viewer.describe())
        res = viewer.result()
        self.assertIsNotNone(res, viewer.describe())
        self.assertEqual(res["post_status"], 201, res)
        self.assertEqual(res["delete_status"], 200, res)
        self.assertEqual(pub.wait(PUBLISH_S + 60), 0, pub.describe())
        pres = pub.result()
        self.assertIsNotNone(pres, pub.describe())
        joined = res["connected_at"] / 1000.0
        keys = pres["keyframes_at"]
        before = [k for k in keys if k <= joined]
        after = [k for k in keys if k > joined]
        self.assertTrue(before, (joined, keys))
        k0, k1 = before[-1], (after[0] if after else None)
        first = (joined + res["first_frame_ms"] / 1000.0
                 if res["first_frame_ms"] is not None else None)
        v = res["video"] or {}
        print(f"whep_gop: {' '.join(cg_args) or 'gop cache on'}: connected "
              f"{joined - k0:.2f} s after keyframe k0, next keyframe k1 "
              f"{'%.2f s after connected' % (k1 - joined) if k1 else 'not before the end'}; "
              f"first frame {res['first_frame_ms']} ms after connected"
              f"{' (%+.2f s from k1)' % (first - k1) if k1 and first else ''}; "
              f"{v.get('framesDecoded')} frames decoded ({v.get('keyFramesDecoded')} key), "
              f"{v.get('pliCount')} PLIs from Chromium; publisher: {len(keys)} keyframes, "
              f"{pres['keyframe_requests_ignored']} keyframe requests ignored; "
              f"API whep: {doc.get('whep')}", file=sys.stderr)
        # The join really was mid-GOP, with the next keyframe well ahead.
        self.assertGreaterEqual(joined - k0, MIN_MID_GOP_S, (joined, keys))
        self.assertGreaterEqual(len(keys), 1)
        return res, pres, k0, k1, first, doc, cg.log()

    def test_first_frame_from_the_gop_cache(self):
        res, pres, k0, k1, first, doc, log = self.watch()
        self.assertIsNotNone(first, res["samples"])
        if k1 is not None:
            self.assertLess(first, k1, "the first frame waited for the next keyframe")
        self.assertGreaterEqual(res["video"]["keyFramesDecoded"], 1, res["video"])
        # clipgate says where that keyframe came from.
        self.assertGreater(doc["whep"]["packets_replayed"], 0, doc["whep"])
        self.assertRegex(log, r"first keyframe sent \d+ ms after connecting \(from the GOP cache\)")

    def test_without_the_cache_the_viewer_waits_for_the_next_keyframe(self):
        res, pres, k0, k1, first, doc, log = self.watch("--gop-cache=false")
        self.assertIsNotNone(k1, "no keyframe came while the viewer watched; it cannot tell")
        # clipgate asked for a keyframe and the publisher ignored it.
        self.assertGreater(pres["keyframe_requests_ignored"], 0, pres)
        self.assertIsNotNone(first, "nothing decoded even after the next keyframe")
        self.assertGreater(first, k1, "a frame was decoded before any keyframe reached it")
        self.assertEqual(doc["whep"]["packets_replayed"], 0, doc["whep"])
        self.assertRegex(log, r"first keyframe sent \d+ ms after connecting \(live\)")


if __name__ == "__main__":
    unittest.main()
