"""WHEP refusals and dead viewers, beyond what test_whep.py covers (409 +
Retry-After without a publisher, 415, malformed SDP 400, VP8-only 422,
play token 401, 503 + Retry-After past --max-viewers-per-stream and
--max-viewers).

While an aiortc publisher is live on /whep/s:
- offers that cannot play get 422 with a sentence saying what to offer:
  a sendonly and an inactive offer (nothing to receive), codecs the
  publisher does not send (H.264 packetization-mode 0 only, G.711 audio),
  audio and video outside one BUNDLE, no DTLS fingerprint;
- an audio-only recvonly offer is accepted (the viewer chose not to see
  video), and its DELETE answers 200;

A viewer that vanishes without DELETE (its aiortc process SIGKILLed) is
removed once ICE consent runs out: clipgate runs with a 4 s consent
timeout, the live viewer stays listed for well over that (its RTCP and
consent checks keep it), and after the kill it leaves the stream's
viewer count with "ICE consent expired" in the log."""
import re
import sys
import time
import unittest

import harness
import hls_util
import whep_util
from whep_util import offer, post_offer, stream_json, viewers

PUBLISH_S = 40
CONSENT_S = 4


def clipgate_options():
    res = harness.run_clipgate("--help")
    return set(re.findall(r"--([a-z][a-z0-9-]*)", res.stdout + res.stderr))


class WhepErrors(harness.ClipgateTestCase):
    def start_publisher(self, cg, stream="s"):
        reason = hls_util.missing("aiortc")
        if reason:
            self.skipTest(reason)
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), PUBLISH_S)
        self.addCleanup(pub.kill)
        whep_util.wait_live(cg, stream, pub)
        return pub

    def assertRefused(self, r, status, *words):
        doc = self.assertProblem(r, status)
        for w in words:
            self.assertIn(w, doc["detail"], doc)
        print(f"whep_errors: {status} {doc['title']}: {doc['detail']}", file=sys.stderr)
        return doc

    def test_offers_that_cannot_play_422(self):
        cg = self.start_clipgate("--public-ip", "127.0.0.1")
        self.start_publisher(cg)
        self.assertRefused(post_offer(cg, "s", offer(direction="sendonly")), 422, "recvonly")
        self.assertRefused(post_offer(cg, "s", offer(direction="inactive")), 422, "recvonly")
        no_codec = offer(video=("H264/90000", "packetization-mode=0;profile-level-id=42e01f"),
                         audio=("PCMU/8000", None))
        self.assertRefused(post_offer(cg, "s", no_codec), 422, "H.264", "Opus")
        unbundled = offer().replace(b"a=group:BUNDLE 0 1\r\n", b"")
        self.assertRefused(post_offer(cg, "s", unbundled), 422, "BUNDLE")
        no_fp = re.sub(rb"a=fingerprint:[^\r]*\r\n", b"", offer())
        self.assertRefused(post_offer(cg, "s", no_fp), 422, "fingerprint")
        # None of the refused offers left a viewer behind.
        self.assertEqual(viewers(stream_json(cg, "s")), 0)
        # Audio only is a choice, not an error.
        r = post_offer(cg, "s", offer(video=None))
        self.assertEqual(r.status, 201, r)
        self.assertIn("m=audio", r.text())
        self.assertNotIn("m=video", r.text())
        self.assertEqual(viewers(stream_json(cg, "s")), 1)
        d = harness.http_request("DELETE", whep_util.session_url(cg, r))
        self.assertEqual(d.status, 200, d)
        self.assertEqual(viewers(stream_json(cg, "s")), 0)

    def test_vanished_viewer_removed_after_consent_timeout(self):
        reason = hls_util.missing("aiortc")
        if reason:
            self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--consent-timeout",
                                 f"{CONSENT_S}s")
        self.start_publisher(cg)
        viewer = whep_util.Viewer("aiortc", cg.url("/whep/s"), PUBLISH_S)
        self.addCleanup(viewer.kill)
        connected = whep_util.wait_for(
            lambda: re.search(r"viewer (\w+) connected", cg.log()) or not viewer.running(), 30)
        if not connected or not viewer.running():
            viewer.kill()
            viewer.wait(5)
            self.fail("the aiortc viewer never connected:\n" + viewer.describe())
        vid = connected.group(1)
        # A live viewer outlives the consent timeout by far: what keeps it
        # is its consent checks and RTCP, not the lack of a timer.
        t_end = time.monotonic() + 3 * CONSENT_S
        while time.monotonic() < t_end:
            self.assertTrue(viewer.running(), viewer.describe())
            self.assertEqual(viewers(stream_json(cg, "s")), 1, cg.log()[-3000:])
            time.sleep(0.5)
        self.assertNotIn(f"viewer {vid} gone", cg.log())
        viewer.kill()
        killed = time.monotonic()
        gone = whep_util.wait_for(lambda: viewers(stream_json(cg, "s")) == 0, 5 * CONSENT_S)
        removed_after = time.monotonic() - killed
        print(f"whep_errors: SIGKILLed viewer left the API {removed_after:.1f} s after the kill "
              f"(consent timeout {CONSENT_S} s)", file=sys.stderr)
        self.assertTrue(gone, "the killed viewer is still listed:\n" + cg.log()[-3000:])
        self.assertIn(f"viewer {vid} gone (ICE consent expired)", cg.log())
        # Its session is gone too.
        d = harness.http_request("DELETE", cg.url(f"/whep/s/{vid}"))
        self.assertProblem(d, 404)


if __name__ == "__main__":
    unittest.main()
