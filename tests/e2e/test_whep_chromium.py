"""WHEP playback in Chromium: an aiortc publisher (its H.264 encoder
honouring PLI, as in the HLS suites) sends H.264 + Opus to /whip/s while
Chromium plays /whep/s (peers/chromium_whep.mjs: recvonly transceivers,
its own codec list, POST offer, 201 answer, <video> element) for VIEW_S
seconds, then DELETEs its session.

What Chromium's getStats must show:
- video: H.264 at the publisher's 640x480, framesDecoded at least
  MIN_SHARE of the frames the publisher delivered to clipgate while
  Chromium watched (the stream API's frame counter, polled every 100 ms,
  read before Chromium was connected and after its last stats, so the
  count is if anything too large), and no freeze (a frame interval of at
  least max(3 x average, average + 150 ms) over the last 30 frames), the
  join included, where the GOP cache's frames, replayed a few ms apart,
  meet the live ones. The one excuse is the publisher: an aiortc encoder
  on a loaded machine sometimes pauses 200-330 ms, and clipgate forwards
  live frames as they come, so the pause reaches Chromium as it is; clipgate
  judges the live frames' arrival by the same rule (the session's
  publisher_freezes), and Chromium may count at most FREEZES_PER_PAUSE
  per pause there (measured: each pause gave Chromium two freezes, the
  second 0.3-0.6 s after the first; no pause, no freeze). Chromium
  may skip (framesDropped) only replayed frames: when the keyframe asked
  for at the join arrives during the replay, it jumps to it;
- audio: Opus packets received and samples played out;
- DELETE answers 200, the stream lists one viewer while it plays and none
  after; the answer keeps Chromium's RTX for H.264 and the stream API shows
  the viewer live, with RTX and a time to first frame.

Figures (time from connected to the first decoded frame, share, losses,
NACK and PLI counts) are printed on stderr as `whep_chromium: ...`."""
import sys
import unittest

import harness
import hls_util
import whep_util
from whep_util import stream_json, viewers

PUBLISH_S = 40
VIEW_S = 10
MIN_SHARE = 0.9
FREEZES_PER_PAUSE = 2


def freeze_times(res):
    """When freezeCount rose (ms after connected, from the samples)."""
    at, prev = [], 0
    for smp in res["samples"]:
        if smp["freezes"] > prev:
            at += [smp["t"]] * (smp["freezes"] - prev)
            prev = smp["freezes"]
    return at


def frames_between(watch, start_ms, end_ms):
    """Video frames the publisher delivered between two wall clocks (ms):
    the counter of the last answer received before start, and of the
    first request sent after end; None if the snapshots do not cover both."""
    before = after = None
    for (t, status, doc), done in zip(watch.snaps, watch.ends):
        if status != 200:
            continue
        if done * 1000 <= start_ms:
            before = watch.frames(doc)
        if after is None and t * 1000 >= end_ms:
            after = watch.frames(doc)
    if before is None or after is None:
        return None
    return after - before


class WhepChromium(harness.ClipgateTestCase):
    def test_chromium_viewer(self):
        for peer in ("aiortc", "chromium"):
            reason = hls_util.missing(peer)
            if reason:
                self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1")
        pub = hls_util.Publisher("aiortc", cg.url("/whip/s"), PUBLISH_S)
        self.addCleanup(pub.kill)
        whep_util.wait_live(cg, "s", pub)
        watch = hls_util.StreamWatch(cg, "s", interval=0.1)
        self.addCleanup(watch.stop)
        viewer = whep_util.Viewer("chromium", cg.url("/whep/s"), VIEW_S)
        self.addCleanup(viewer.kill)
        rc = viewer.wait(VIEW_S + 60)
        watch.stop()
        desc = viewer.describe()
        self.assertTrue(pub.running(), "publisher ended before the viewer:\n" + pub.describe())
        self.assertEqual(rc, 0, desc)
        res = viewer.result()
        self.assertIsNotNone(res, desc)
        self.assertEqual(res["post_status"], 201, desc)
        v, a = res["video"], res["audio"]
        self.assertIsNotNone(v, desc)
        self.assertIsNotNone(a, desc)
        delivered = frames_between(watch, res["connected_at"], res["ended_at"])
        self.assertIsNotNone(delivered, "the stream API was not polled around the viewer")
        share = v["framesDecoded"] / delivered if delivered else 0.0
        api = stream_json(cg, "s") or {}
        freezes_at = freeze_times(res)
        sessions = [sess for doc in watch.live_docs()
                    for sess in ((doc.get("whep") or {}).get("sessions") or [])]
        self.assertTrue(sessions, "no viewer in the stream API's whep sessions")
        last = sessions[-1]
        pub_freezes = last.get("publisher_freezes")
        print(f"whep_chromium: Chromium decoded {v['framesDecoded']} frames "
              f"({v['keyFramesDecoded']} key) of {delivered} the publisher delivered while it "
              f"watched (share {share:.3f}); first frame {res['first_frame_ms']} ms after "
              f"connected; freezes {v['freezeCount']} ({v['totalFreezesDuration']} s, seen at "
              f"{freezes_at} ms after connected), pauses "
              f"{v['pauseCount']}; publisher pauses counted as freezes {pub_freezes} (longest gap "
              f"{last.get('publisher_max_gap_ms')} ms); dropped {v['framesDropped']} of "
              f"{last.get('frames_replayed')} replayed; video packets "
              f"{v['packetsReceived']} received, {v['packetsLost']} lost, {v['nackCount']} "
              f"NACKs, {v['pliCount']} PLIs; {v['codec']} {v['frameWidth']}x{v['frameHeight']}; "
              f"audio {a['codec']} {a['packetsReceived']} packets, {a['totalSamplesReceived']} "
              f"samples, {a['concealedSamples']} concealed; API whep: {api.get('whep')}",
              file=sys.stderr)
        self.assertEqual(v["codec"], "video/H264", v)
        self.assertEqual((v["frameWidth"], v["frameHeight"]), (640, 480), v)
        self.assertGreater(delivered, 0)
        self.assertGreaterEqual(share, MIN_SHARE, res["samples"])
        # No freeze, the join included, but where the publisher paused
        # (see the module comment); only replayed frames skipped.
        self.assertIsNotNone(pub_freezes, last)
        self.assertLessEqual(v["freezeCount"], FREEZES_PER_PAUSE * pub_freezes,
                             (freezes_at, v, last))
        self.assertLessEqual(v["framesDropped"], last["frames_replayed"], (v, last))
        self.assertEqual(a["codec"], "audio/opus", a)
        self.assertGreater(a["packetsReceived"], 0, a)
        self.assertGreater(a["totalSamplesReceived"], 0, a)
        self.assertEqual(res["delete_status"], 200, desc)
        seen = {viewers(doc) for doc in watch.live_docs()}
        self.assertIn(1, seen)
        self.assertEqual(viewers(stream_json(cg, "s")), 0)
        # Chromium offers RTX: the answer keeps it for H.264, and the
        # stream API shows the viewer live with its time to first frame.
        self.assertRegex(res["answer"], r"a=rtpmap:\d+ rtx/90000")
        self.assertEqual(last.get("state"), "live", last)
        self.assertTrue(last.get("rtx"), last)
        self.assertIsNotNone(last.get("ttff_ms"), last)


if __name__ == "__main__":
    unittest.main()
