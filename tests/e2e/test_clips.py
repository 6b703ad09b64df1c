"""Clips end to end: a real publisher (aiortc, then GStreamer webrtcbin)
publishes H.264 + audio over WHIP, and clips are cut from what clipgate
recorded, without re-encoding:

  - while live: a 5 s clip at time=3 (precise and keyframe), last=10s from
    /live/{stream}/clip.mp4, the HLS clip playlist, and a persisted clip;
  - after the broadcast ended: the same 5 s clip at time=3 again (new ETag,
    Range gives 206, filename gives Content-Disposition);
  - every MP4: moov before mdat, FFmpeg decodes it with zero errors, the
    Clip-* headers tell the truth, audio and video start within one audio
    frame; precise: the video lasts the requested duration within one
    frame; keyframe: the first video sample is an IDR;
  - Chromium plays the MP4 in a <video> element and the clip playlist with
    hls.js, from another origin that reads the Clip-* headers;
  - a persisted clip still plays (FFmpeg and Chromium, MP4 and HLS) after
    its recording's files are deleted from the data dir, survives a
    restart, and DELETE removes it and its files.

Figures are printed on stderr as `clips: ...`."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import harness
import hls_util
from harness import http_request
from hls_util import Playlist, get

STARTUP_S = 45
CLIP_T, CLIP_D = 3.0, 5.0
AUDIO_FRAME_S = 1024 / 48000  # AAC (the default); an Opus frame is shorter


def log(msg):
    sys.stderr.write(f"clips: {msg}\n")
    sys.stderr.flush()


def clip_play(mp4=None, m3u8=None, seconds=3, timeout=150):
    argv = ["node", os.path.join(hls_util.HERE, "clip_play.mjs"), "--seconds", str(seconds),
            "--hlsjs", hls_util.HLSJS]
    if mp4:
        argv += ["--mp4", mp4]
    if m3u8:
        argv += ["--m3u8", m3u8]
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, cwd=hls_util.HERE)
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line), res
    return None, res


def timeline_end(cg, bid):
    segs = hls_util.timeline(hls_util.recording(cg, bid))
    return segs[-1]["start"] + segs[-1]["duration"] if segs else 0.0


class ClipSuite(harness.ClipgateTestCase):

    def setUp(self):
        for tool in ("ffmpeg",):
            reason = hls_util.missing(tool)
            if reason:
                self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="cg-clips-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.n = 0

    # ----------------------------------------------------------- helpers

    def start_broadcast(self, peer, stream, publish_s):
        reason = hls_util.missing(peer)
        if reason:
            self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "1s")
        pub = hls_util.Publisher(peer, cg.url("/whip/" + stream), publish_s)
        self.addCleanup(pub.kill)
        try:
            def current():
                r = get(cg, "/api/v1/streams/" + stream)
                return hls_util.broadcast_of_stream(r.json()) if r.status == 200 else None
            bid = hls_util.wait_for(current, STARTUP_S, what=f"{stream} to have a broadcast")
        except AssertionError as e:
            pub.kill()
            pub.wait(5)
            self.fail(f"{e}\n{pub.describe()}")
        return cg, pub, bid

    def fetch(self, cg, path, expect=200, headers=None):
        r = http_request("GET", cg.url(path), headers=headers, timeout=60)
        self.assertEqual(r.status, expect, f"GET {path}: {r.status} {r.text()[:400]}")
        return r

    def save(self, r, name=None):
        self.n += 1
        p = os.path.join(self.tmp, name or f"clip-{self.n}.mp4")
        with open(p, "wb") as f:
            f.write(r.body)
        return p

    def clip_headers(self, r):
        h = {k: r.header(k) for k in ("Clip-Requested-Start", "Clip-Requested-Duration",
                                      "Clip-Start", "Clip-Duration", "Clip-Keyframe")}
        for k, v in h.items():
            self.assertIsNotNone(v, f"{k} missing")
            self.assertRegex(v, r"^-?\d+\.\d{3}$", k)
        out = {k: float(v) for k, v in h.items()}
        out["mode"] = r.header("Clip-Mode")
        return out

    def check_mp4(self, path, mode, req_start, req_dur, hdr, what):
        """The checks every clip MP4 passes; returns its figures."""
        with open(path, "rb") as f:
            boxes = hls_util.top_boxes(f.read())
        self.assertIn("moov", boxes, what)
        self.assertIn("mdat", boxes, what)
        self.assertLess(boxes.index("moov"), boxes.index("mdat"), f"{what}: {boxes}")
        status, err = hls_util.ffmpeg_decode_errors(path)
        self.assertEqual((status, err.strip()), (0, ""), f"{what}: ffmpeg decode errors")
        st = {s["codec_type"]: s for s in hls_util.streams(path)}
        self.assertEqual(st["video"]["codec_name"], "h264", what)
        self.assertIn("audio", st, what)
        pk = hls_util.video_packets(path)
        self.assertTrue(pk, what)
        steps = sorted(b[0] - a[0] for a, b in zip(pk, pk[1:]) if b[0] > a[0])
        frame = steps[len(steps) // 2] if steps else 1 / 30
        vdur = float(st["video"].get("duration") or 0)
        a0 = st["audio"].get("start_time") or 0.0
        v0 = st["video"].get("start_time") or 0.0
        # Requested values echo the request; the actual start is the request
        # (precise) or the keyframe at or before it (keyframe).
        self.assertAlmostEqual(hdr["Clip-Requested-Start"], req_start, delta=0.0015)
        self.assertAlmostEqual(hdr["Clip-Requested-Duration"], req_dur, delta=0.0015)
        self.assertEqual(hdr["mode"], mode)
        self.assertLessEqual(hdr["Clip-Keyframe"], req_start + 0.0005)
        first = hls_util.first_video_frame(path)
        if mode == "precise":
            self.assertAlmostEqual(hdr["Clip-Start"], req_start, delta=0.0015)
            self.assertAlmostEqual(hdr["Clip-Duration"], req_dur, delta=0.0015)
            self.assertLessEqual(abs(vdur - req_dur), frame + 0.001,
                                 f"{what}: video lasts {vdur:.3f} s for {req_dur} s asked "
                                 f"(frame {frame:.4f} s)")
        else:
            self.assertAlmostEqual(hdr["Clip-Start"], hdr["Clip-Keyframe"], delta=0.0015)
            self.assertTrue(pk[0][2], f"{what}: first video packet is not a keyframe")
            self.assertEqual((first or {}).get("key_frame"), 1, f"{what}: {first}")
            self.assertEqual((first or {}).get("pict_type"), "I", f"{what}: {first}")
            self.assertLessEqual(abs(vdur - hdr["Clip-Duration"]), frame + 0.001,
                                 f"{what}: video lasts {vdur:.3f} s, Clip-Duration "
                                 f"{hdr['Clip-Duration']}")
        self.assertLessEqual(abs(a0 - v0), AUDIO_FRAME_S + 0.0005,
                             f"{what}: audio starts at {a0:.4f} s, video at {v0:.4f} s")
        fig = (f"{what}: mode {mode}, video {vdur:.3f} s (asked {req_dur}), frame "
               f"{frame * 1000:.1f} ms, A/V start {a0 * 1000:.1f}/{v0 * 1000:.1f} ms, "
               f"keyframe {hdr['Clip-Keyframe']:.3f}, {os.path.getsize(path)} bytes")
        log(fig)
        return vdur

    def assert_plays(self, doc, res, kind, what):
        self.assertIsNotNone(doc, f"{what}: clip_play.mjs gave nothing\n{res.stderr[-3000:]}")
        d = doc[kind]
        played = max(s["currentTime"] for s in d["samples"])
        frames = max(s["totalVideoFrames"] for s in d["samples"])
        log(f"{what}: Chromium {kind} played {played:.2f} s, {frames} frames, "
            f"duration {d['duration']}, errors {d.get('errors')} {d.get('error')}")
        self.assertFalse(d.get("error"), f"{what}: {d}")
        self.assertFalse(d.get("fatal"), f"{what}: {d.get('errors')}")
        self.assertGreater(frames, 10, f"{what}: {d['samples'][-3:]}")
        self.assertGreater(played, 1.5, f"{what}: {d['samples'][-3:]}")
        return d

    # ------------------------------------------------------------- tests

    def test_aiortc_clips_live_ended_persisted(self):
        stream = "clipcam"
        cg, pub, bid = self.start_broadcast("aiortc", stream, 24)
        hls_util.wait_for(lambda: timeline_end(cg, bid) >= 10.5, STARTUP_S,
                          what="10.5 s of segments")
        q = f"time={CLIP_T:g}&duration={CLIP_D:g}"

        # While live.
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}")
        self.assertEqual(r.header("Content-Type"), "video/mp4")
        live_etag = r.header("ETag")
        self.assertTrue(live_etag)
        self.check_mp4(self.save(r), "precise", CLIP_T, CLIP_D, self.clip_headers(r),
                       "live precise")
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}&mode=keyframe")
        self.check_mp4(self.save(r), "keyframe", CLIP_T, CLIP_D, self.clip_headers(r),
                       "live keyframe")
        r = self.fetch(cg, f"/live/{stream}/clip.mp4?last=10s")
        hdr = self.clip_headers(r)
        self.check_mp4(self.save(r), "precise", hdr["Clip-Requested-Start"], 10.0, hdr,
                       "live last=10s")
        r = self.fetch(cg, f"/live/{stream}/clip.m3u8?last=10s")
        self.assertEqual(Playlist(r.text()).endlist, True)
        r = self.fetch(cg, f"/recordings/{bid}/clip.m3u8?{q}")
        pl = Playlist(r.text())
        self.assertTrue(pl.endlist)
        self.assertIn("PRECISE=YES", pl.tag("#EXT-X-START", ""))
        for s in pl.segments:
            self.assertTrue(s["uri"].startswith(f"/recordings/{bid}/seg-"), s)
        status, err = hls_util.ffmpeg_decode_errors(cg.url(f"/recordings/{bid}/clip.m3u8?{q}"))
        self.assertEqual((status, err.strip()), (0, ""), "clip.m3u8 decode")

        # Persisted while live, by broadcast and by stream.
        r = http_request("POST", cg.url("/api/v1/clips"),
                         body=json.dumps({"broadcast": bid, "time": "3s", "duration": 5,
                                          "title": "the moment"}).encode(),
                         headers={"Content-Type": "application/json"}, timeout=60)
        self.assertEqual(r.status, 201, r.text())
        clip = r.json()
        self.assertEqual(r.header("Location"), f"/api/v1/clips/{clip['id']}")
        self.assertEqual(clip["broadcast"], bid)
        self.assertEqual(clip["title"], "the moment")
        self.assertEqual(clip["mode"], "precise")
        self.assertEqual(clip["requested"], {"start": 3.0, "duration": 5.0})
        self.assertAlmostEqual(clip["actual"]["start"], 3.0, delta=0.0015)
        self.assertEqual(clip["urls"], {"mp4": f"/clips/{clip['id']}.mp4",
                                        "hls": f"/clips/{clip['id']}.m3u8"})
        self.assertGreater(clip["bytes"], 1000)
        self.assertTrue(clip["created_at"].endswith("Z"))
        r = http_request("POST", cg.url("/api/v1/clips"),
                         body=json.dumps({"stream": stream, "last": "4s",
                                          "mode": "keyframe"}).encode(), timeout=60)
        self.assertEqual(r.status, 201, r.text())
        clip2 = r.json()
        self.assertEqual(clip2["mode"], "keyframe")

        # After the end.
        self.assertEqual(pub.wait(60), 0, pub.describe())
        hls_util.wait_ended(cg, bid)
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}&filename=best-moment.mp4")
        self.assertEqual(r.header("Content-Disposition"),
                         'attachment; filename="best-moment.mp4"')
        ended_etag = r.header("ETag")
        self.assertNotEqual(ended_etag, live_etag)
        full = r.body
        self.check_mp4(self.save(r), "precise", CLIP_T, CLIP_D, self.clip_headers(r),
                       "ended precise")
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}&mode=keyframe")
        self.check_mp4(self.save(r), "keyframe", CLIP_T, CLIP_D, self.clip_headers(r),
                       "ended keyframe")
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}", expect=206,
                       headers={"Range": "bytes=100-1099"})
        self.assertEqual(r.body, full[100:1100])
        self.assertEqual(r.header("Content-Range"), f"bytes 100-1099/{len(full)}")
        self.assertEqual(r.header("ETag"), ended_etag)

        # Chromium: the MP4 in <video>, the clip playlist in hls.js.
        if hls_util.missing("chromium"):
            log(f"Chromium playback skipped: {hls_util.missing('chromium')}")
        else:
            doc, res = clip_play(mp4=cg.url(f"/recordings/{bid}/clip.mp4?{q}"),
                                 m3u8=cg.url(f"/recordings/{bid}/clip.m3u8?{q}"))
            d = self.assert_plays(doc, res, "mp4", "instant clip.mp4")
            self.assertEqual(d["headers"].get("Clip-Start"), "3.000", d["headers"])
            self.assertEqual(d["headers"].get("Clip-Mode"), "precise", d["headers"])
            self.assertAlmostEqual(d["duration"], CLIP_D, delta=0.1)
            self.assert_plays(doc, res, "m3u8", "instant clip.m3u8")

        # The recording's files go; the persisted clip stays.
        shutil.rmtree(os.path.join(cg.data_dir, "recordings", bid))
        self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}", expect=410)
        r = self.fetch(cg, clip["urls"]["mp4"])
        hdr = self.clip_headers(r)
        self.check_mp4(self.save(r), "precise", 3.0, 5.0, hdr, "persisted, recording gone")
        self.fetch(cg, clip["urls"]["mp4"], expect=206, headers={"Range": "bytes=0-99"})
        r = self.fetch(cg, clip["urls"]["hls"])
        pl = Playlist(r.text())
        self.assertTrue(pl.endlist)
        for s in pl.segments:
            self.assertTrue(s["uri"].startswith(f"/clips/{clip['id']}/"), s)
        status, err = hls_util.ffmpeg_decode_errors(cg.url(clip["urls"]["hls"]))
        self.assertEqual((status, err.strip()), (0, ""), "persisted clip.m3u8 decode")
        if not hls_util.missing("chromium"):
            doc, res = clip_play(mp4=cg.url(clip["urls"]["mp4"]), m3u8=cg.url(clip["urls"]["hls"]))
            self.assert_plays(doc, res, "mp4", "persisted clip.mp4")
            self.assert_plays(doc, res, "m3u8", "persisted clip.m3u8")

        # Listing, restart, delete.
        ids = [c["id"] for c in hls_util.get_json(cg, "/api/v1/clips")["clips"]]
        self.assertEqual(ids, [clip2["id"], clip["id"]])
        ids = [c["id"] for c in hls_util.get_json(
            cg, "/api/v1/clips?broadcast=" + urllib.parse.quote(bid))["clips"]]
        self.assertEqual(sorted(ids), sorted([clip["id"], clip2["id"]]))
        self.assertEqual(hls_util.get_json(cg, "/api/v1/clips?broadcast=other")["clips"], [])
        cg.stop()
        cg2 = self.start_clipgate("--public-ip", "127.0.0.1", data_dir=cg.data_dir)
        self.assertEqual(hls_util.get_json(cg2, f"/api/v1/clips/{clip['id']}"), clip)
        r = http_request("DELETE", cg2.url(f"/api/v1/clips/{clip['id']}"))
        self.assertEqual(r.status, 204, r.text())
        self.assertProblem(get(cg2, f"/api/v1/clips/{clip['id']}"), 404)
        self.assertProblem(get(cg2, clip["urls"]["mp4"]), 404)
        self.assertProblem(get(cg2, clip["urls"]["hls"]), 404)
        self.assertFalse(os.path.exists(os.path.join(cg.data_dir, "clips", clip["id"], "clip.mp4")))
        left = os.listdir(os.path.join(cg.data_dir, "clips", clip["id"])) \
            if os.path.isdir(os.path.join(cg.data_dir, "clips", clip["id"])) else []
        self.assertEqual(left, [])
        ids = [c["id"] for c in hls_util.get_json(cg2, "/api/v1/clips")["clips"]]
        self.assertEqual(ids, [clip2["id"]])

    def test_webrtcbin_clips(self):
        stream = "gstclip"
        cg, pub, bid = self.start_broadcast("webrtcbin", stream, 10)
        hls_util.wait_for(lambda: timeline_end(cg, bid) >= CLIP_T + CLIP_D, STARTUP_S,
                          what="8 s of segments")
        q = f"time={CLIP_T:g}&duration={CLIP_D:g}"
        r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}")
        self.check_mp4(self.save(r), "precise", CLIP_T, CLIP_D, self.clip_headers(r),
                       "webrtcbin live precise")
        self.assertEqual(pub.wait(60), 0, pub.describe())
        hls_util.wait_ended(cg, bid)
        for mode in ("precise", "keyframe"):
            r = self.fetch(cg, f"/recordings/{bid}/clip.mp4?{q}&mode={mode}")
            self.check_mp4(self.save(r), mode, CLIP_T, CLIP_D, self.clip_headers(r),
                           f"webrtcbin ended {mode}")
        status, err = hls_util.ffmpeg_decode_errors(cg.url(f"/recordings/{bid}/clip.m3u8?{q}"))
        self.assertEqual((status, err.strip()), (0, ""), "webrtcbin clip.m3u8 decode")


if __name__ == "__main__":
    unittest.main()
