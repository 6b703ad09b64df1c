"""Clip errors end to end, on a real aiortc broadcast: every answer is
application/problem+json with a sentence, and

  - 400: malformed time, duration or last; duration zero, negative or
    above --max-clip-duration (10 min by default); unknown mode; a
    download file name that is not [A-Za-z0-9._-]+.mp4; missing or
    conflicting parameters; malformed JSON or wrong member types in
    POST /api/v1/clips;
  - 404: unknown broadcast, stream (also once its broadcast ended) or clip;
  - 425 + Retry-After: a range past the live edge;
  - 416: a range outside the finished broadcast, with available_start and
    available_end in the body;
  - 503 + Retry-After: 1: more concurrent cuts than the two allowed."""
import json
import sys
import threading
import unittest

import harness
import hls_util
from harness import http_request
from hls_util import get

STARTUP_S = 45
NO_CLIP = "AAAAAAAAAAAAAAAA"


def log(msg):
    sys.stderr.write(f"clips_errors: {msg}\n")
    sys.stderr.flush()


def post(cg, doc, raw=None):
    body = raw if raw is not None else json.dumps(doc).encode()
    return http_request("POST", cg.url("/api/v1/clips"), body=body,
                        headers={"Content-Type": "application/json"}, timeout=60)


class ClipErrors(harness.ClipgateTestCase):

    def test_clip_errors(self):
        reason = hls_util.missing("aiortc")
        if reason:
            self.skipTest(reason)
        stream = "errcam"
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "1s")
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), 12)
        self.addCleanup(pub.kill)

        def current():
            r = get(cg, "/api/v1/streams/" + stream)
            return hls_util.broadcast_of_stream(r.json()) if r.status == 200 else None
        bid = hls_util.wait_for(current, STARTUP_S, what="a broadcast")

        def end():
            segs = hls_util.timeline(hls_util.recording(cg, bid))
            return segs[-1]["start"] + segs[-1]["duration"] if segs else 0.0
        hls_util.wait_for(lambda: end() >= 4.0, STARTUP_S, what="4 s of segments")
        rec = f"/recordings/{bid}/clip.mp4"

        # 425 past the live edge (MP4, playlist, persisted).
        for path in (f"{rec}?time=2&duration=60", f"/recordings/{bid}/clip.m3u8?time=2&duration=60"):
            r = get(cg, path)
            self.assertProblem(r, 425)
            self.assertRegex(r.header("Retry-After") or "", r"^[1-9]\d*$", path)
            log(f"{path}: 425 Retry-After {r.header('Retry-After')}")
        r = post(cg, {"broadcast": bid, "time": 2, "duration": 60})
        self.assertProblem(r, 425)
        self.assertTrue(r.header("Retry-After"))

        # 400 on the query.
        bad = [
            "time=abc&duration=2", "time=1&duration=xyz", "time=-1&duration=2",
            "time=1&duration=0", "time=1&duration=-2", "time=1&duration=11m",
            "time=1&duration=2&mode=fast", "time=1", "duration=2",
            "time=1&duration=2&last=3", "time=1&duration=2&filename=../x.mp4",
            "time=1&duration=2&filename=x.txt", "time=1&duration=2&filename=a%22b.mp4",
            "time=1&duration=2&filename=.mp4",
        ]
        for q in bad:
            doc = self.assertProblem(get(cg, f"{rec}?{q}"), 400)
            log(f"{q}: 400 {doc['detail'][:90]}")
        self.assertProblem(get(cg, f"/recordings/{bid}/clip.m3u8?time=1&duration=0"), 400)
        self.assertProblem(get(cg, f"/live/{stream}/clip.mp4?last=abc"), 400)
        self.assertProblem(get(cg, f"/live/{stream}/clip.mp4?last=11m"), 400)
        self.assertProblem(get(cg, f"/live/{stream}/clip.mp4"), 400)

        # 400 on POST bodies.
        for raw in (b"{", b"[]", b"\"x\"", b""):
            self.assertProblem(post(cg, None, raw=raw), 400)
        for doc in ({"time": 1, "duration": 2},
                    {"broadcast": bid, "stream": stream, "time": 1, "duration": 2},
                    {"broadcast": 5, "time": 1, "duration": 2},
                    {"broadcast": bid, "time": True, "duration": 2},
                    {"broadcast": bid, "time": 1, "duration": -2},
                    {"broadcast": bid, "time": 1, "duration": "11m"},
                    {"broadcast": bid, "time": 1, "duration": 2, "mode": "fast"},
                    {"broadcast": bid, "time": 1, "duration": 2, "mode": 1},
                    {"broadcast": bid, "time": 1, "duration": 2, "title": "x" * 201},
                    {"broadcast": bid, "time": 1},
                    {"stream": stream, "last": "3s", "time": 1}):
            self.assertProblem(post(cg, doc), 400)

        # 404s.
        self.assertProblem(get(cg, "/recordings/nobody-20260101T000000Z-0000/clip.mp4?"
                                   "time=1&duration=2"), 404)
        self.assertProblem(get(cg, "/recordings/nobody/clip.m3u8?time=1&duration=2"), 404)
        self.assertProblem(get(cg, "/live/nobody/clip.mp4?last=5s"), 404)
        self.assertProblem(get(cg, "/live/nobody/clip.m3u8?last=5s"), 404)
        self.assertProblem(post(cg, {"broadcast": "nobody", "time": 1, "duration": 2}), 404)
        self.assertProblem(post(cg, {"stream": "nobody", "last": 2}), 404)
        for path in (f"/clips/{NO_CLIP}.mp4", f"/clips/{NO_CLIP}.m3u8",
                     f"/clips/{NO_CLIP}/seg-0.m4s", f"/api/v1/clips/{NO_CLIP}",
                     "/api/v1/clips/short", "/clips/x.mp4"):
            self.assertProblem(get(cg, path), 404)
        self.assertProblem(http_request("DELETE", cg.url(f"/api/v1/clips/{NO_CLIP}")), 404)

        # 503 when more than two cuts run at once: rounds of 10 requests
        # released together until one is turned away.
        seen = {}
        for rnd in range(6):
            results = []
            gate = threading.Barrier(10)

            def one():
                gate.wait()
                results.append(http_request("GET", cg.url(f"{rec}?time=0&duration=3"),
                                            timeout=60))
            threads = [threading.Thread(target=one) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for r in results:
                self.assertIn(r.status, (200, 503), r)
                seen[r.status] = seen.get(r.status, 0) + 1
                if r.status == 503:
                    self.assertProblem(r, 503)
                    self.assertEqual(r.header("Retry-After"), "1")
            if seen.get(503):
                break
        log(f"concurrent cuts: {seen} over {rnd + 1} rounds of 10")
        self.assertGreater(seen.get(503, 0), 0, seen)
        self.assertGreaterEqual(seen.get(200, 0), 2, seen)

        # After the end: 416 outside the recording, 404 for the stream.
        self.assertEqual(pub.wait(60), 0, pub.describe())
        hls_util.wait_ended(cg, bid)
        total = end()
        for q in ("time=100&duration=5", f"time={total - 1:.3f}&duration=5"):
            for path in (rec, f"/recordings/{bid}/clip.m3u8"):
                r = get(cg, f"{path}?{q}")
                doc = self.assertProblem(r, 416)
                self.assertAlmostEqual(doc["available_start"], 0.0, delta=0.5)
                self.assertAlmostEqual(doc["available_end"], total, delta=0.002)
        log(f"416 available 0..{total:.3f}")
        self.assertProblem(post(cg, {"broadcast": bid, "time": 100, "duration": 5}), 416)
        self.assertProblem(get(cg, f"/live/{stream}/clip.mp4?last=5s"), 404)
        # Nothing of the refused clips was kept.
        self.assertEqual(hls_util.get_json(cg, "/api/v1/clips")["clips"], [])


if __name__ == "__main__":
    unittest.main()
