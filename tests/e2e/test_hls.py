"""HLS packaging and recording end to end: a real publisher (aiortc, or
GStreamer webrtcbin) publishes H.264 + Opus over WHIP for PUBLISH_S
seconds; while it is live,

  - /live/{stream}/index.m3u8 is a rolling window (6 segments once there
    are more, sliding MEDIA-SEQUENCE, EXT-X-MAP, TARGETDURATION covering
    every EXTINF, PROGRAM-DATE-TIME on every segment, HOLD-BACK), whose
    init and segment URIs resolve relative to the playlist;
  - hls.js in Chromium, on a page from another origin, plays it: currentTime
    advances, video frames are decoded, no fatal hls.js error;
  - the preview (?duration=) lists the shortest run of final segments
    covering the duration, with Preview-Start-Seconds (the first listed
    segment's start in the timeline) and Stream-Media-Id (the broadcast id
    that /api/v1/streams/{stream} reports), and a page on another origin
    can read both headers;
  - /recordings/{broadcast}/index.m3u8 is an EVENT playlist;

and once it has ended, the recording is VOD with ENDLIST and its segments
match the timeline of /api/v1/recordings/{broadcast}; FFmpeg decodes it
with zero errors; each segment's media duration matches the index within
one frame; every segment starts with an IDR; PROGRAM-DATE-TIME equals the
index's wall clock, follows the media clock within 100 ms, and the first
one falls within 100 ms of the moment the test saw the first keyframe
arrive; audio and video start within 40 ms of each other; audio is AAC
(Opus with --audio-codec opus).

Figures (segment durations, PDT offsets, A/V offset, hls.js latency) are
printed on stderr as `hls: ...`."""
import json
import shutil
import sys
import tempfile
import threading
import unittest
import urllib.parse

import harness
import hls_util
from hls_util import Playlist, get

PUBLISH_S = 20
STARTUP_S = 45          # publisher start-up (GStreamer, a loaded machine)
SEGMENT_TARGET_S = 2.0  # clipgate's default --segment-duration
LIVE_WINDOW = 6         # clipgate's default --live-window
PDT_TOLERANCE_S = 0.100
AV_TOLERANCE_S = 0.040
PREVIEW_S = 5


def log(msg):
    sys.stderr.write(f"hls: {msg}\n")
    sys.stderr.flush()


