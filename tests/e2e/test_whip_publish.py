"""WHIP ingest with three real publishers: aiortc, Chromium (fake camera and
microphone) and GStreamer webrtcbin each publish H.264 + Opus to a fresh
clipgate for PUBLISH_S seconds and end with DELETE. Chromium runs twice:
with H.264 put first through setCodecPreferences, and with its default
offer (VP8 first, H.264 further down, rtx/red/ulpfec), as a WHIP page that
sets no preferences sends it.

While a publisher runs, /api/v1/streams/{stream} must show the stream live
with H.264 video (frames, size) and Opus audio frames. After it exits the
stream must be gone, and the diagnostics dump (--dump-dir) must decode with
FFmpeg without a single error message and hold as many video frames as the
publisher says it sent (within 2 %), plus an Opus stream holding at least
95 % of the Opus frames sent and never more (the dump starts at the first
video keyframe, so audio that came before it is not in the file).

The figures of each run are printed on stderr (`whip_publish: ...`)."""
import os
import shutil
import sys
import tempfile
import unittest

import harness
import whip_util
from harness import http_request

PUBLISH_S = 11
CONSENT_TIMEOUT = "4s"  # shorter than PUBLISH_S on purpose
# Publishers take a few seconds to start (Chromium) and to settle and DELETE.
PUBLISHER_TIMEOUT_S = PUBLISH_S + 45
FRAME_TOLERANCE = 0.02
AUDIO_MIN_SHARE = 0.95


class WhipPublish(harness.ClipgateTestCase):
    def publish(self, peer, stream, extra=()):
        reason = whip_util.missing(peer)
        if reason:
            self.skipTest(reason)
        dump_dir = tempfile.mkdtemp(prefix="cg-dump-")
        self.addCleanup(shutil.rmtree, dump_dir, ignore_errors=True)
        # A consent timeout shorter than the publish: sessions must be kept
        # alive by authenticated media too, since some agents (libnice)
        # refresh the pair with binding indications only.
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--dump-dir", dump_dir,
                                 "--consent-timeout", CONSENT_TIMEOUT)
        url = cg.url("/whip/" + stream)

        pub = whip_util.Publisher(peer, url, PUBLISH_S, extra)
        self.addCleanup(pub.kill)
        snaps = whip_util.poll_stream(cg, stream, pub)
        rc = pub.wait(PUBLISHER_TIMEOUT_S)
        self.assertEqual(rc, 0, pub.describe())
        sent = pub.result()
        self.assertIsNotNone(sent, "no JSON line from the publisher:\n" + pub.describe())
        self.assertEqual(sent.get("delete_status"), 200, sent)
        self.assertGreater(sent["video_frames_sent"], 0, sent)
        self.assertGreater(sent["audio_frames_sent"], 0, sent)
        self.assertIn(f"/whip/{stream}/", sent["location"])

        # --- the API while it ran ---
        live = [doc for status, doc in snaps
                if status == 200 and doc.get("state") == "live"
                and doc.get("video", {}).get("frames", 0) > 0
                and doc.get("audio", {}).get("frames", 0) > 0]
        self.assertTrue(live, f"never live with video and audio frames; snapshots: {snaps[-5:]}")
        last = live[-1]
        self.assertEqual(last["name"], stream)
        self.assertEqual(last["session"], whip_util.session_from_location(sent["location"]))
        self.assertEqual(last["video"]["codec"], "H264", last)
        self.assertEqual(last["audio"]["codec"], "opus", last)
        self.assertGreater(last["video"]["width"], 0, last)
        self.assertGreater(last["video"]["height"], 0, last)
        self.assertGreater(last["video"]["keyframes"], 0, last)
        self.assertEqual(last["video"]["bframes"], 0, last)
        self.assertEqual(last["srtp_auth_failures"], 0, last)
        # Frame counts only grow while the session lives.
        vf = [d["video"]["frames"] for d in live]
        self.assertEqual(vf, sorted(vf), vf)

        # --- gone after DELETE ---
        r = http_request("GET", cg.url("/api/v1/streams/" + stream))
        self.assertProblem(r, 404)
        listed = http_request("GET", cg.url("/api/v1/streams")).json()["streams"]
        names = [s["name"] for s in listed]
        self.assertNotIn(stream, names)

        # --- the dump ---
        session = whip_util.session_from_location(sent["location"])
        dump = os.path.join(dump_dir, f"{stream}-{session}.mkv")
        self.assertTrue(os.path.isfile(dump), f"{dump} missing; dump dir: {os.listdir(dump_dir)}")
        code, errors = whip_util.ffmpeg_decode_errors(dump)
        self.assertEqual(code, 0, errors)
        self.assertEqual(errors, "", "ffmpeg reported decoding errors")
        streams = whip_util.ffprobe_streams(dump)
        video = [s for s in streams if s["codec_type"] == "video"]
        audio = [s for s in streams if s["codec_type"] == "audio"]
        self.assertEqual(len(video), 1, streams)
        self.assertEqual(len(audio), 1, streams)
        video, audio = video[0], audio[0]
        self.assertEqual(video["codec_name"], "h264", video)
        self.assertEqual((video["width"], video["height"]),
                         (last["video"]["width"], last["video"]["height"]), video)
        self.assertEqual(audio["codec_name"], "opus", audio)
        self.assertGreater(audio["nb_read_frames"], 0, audio)

        vsent, vgot = sent["video_frames_sent"], video["nb_read_frames"]
        asent, agot = sent["audio_frames_sent"], audio["nb_read_packets"]
        sys.stderr.write(
            f"\nwhip_publish: {peer}: video sent {vsent}, in dump {vgot} decoded "
            f"({video['nb_read_packets']} packets, {100.0 * (vgot - vsent) / vsent:+.2f} %), "
            f"{video['width']}x{video['height']}; audio sent {asent}, in dump {agot} packets "
            f"({100.0 * (agot - asent) / asent:+.2f} %); API last seen: video "
            f"{last['video']['frames']} frames, {last['video'].get('frame_rate', 0):.1f} fps, "
            f"{last['video']['packets_lost']} lost, {last['video']['frames_dropped']} dropped, "
            f"{last['video']['keyframes']} keyframes; srtp {last['srtp_profile']}\n"
            f"whip_publish: {peer}: publisher said {sent}\n")
        self.assertLessEqual(abs(vgot - vsent), FRAME_TOLERANCE * vsent,
                             f"{peer} sent {vsent} video frames, the dump decodes {vgot}")
        self.assertLessEqual(agot, asent, f"{peer} sent {asent} Opus frames, the dump has {agot}")
        self.assertGreaterEqual(agot, AUDIO_MIN_SHARE * asent,
                                f"{peer} sent {asent} Opus frames, the dump has {agot}")
        return sent

    def test_aiortc(self):
        self.publish("aiortc", "aiortc-cam")

    def test_chromium(self):
        sent = self.publish("chromium", "chromium-cam")
        self.assertEqual(sent["codec"], "video/H264", sent)

    def test_chromium_default_codecs(self):
        sent = self.publish("chromium", "chromium-default", ["--no-prefer-h264"])
        self.assertEqual(sent["codec"], "video/H264", sent)

    def test_webrtcbin(self):
        self.publish("webrtcbin", "gst-cam")


if __name__ == "__main__":
    unittest.main()
