"""Bad input on the HLS and recordings routes: unknown streams, broadcasts
and files answer 404 problem+json; a bad preview duration answers 400
problem+json; names that try to climb out of the data directory (raw,
percent-encoded, double-encoded, backslashes, NUL) answer 400 or 404 and
never return a byte of the canary files planted just outside it (nor of
/etc/passwd).

aiortc publishes while the checks that need a live stream and a real
broadcast run."""
import os
import secrets
import shutil
import sys
import tempfile
import unittest

import harness
import hls_util
from hls_util import get

STARTUP_S = 45
# Planted at each of the three levels above the data directory.
CANARY_NAMES = ["passwd", "index.m3u8", "canary.m3u8", "init.mp4", "seg-0.m4s",
                "index.jsonl", "etc/passwd", "etc/index.m3u8", "x/index.m3u8"]

TRAVERSALS = [
    "/recordings/..%2f..%2fetc/index.m3u8",
    "/recordings/..%2F..%2Fetc/index.m3u8",
    "/recordings/%2e%2e%2f%2e%2e%2fetc/index.m3u8",
    "/recordings/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc/index.m3u8",
    "/recordings/..%252f..%252fetc/index.m3u8",
    "/recordings/%252e%252e%252f%252e%252e%252fetc/index.m3u8",
    "/recordings/..%5c..%5cetc/index.m3u8",
    "/recordings/../../etc/index.m3u8",
    "/recordings/..%2f..%2f..%2fcanary.m3u8/index.m3u8",
    "/recordings/%2fetc%2fpasswd/index.m3u8",
    "/recordings/..%00/index.m3u8",
    "/recordings/%2e%2e/index.m3u8",
    "/recordings/..;/index.m3u8",
    "/recordings/{bid}/..%2f..%2f..%2fpasswd",
    "/recordings/{bid}/..%2F..%2F..%2F..%2Fpasswd",
    "/recordings/{bid}/..%2f..%2f..%2f..%2f..%2fpasswd",
    "/recordings/{bid}/%2e%2e%2f%2e%2e%2f%2e%2e%2fcanary.m3u8",
    "/recordings/{bid}/..%252f..%252f..%252fpasswd",
    "/recordings/{bid}/../../../passwd",
    "/recordings/{bid}/..%5c..%5c..%5cpasswd",
    "/recordings/{bid}/%2fetc%2fpasswd",
    "/recordings/{bid}/..%2f..%2f..%2fetc%2fpasswd",
    "/recordings/{bid}/seg-0.m4s%00.txt",
    "/recordings/{bid}/..%2f..%2f..%2fseg-0.m4s",
    "/recordings/{bid}/..%2f..%2f..%2finit.mp4",
    "/live/x/..%2F..%2Fpasswd",
    "/live/x/..%2f..%2f..%2fpasswd",
    "/live/x/..%252F..%252Fpasswd",
    "/live/{stream}/..%2F..%2Fpasswd",
    "/live/{stream}/..%2F..%2F..%2Fpasswd",
    "/live/{stream}/..%2F..%2F..%2F..%2Fpasswd",
    "/live/{stream}/..%2F..%2F..%2F..%2Fcanary.m3u8",
    "/live/{stream}/%2e%2e%2f%2e%2e%2f%2e%2e%2fseg-0.m4s",
    "/live/{stream}/..%252f..%252f..%252fpasswd",
    "/live/..%2f..%2f..%2f/index.m3u8",
    "/live/..%2f..%2f..%2fx/index.m3u8",
    "/live/%2e%2e/index.m3u8",
    "/live/..%252f..%252fx/index.m3u8",
    "/api/v1/recordings/..%2f..%2fetc",
    "/api/v1/recordings/..%252f..%252fetc%252fpasswd",
    "/api/v1/streams/..%2f..%2fetc",
]

BAD_DURATIONS = ["abc", "-5", "0", "0s", "0m", "-5s", "5x", "nan", "inf", "1e999",
                 "%2D5", "5%00", "99999999999999999999999"]


def log(msg):
    sys.stderr.write(f"hls_input: {msg}\n")
    sys.stderr.flush()