class HlsBroadcast(harness.ClipgateTestCase):
    """One broadcast per test; the checks are shared by every publisher."""

    def setUp(self):
        for tool in ("ffmpeg",):
            reason = hls_util.missing(tool)
            if reason:
                self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="cg-hls-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ driver

    def broadcast(self, peer, stream, audio="aac", publish_s=PUBLISH_S, browser=True,
                  preview=True):
        reason = hls_util.missing(peer)
        if reason:
            self.skipTest(reason)
        if browser:
            reason = hls_util.missing("chromium")
            if reason:
                self.skipTest(reason)
        args = ["--public-ip", "127.0.0.1", "--reconnect-grace", "1s"]
        if audio != "aac":
            args += ["--audio-codec", audio]
        cg = self.start_clipgate(*args)
        watch = hls_util.StreamWatch(cg, stream)
        self.addCleanup(watch.stop)
        pub = hls_util.Publisher(peer, cg.url("/whip/" + stream), publish_s)
        self.addCleanup(pub.kill)

        def fail_with_publisher(msg):
            pub.kill()
            pub.wait(5)
            self.fail(f"{msg}\n{pub.describe()}")

        # The broadcast id, as the streams API reports it.
        try:
            bid = hls_util.wait_for(
                lambda: next((hls_util.broadcast_of_stream(d) for d in watch.live_docs()[-1:]
                              if hls_util.broadcast_of_stream(d)), None),
                STARTUP_S, what=f"/api/v1/streams/{stream} to name a broadcast")
        except AssertionError as e:
            fail_with_publisher(str(e))
        self.assertTrue(bid)

        # hls.js starts once two segments exist and plays while it is live.
        live_url = cg.url(f"/live/{stream}/index.m3u8")
        preview_url = cg.url(f"/live/{stream}/index.m3u8?duration=5m")
        player = {}
        if browser:
            try:
                hls_util.wait_for(lambda: len(hls_util.recording(cg, bid)["segments"]) >= 2,
                                  STARTUP_S, what="two segments")
            except AssertionError as e:
                fail_with_publisher(str(e))

            def play():
                player["doc"], player["proc"] = hls_util.play_in_chromium(
                    live_url, 6, preview=preview_url if preview else None)
            browser_thread = threading.Thread(target=play, daemon=True)
            browser_thread.start()

        # Live checks once the window has slid (more segments than it holds).
        try:
            hls_util.wait_for(
                lambda: len(hls_util.recording(cg, bid)["segments"]) > LIVE_WINDOW,
                publish_s + STARTUP_S, what=f"more than {LIVE_WINDOW} segments")
        except AssertionError as e:
            fail_with_publisher(f"{e}; recording: "
                                f"{json.dumps(hls_util.recording(cg, bid))[:3000]}")
        self.check_live_playlist(cg, stream, bid)
        if preview:
            self.check_preview(cg, stream, bid)
        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(pl.tag("#EXT-X-PLAYLIST-TYPE"), "EVENT", pl.text)
        self.assertFalse(pl.endlist, pl.text)
        sdoc = hls_util.get_json(cg, "/api/v1/streams/" + stream)
        self.assertEqual(hls_util.broadcast_of_stream(sdoc), bid, sdoc)
        rec_list = hls_util.recordings(cg)
        mine = [x for x in rec_list if x.get("id") == bid]
        self.assertEqual(len(mine), 1, rec_list)
        self.assertEqual(mine[0].get("state"), "live", mine)

        if browser:
            browser_thread.join(timeout=150)
            self.assertFalse(browser_thread.is_alive(), "hls_play.mjs did not finish")
            self.check_playback(player, audio)

        rc = pub.wait(publish_s + STARTUP_S + 30)
        watch.stop()
        self.assertEqual(rc, 0, pub.describe())
        sent = pub.result()
        self.assertIsNotNone(sent, pub.describe())
        log(f"{peer}: publisher sent {sent.get('video_frames_sent')} video and "
            f"{sent.get('audio_frames_sent')} audio frames")

        doc = hls_util.wait_ended(cg, bid)
        self.check_recording(cg, stream, bid, doc, watch, audio, pub.launched_at)
        return cg, bid

    # ----------------------------------------------------------- checks

    def check_live_playlist(self, cg, stream, bid):
        # Segments may be published between the two requests: retry until
        # the timeline is the same before and after the playlist.
        for _ in range(10):
            before = hls_util.timeline(hls_util.recording(cg, bid))
            r, pl = hls_util.fetch_playlist(cg, f"/live/{stream}/index.m3u8")
            after = hls_util.timeline(hls_util.recording(cg, bid))
            if len(before) == len(after):
                break
        self.assertEqual(r.status, 200, r)
        self.assertIn(r.header("Content-Type", "").split(";")[0].lower(),
                      hls_util.PLAYLIST_TYPES, r)
        text = pl.text
        self.assertIsNotNone(pl.tag("#EXT-X-VERSION"), text)
        self.assertFalse(pl.endlist, text)
        self.assertIsNone(pl.tag("#EXT-X-PLAYLIST-TYPE"), text)
        # Rolling window: the last LIVE_WINDOW segments of the timeline.
        self.assertEqual(len(pl.segments), LIVE_WINDOW, text)
        seqs = pl.seqs()
        self.assertEqual(seqs, [s["seq"] for s in after[-LIVE_WINDOW:]], text)
        self.assertEqual(int(pl.tag("#EXT-X-MEDIA-SEQUENCE")), seqs[0], text)
        self.assertGreater(seqs[0], 0, "the window never slid: " + text)
        target = int(pl.tag("#EXT-X-TARGETDURATION"))
        self.assertGreaterEqual(target, SEGMENT_TARGET_S, text)
        for seg in pl.segments:
            self.assertLessEqual(round(seg["duration"]), target, text)
            self.assertIsNotNone(seg["pdt"], "segment without PROGRAM-DATE-TIME: " + text)
            self.assertIsNotNone(seg["map"], "segment without EXT-X-MAP: " + text)
        # The map comes before the first segment.
        first_map = pl.lines.index(next(x for x in pl.lines if x.startswith("#EXT-X-MAP")))
        first_uri = pl.lines.index(pl.segments[0]["uri"])
        self.assertLess(first_map, first_uri, text)
        control = pl.tag("#EXT-X-SERVER-CONTROL", "")
        self.assertIn("HOLD-BACK=", control, text)
        hold_back = float(control.split("HOLD-BACK=")[1].split(",")[0])
        self.assertGreaterEqual(hold_back, 3 * target, text)
        # EXTINF and PDT are the timeline's.
        by_seq = {s["seq"]: s for s in after}
        for seq, seg in zip(seqs, pl.segments):
            self.assertAlmostEqual(seg["duration"], by_seq[seq]["duration"], delta=0.0011)
            self.assertAlmostEqual(seg["pdt"], by_seq[seq]["wall"], delta=0.0011)
        # URIs are relative to the playlist: the init and the newest segment.
        base = cg.url(f"/live/{stream}/index.m3u8")
        init = harness.http_request("GET", urllib.parse.urljoin(base, pl.segments[-1]["map"]))
        self.assertEqual(init.status, 200, init)
        self.assertEqual(hls_util.top_boxes(init.body)[:1], ["ftyp"], init)
        self.assertIn("moov", hls_util.top_boxes(init.body))
        media = harness.http_request("GET", urllib.parse.urljoin(base, pl.segments[-1]["uri"]))
        self.assertEqual(media.status, 200, media)
        boxes = hls_util.top_boxes(media.body)
        self.assertIn("moof", boxes, boxes)
        self.assertIn("mdat", boxes, boxes)
        log(f"live: MEDIA-SEQUENCE {seqs[0]}, {len(seqs)} segments, TARGETDURATION {target}, "
            f"HOLD-BACK {hold_back}, EXTINF {[s['duration'] for s in pl.segments]}")

    def check_preview(self, cg, stream, bid):
        asks = {"5": PREVIEW_S, "5s": PREVIEW_S, "5.0": PREVIEW_S, "0.5m": 30, "5m": 300}
        for _ in range(10):
            before = hls_util.timeline(hls_util.recording(cg, bid))
            answers = {q: get(cg, f"/live/{stream}/index.m3u8?duration={q}") for q in asks}
            after = hls_util.timeline(hls_util.recording(cg, bid))
            if len(before) == len(after):
                break
        tl = after
        for q, seconds in asks.items():
            r = answers[q]
            self.assertEqual(r.status, 200, (q, r))
            self.assertIn(r.header("Content-Type", "").split(";")[0].lower(),
                          hls_util.PLAYLIST_TYPES, r)
            self.assertEqual(r.header("Stream-Media-Id"), bid, r)
            pl = Playlist(r.text())
            # The shortest run of final segments lasting at least `seconds`.
            n, total = 0, 0.0
            while n < len(tl) and total < seconds:
                n += 1
                total += tl[-n]["duration"]
            want = tl[-n:]
            self.assertEqual(pl.seqs(), [s["seq"] for s in want], (q, r.text(), tl))
            self.assertEqual(int(pl.tag("#EXT-X-MEDIA-SEQUENCE")), want[0]["seq"], r.text())
            start = float(r.header("Preview-Start-Seconds"))
            self.assertAlmostEqual(start, want[0]["start"], delta=0.0011, msg=(q, r))
            for seg in pl.segments:
                self.assertIsNotNone(seg["pdt"], r.text())
                self.assertIsNotNone(seg["map"], r.text())
            log(f"preview ?duration={q}: {len(want)} segments from seq {want[0]['seq']}, "
                f"Preview-Start-Seconds {r.header('Preview-Start-Seconds')}")
        # Everything the broadcast has when asked for more than it lasted.
        self.assertEqual(Playlist(answers["5m"].text()).seqs(), [s["seq"] for s in tl])
        self.assertAlmostEqual(float(answers["5m"].header("Preview-Start-Seconds")),
                               tl[0]["start"], delta=0.0011)
        # A cross-origin request sees both headers exposed.
        r = harness.http_request("GET", cg.url(f"/live/{stream}/index.m3u8?duration=5"),
                                 headers={"Origin": "http://example.test"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNotNone(r.header("Access-Control-Allow-Origin"), r)
        exposed = [h.strip().lower()
                   for h in ",".join(r.header_all("Access-Control-Expose-Headers")).split(",")]
        self.assertIn("preview-start-seconds", exposed, r)
        self.assertIn("stream-media-id", exposed, r)

    def check_playback(self, player, audio):
        doc, proc = player.get("doc"), player.get("proc")
        self.assertIsNotNone(doc, f"hls_play.mjs printed nothing: exit {proc and proc.returncode}"
                                  f"\n{proc and proc.stderr[-3000:]}")
        summary = {k: doc.get(k) for k in ("chromium", "hlsjs", "supported", "errors", "fatal",
                                           "fragsLoaded", "live", "codecs", "console")}
        playing = [s for s in doc["samples"] if s["totalVideoFrames"] > 0]
        last = doc["samples"][-1]
        log(f"hls.js {doc.get('hlsjs')} in Chromium {doc.get('chromium')}: "
            f"{last['totalVideoFrames']} frames decoded ({last['droppedVideoFrames']} dropped), "
            f"currentTime {last['currentTime']:.2f} s, fragments {doc.get('fragsLoaded')}, "
            f"latency behind PDT {last.get('latency')}, codecs {doc.get('codecs')}, "
            f"non-fatal errors {[e['details'] for e in doc['errors'] if not e['fatal']]}")
        self.assertFalse(doc["fatal"], f"hls.js fatal error: {json.dumps(summary)}")
        self.assertTrue(doc["live"], summary)
        self.assertTrue(playing, f"no video frame decoded: {json.dumps(summary)}; "
                                 f"samples {doc['samples'][-3:]}")
        self.assertGreater(last["totalVideoFrames"], 0, summary)
        self.assertGreater(last["currentTime"], playing[0]["currentTime"] + 1.0,
                           f"currentTime did not advance: {doc['samples']}")
        self.assertGreater(last["audioBytes"], 0, f"no audio decoded: {doc['samples'][-3:]}")
        self.assertIn("avc1", doc["codecs"].get("video", ""), summary)
        want_audio = "mp4a" if audio == "aac" else "opus"
        self.assertIn(want_audio, doc["codecs"].get("audio", "").lower(), summary)
        prev = doc.get("preview")
        if prev is not None:
            self.assertNotIn("error", prev, f"cross-origin preview fetch failed: {prev}")
            self.assertEqual(prev["status"], 200, prev)
            self.assertIsNotNone(prev["previewStartSeconds"],
                                 "Preview-Start-Seconds not readable cross-origin")
            self.assertIsNotNone(prev["streamMediaId"],
                                 "Stream-Media-Id not readable cross-origin")
            float(prev["previewStartSeconds"])
            self.assertTrue(prev["body"].startswith("#EXTM3U"), prev)
            log(f"cross-origin preview from {doc.get('pageOrigin')}: Preview-Start-Seconds "
                f"{prev['previewStartSeconds']}, Stream-Media-Id {prev['streamMediaId']}")

    def check_recording(self, cg, stream, bid, doc, watch, audio, launched_at):
        tl = hls_util.timeline(doc)
        self.assertGreater(len(tl), LIVE_WINDOW, doc)
        url = cg.url(f"/recordings/{bid}/index.m3u8")
        r, pl = hls_util.fetch_playlist(cg, f"/recordings/{bid}/index.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(pl.tag("#EXT-X-PLAYLIST-TYPE"), "VOD", pl.text)
        self.assertTrue(pl.endlist, pl.text)
        self.assertEqual(int(pl.tag("#EXT-X-MEDIA-SEQUENCE")), 0, pl.text)
        self.assertEqual(pl.seqs(), [s["seq"] for s in tl], pl.text)
        self.assertEqual(pl.seqs(), list(range(len(tl))), pl.text)
        self.assertFalse(any(s["disc"] for s in pl.segments), pl.text)
        # Players still on the live playlist get its last window with
        # ENDLIST (for a while after the end), so they stop cleanly.
        lr = get(cg, f"/live/{stream}/index.m3u8")
        self.assertEqual(lr.status, 200, lr)
        self.assertTrue(Playlist(lr.text()).endlist, lr.text())

        # The timeline is continuous and keyframes sit at segment starts.
        for a, b in zip(tl, tl[1:]):
            self.assertAlmostEqual(a["start"] + a["duration"], b["start"], delta=0.002,
                                   msg=(a, b))
        for s in tl:
            self.assertTrue(s["keys"], s)
            self.assertAlmostEqual(s["keys"][0], s["start"], delta=0.0011, msg=s)

        # PROGRAM-DATE-TIME: the index's wall clock, the media clock, and
        # the moment the first keyframe reached clipgate.
        pdt_vs_wall = [seg["pdt"] - s["wall"] for seg, s in zip(pl.segments, tl)]
        drift = [(seg["pdt"] - pl.segments[0]["pdt"]) - (s["start"] - tl[0]["start"])
                 for seg, s in zip(pl.segments, tl)]
        for seg, s, d in zip(pl.segments, tl, pdt_vs_wall):
            self.assertLessEqual(abs(d), PDT_TOLERANCE_S, (seg, s))
        for d, s in zip(drift, tl):
            self.assertLessEqual(abs(d), PDT_TOLERANCE_S,
                                 f"PDT of seq {s['seq']} is {d * 1000:.0f} ms off the media "
                                 f"clock; drift {[round(x * 1000) for x in drift]}")
        window = watch.first_keyframe_window()
        self.assertIsNotNone(window, "the streams API never showed a keyframe")
        pdt0 = pl.segments[0]["pdt"]
        log(f"first PDT {pdt0:.3f}; the test saw the first keyframe between "
            f"{window[0]:.3f} and {window[1]:.3f} (PDT - last poll without: "
            f"{(pdt0 - window[0]) * 1000:.0f} ms, first poll with - PDT: "
            f"{(window[1] - pdt0) * 1000:.0f} ms); max |PDT - index wall| "
            f"{max(abs(x) for x in pdt_vs_wall) * 1000:.1f} ms; PDT vs media clock drift (ms) "
            f"{[round(x * 1000) for x in drift]}")
        # Not before the publisher was started, and inside the window in
        # which the test saw the first keyframe arrive.
        self.assertGreaterEqual(pdt0, launched_at)
        self.assertGreaterEqual(pdt0, window[0] - PDT_TOLERANCE_S)
        self.assertLessEqual(pdt0, window[1] + PDT_TOLERANCE_S)
        # And the arrival time clipgate itself reports for that keyframe.
        sdoc = next((d for d in reversed(watch.live_docs())
                     if d.get("first_keyframe_ms") is not None), None)
        self.assertIsNotNone(sdoc, "the streams API never gave first_keyframe_ms")
        arrival = (sdoc["started_at_ms"] + sdoc["first_keyframe_ms"]) / 1000.0
        log(f"first PDT - first keyframe arrival (streams API): {(pdt0 - arrival) * 1000:.0f} ms; "
            f"publisher launched {pdt0 - launched_at:.3f} s before the first PDT")
        self.assertLessEqual(abs(pdt0 - arrival), PDT_TOLERANCE_S)

        # FFmpeg decodes the whole recording, over HTTP, without an error.
        code, errors = hls_util.ffmpeg_decode_errors(url)
        self.assertEqual((code, errors), (0, ""), "ffmpeg decode of the recording")
        whole = hls_util.streams(url)
        kinds = {s["codec_type"]: s for s in whole}
        self.assertEqual(kinds["video"]["codec_name"], "h264", whole)
        self.assertEqual(kinds["audio"]["codec_name"], audio, whole)
        av_whole = kinds["video"]["start_time"] - kinds["audio"]["start_time"]

        # Each segment: IDR first, media duration as indexed.
        files = hls_util.fetch_segment_files(url, pl, self.tmp)
        durations = []
        for i, (path, seg, s) in enumerate(zip(files, pl.segments, tl)):
            frame = hls_util.first_video_frame(path)
            self.assertIsNotNone(frame, f"seq {s['seq']}: no video frame")
            self.assertEqual((int(frame["key_frame"]), frame["pict_type"]), (1, "I"),
                             f"seq {s['seq']} does not start with an IDR: {frame}")
            pkts = hls_util.video_packets(path)
            self.assertTrue(pkts[0][2], f"seq {s['seq']}: first packet not a keyframe")
            media = pkts[-1][0] + pkts[-1][1] - pkts[0][0]
            gaps = sorted(b[0] - a[0] for a, b in zip(pkts, pkts[1:])) or [1 / 30]
            frame_s = gaps[len(gaps) // 2]
            durations.append((s["duration"], media, frame_s))
            self.assertLessEqual(abs(media - s["duration"]), frame_s + 0.001,
                                 f"seq {s['seq']}: media {media:.4f} s, index "
                                 f"{s['duration']:.4f} s, frame {frame_s:.4f} s")
            self.assertAlmostEqual(seg["duration"], s["duration"], delta=0.0011)
            if i == 0:
                first = hls_util.start_times(path)
                self.assertIn("audio", first, f"no audio in the first segment: {first}")
                av_first = first["video"] - first["audio"]
        log(f"recording {bid}: {len(tl)} segments; index vs media duration (s): "
            f"{[(round(a, 3), round(b, 3)) for a, b, _ in durations]}; frame "
            f"{durations[0][2] * 1000:.1f} ms")
        log(f"A/V start offset: first segment {av_first * 1000:.1f} ms, whole recording "
            f"{av_whole * 1000:.1f} ms ({audio})")
        self.assertLessEqual(abs(av_first), AV_TOLERANCE_S, first)
        self.assertLessEqual(abs(av_whole), AV_TOLERANCE_S, whole)

    # ------------------------------------------------------------ tests

    def test_aiortc_aac(self):
        self.broadcast("aiortc", "hls-aiortc")

    def test_webrtcbin_aac(self):
        self.broadcast("webrtcbin", "hls-gst", preview=False)

    def test_aiortc_opus(self):
        self.broadcast("aiortc", "hls-opus", audio="opus", preview=False)


if __name__ == "__main__":
    unittest.main()
