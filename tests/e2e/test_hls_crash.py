"""Recording survives a crash and a full disk.

kill -9: aiortc publishes; once the recording holds at least three
segments clipgate is killed with SIGKILL and started again on the same data
directory. The broadcast is then listed as ended, its recording is VOD with
ENDLIST, holds every segment the recording playlist listed before the kill
(same names, durations and PROGRAM-DATE-TIME), decodes with FFmpeg without
an error, and no .tmp file is left anywhere under the data directory.

Full disk: the data directory is a small tmpfs. aiortc publishes until
segment writes fail. The WHIP session stays up (the streams API shows it
live with frame counts still rising), the broadcast is marked degraded in
/api/v1/recordings/{id} and in /metrics, the publisher's DELETE still
answers 200, and every segment stored before the disk filled up is intact
(the size the index says) and the recording playlist decodes with zero
errors."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import hls_util
from hls_util import get

STARTUP_S = 45
# aiortc sends about 100 kB/s (700 kb/s video, AAC): full after ~20 s.
DISK = "2m"


def log(msg):
    sys.stderr.write(f"hls_crash: {msg}\n")
    sys.stderr.flush()


class HlsCrash(harness.ClipgateTestCase):
    def setUp(self):
        for peer in ("aiortc", "ffmpeg"):
            reason = hls_util.missing(peer)
            if reason:
                self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="cg-hls-crash-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def wait_broadcast(self, watch, pub):
        try:
            return hls_util.wait_for(
                lambda: next((hls_util.broadcast_of_stream(d) for d in watch.live_docs()[-1:]
                              if hls_util.broadcast_of_stream(d)), None),
                STARTUP_S, what="the streams API to name a broadcast")
        except AssertionError as e:
            pub.kill()
            pub.wait(5)
            self.fail(f"{e}\n{pub.describe()}")

    def check_segments(self, cg, bid, pl):
        url = cg.url(f"/recordings/{bid}/index.m3u8")
        code, errors = hls_util.ffmpeg_decode_errors(url)
        self.assertEqual((code, errors), (0, ""), f"ffmpeg decode of {url}")
        d = os.path.join(self.tmp, "probe-" + bid)
        os.makedirs(d, exist_ok=True)
        for path, seg in zip(hls_util.fetch_segment_files(url, pl, d), pl.segments):
            frame = hls_util.first_video_frame(path)
            self.assertEqual((int(frame["key_frame"]), frame["pict_type"]), (1, "I"),
                             f"{seg['uri']} does not start with an IDR: {frame}")

    def test_kill9_and_restart(self):
        data = os.path.join(self.tmp, "data")
        cg = self.start_clipgate("--public-ip", "127.0.0.1", data_dir=data)
        cg.expected_exit = None  # killed on purpose
        stream = "crash"
        watch = hls_util.StreamWatch(cg, stream, interval=0.2)
        self.addCleanup(watch.stop)
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), 40)
        self.addCleanup(pub.kill)
        bid = self.wait_broadcast(watch, pub)
        hls_util.wait_for(lambda: len(hls_util.recording(cg, bid)["segments"]) >= 3, 40,
                          what="three segments")
        r, before = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        cg.proc.send_signal(signal.SIGKILL)
        cg.proc.wait()
        watch.stop()
        pub.kill()
        self.assertEqual(cg.proc.returncode, -signal.SIGKILL)
        self.assertGreaterEqual(len(before.segments), 3, before.text)
        log(f"killed with {len(before.segments)} segments listed: "
            f"{[s['uri'] for s in before.segments]}")

        cg2 = self.start_clipgate("--public-ip", "127.0.0.1", data_dir=data)
        doc = hls_util.wait_ended(cg2, bid, timeout=20)
        listed = [x for x in hls_util.recordings(cg2) if x.get("id") == bid]
        self.assertEqual(len(listed), 1, hls_util.recordings(cg2))
        self.assertEqual(listed[0].get("state"), "ended", listed)
        self.assertEqual(listed[0].get("stream"), stream, listed)
        r, after = hls_util.fetch_playlist(cg2, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(after.tag("#EXT-X-PLAYLIST-TYPE"), "VOD", after.text)
        self.assertTrue(after.endlist, after.text)
        kept = after.segments[:len(before.segments)]
        self.assertEqual([(s["uri"], s["duration"], s["pdt"], s["map"]) for s in kept],
                         [(s["uri"], s["duration"], s["pdt"], s["map"]) for s in before.segments],
                         f"before the kill:\n{before.text}\nafter the restart:\n{after.text}")
        self.assertEqual(len(hls_util.timeline(doc)), len(after.segments), doc)
        log(f"after restart: {len(after.segments)} segments, state {doc.get('state')}")
        self.check_segments(cg2, bid, after)
        tmp_files = [os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs
                     if ".tmp" in f]
        self.assertEqual(tmp_files, [], "temporary files left after recovery")
        # Nothing live remains of the stream.
        self.assertProblem(get(cg2, f"/api/v1/streams/{stream}"), 404)

    def mount_tmpfs(self, size):
        disk = os.path.join(self.tmp, "disk")
        os.makedirs(disk)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", disk],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode:
            self.skipTest(f"cannot mount a tmpfs here (needs root in a mount namespace): "
                          f"{res.stdout.strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", disk], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
        return disk

    def test_full_disk(self):
        disk = self.mount_tmpfs(DISK)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "1s",
                                 data_dir=disk)
        stream = "fulldisk"
        watch = hls_util.StreamWatch(cg, stream, interval=0.2)
        self.addCleanup(watch.stop)
        publish_s = 36
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), publish_s)
        self.addCleanup(pub.kill)
        bid = self.wait_broadcast(watch, pub)
        started = time.monotonic()
        doc = hls_util.wait_for(
            lambda: (lambda d: d if d.get("degraded") else None)(hls_util.recording(cg, bid)),
            publish_s - 8, interval=0.5, what="the broadcast to be marked degraded")
        filled_after = time.monotonic() - started
        stored = hls_util.timeline(doc)
        st = os.statvfs(disk)
        log(f"degraded after {filled_after:.1f} s with {len(stored)} segments stored "
            f"({sum(s['bytes'] or 0 for s in stored)} bytes); free {st.f_bavail * st.f_frsize} "
            f"bytes; recording: { {k: v for k, v in doc.items() if k != 'segments'} }")
        self.assertGreater(len(stored), 0, "nothing was stored before the disk filled up")

        # The WHIP session lives on: still live, frames still rising.
        n0 = len(watch.snaps)
        time.sleep(4)
        after = [d for _, s, d in watch.snaps[n0:] if s == 200 and d]
        self.assertTrue(after, f"the stream disappeared: {watch.snaps[-3:]}")
        frames = [hls_util.StreamWatch.frames(d) for d in after]
        self.assertGreater(frames[-1], frames[0], frames)
        self.assertEqual(after[-1].get("state"), "live", after[-1])

        m = hls_util.metrics(cg)
        degraded = [line for line in m.splitlines()
                    if not line.startswith("#") and "degraded" in line]
        self.assertTrue(degraded, "no degraded metric in /metrics")
        self.assertTrue(any(float(line.rsplit(" ", 1)[1]) >= 1 for line in degraded),
                        degraded)
        failures = [line for line in m.splitlines()
                    if re.match(r"clipgate_\w*(write_err|write_fail|segments_lost)", line)]
        log(f"metrics: {degraded + failures}")

        rc = pub.wait(publish_s + STARTUP_S)
        self.assertEqual(rc, 0, pub.describe())
        self.assertEqual(pub.result().get("delete_status"), 200, pub.describe())
        doc = hls_util.wait_ended(cg, bid, timeout=20)
        self.assertTrue(doc.get("degraded"), doc)
        tl = hls_util.timeline(doc)
        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(pl.endlist, pl.text)
        self.assertEqual(pl.seqs(), [s["seq"] for s in tl], pl.text)
        # Everything stored before the failure is still there, unchanged.
        by_seq = {s["seq"]: s for s in tl}
        for s in stored:
            self.assertIn(s["seq"], by_seq, f"segment {s['seq']} vanished from the timeline")
            self.assertEqual(by_seq[s["seq"]]["bytes"], s["bytes"])
        for seg, s in zip(pl.segments, tl):
            body = hls_util.http_request(
                "GET", cg.url(f"/recordings/{bid}/{seg['uri']}")).body
            self.assertEqual(len(body), s["bytes"], f"{seg['uri']} is not the size indexed")
        self.check_segments(cg, bid, pl)
        log(f"ended: {len(tl)} segments in the recording, "
            f"{sum(1 for s in pl.segments if s['disc'])} discontinuities")


if __name__ == "__main__":
    unittest.main()