class HlsInput(harness.ClipgateTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cg-hls-input-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.canary = "CANARY-" + secrets.token_hex(12)
        levels = [self.tmp, os.path.join(self.tmp, "a"), os.path.join(self.tmp, "a", "b")]
        for level in levels:
            for name in CANARY_NAMES:
                path = os.path.join(level, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(f"#EXTM3U\n#{self.canary}\n")
        self.data = os.path.join(self.tmp, "a", "b", "data")

    def assertNoLeak(self, path, r):
        body = r.body.decode("latin-1")
        self.assertNotIn(self.canary, body, f"{path} served a file outside the data directory")
        self.assertNotIn("root:x:0:0", body, f"{path} served /etc/passwd")

    def test_unknown_names_and_traversal_without_broadcasts(self):
        cg = self.start_clipgate(data_dir=self.data)
        for path in ["/live/nope/index.m3u8", "/live/nope/index.m3u8?duration=5m",
                     "/live/nope/init.mp4", "/live/nope/seg-0.m4s",
                     "/recordings/nope/index.m3u8", "/recordings/nope/init.mp4",
                     "/recordings/nope/seg-0.m4s", "/api/v1/recordings/nope",
                     "/api/v1/streams/nope"]:
            r = get(cg, path)
            self.assertProblem(r, 404)
            self.assertNoLeak(path, r)
        doc = hls_util.get_json(cg, "/api/v1/recordings")
        self.assertEqual(hls_util.recordings(cg), [], doc)
        self.check_traversals(cg, bid="nope", stream="nope")

    def check_traversals(self, cg, bid, stream):
        statuses = {}
        for t in TRAVERSALS:
            path = t.format(bid=bid, stream=stream)
            r = get(cg, path)
            self.assertNoLeak(path, r)
            self.assertIn(r.status, (400, 404), f"{path}: {r}")
            self.assertProblem(r, r.status)
            statuses[r.status] = statuses.get(r.status, 0) + 1
        log(f"{len(TRAVERSALS)} traversal paths: {statuses}")

    def test_live_broadcast(self):
        reason = hls_util.missing("aiortc")
        if reason:
            self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "1s",
                                 data_dir=self.data)
        stream = "input"
        watch = hls_util.StreamWatch(cg, stream, interval=0.2)
        self.addCleanup(watch.stop)
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), 12)
        self.addCleanup(pub.kill)
        try:
            bid = hls_util.wait_for(
                lambda: next((hls_util.broadcast_of_stream(d) for d in watch.live_docs()[-1:]
                              if hls_util.broadcast_of_stream(d)), None),
                STARTUP_S, what="the streams API to name a broadcast")
            hls_util.wait_for(lambda: len(hls_util.recording(cg, bid)["segments"]) >= 2, 30,
                              what="two segments")
        except AssertionError as e:
            pub.kill()
            pub.wait(5)
            self.fail(f"{e}\n{pub.describe()}")
        self.assertEqual(get(cg, f"/live/{stream}/index.m3u8").status, 200)
        self.assertEqual(get(cg, f"/live/{stream}/index.m3u8?duration=5").status, 200)

        for d in BAD_DURATIONS:
            path = f"/live/{stream}/index.m3u8?duration={d}"
            r = get(cg, path)
            doc = self.assertProblem(r, 400)
            self.assertNoLeak(path, r)
        log(f"bad duration, e.g.: {doc.get('detail')}")

        for path in [f"/recordings/{bid}/seg-999999.m4s", f"/recordings/{bid}/init-7.mp4",
                     f"/live/{stream}/seg-999999.m4s", f"/recordings/{bid}/nothing.m3u8",
                     f"/recordings/{bid}x/index.m3u8", f"/api/v1/recordings/{bid}x",
                     f"/live/{stream}x/index.m3u8"]:
            r = get(cg, path)
            self.assertProblem(r, 404)
            self.assertNoLeak(path, r)
        self.check_traversals(cg, bid=bid, stream=stream)
        # The files of the broadcast are still served.
        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        seg = get(cg, f"/recordings/{bid}/{pl.segments[0]['uri']}")
        self.assertEqual(seg.status, 200, seg)
        self.assertIn("moof", hls_util.top_boxes(seg.body))

        rc = pub.wait(12 + STARTUP_S)
        self.assertEqual(rc, 0, pub.describe())
        hls_util.wait_ended(cg, bid, timeout=20)
        # Ended broadcasts are checked the same way.
        self.check_traversals(cg, bid=bid, stream=stream)


if __name__ == "__main__":
    unittest.main()
