"""WHIP ingest under packet loss: aiortc publishes H.264 + Opus for LOSS_S
seconds while nftables drops LOSS_PCT % of the RTP and RTCP packets going
to clipgate's media port (publisher to gateway only; STUN and DTLS pass,
so the session always comes up).

clipgate must notice the gaps and NACK them, aiortc answers with RTX
retransmissions (themselves subject to the same loss), and the streams API
must count recovered packets on the video track. Frames that still cannot
be completed are dropped up to the next keyframe (clipgate asks for one
with PLI), never passed on: the diagnostics dump must decode with FFmpeg
without a single error message.

The table lives in the suite's own network namespace (the test refuses to
touch a firewall that has anything besides loopback). The measured
counters are printed on stderr (`whip_loss: ...`)."""
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

import harness
import whip_util
from harness import http_request, loopback_only, nft

LOSS_PCT = 5
# Long enough for a few dozen losses on the video track, so that some of
# their retransmissions survive the same loss and are counted as recovered.
LOSS_S = 20
PUBLISHER_TIMEOUT_S = LOSS_S + 45
TABLE = "cg_loss"


def install_loss(port):
    """Output hook (each loopback packet passes it once, on the sender's
    side): UDP to `port` whose first payload byte is 128-191 (RTP or RTCP,
    RFC 7983) is counted, then LOSS_PCT % of it is dropped."""
    rules = f"""
table inet {TABLE} {{
    chain out {{
        type filter hook output priority 0; policy accept;
        udp dport {port} @th,64,8 128-191 counter comment "media"
        udp dport {port} @th,64,8 128-191 numgen random mod 100 < {LOSS_PCT} counter drop comment "lost"
    }}
}}
"""
    return nft("-f", "-", input_text=rules)


def loss_counters():
    """{"media": packets, "lost": packets} from the table's counters."""
    res = nft("-j", "list", "table", "inet", TABLE)
    out = {}
    for item in json.loads(res.stdout).get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        packets = next((e["counter"]["packets"] for e in rule.get("expr", [])
                        if "counter" in e), None)
        if rule.get("comment") in ("media", "lost") and packets is not None:
            out[rule["comment"]] = packets
    return out


class WhipLoss(harness.ClipgateTestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to install an nftables table")
        if shutil.which("nft") is None:
            self.skipTest("nft is missing: apt-get install nftables")
        if not loopback_only():
            self.skipTest("runs only in a network namespace holding nothing but lo "
                          "(ctest runs it through netns_run.py); it will not touch this "
                          "host's firewall")
        reason = whip_util.missing("aiortc")
        if reason:
            self.skipTest(reason)

    def media_port(self, cg):
        return int(cg.args[cg.args.index("--media-port") + 1])

    def test_nack_recovers_and_dump_decodes(self):
        stream = "lossy"
        dump_dir = tempfile.mkdtemp(prefix="cg-dump-")
        self.addCleanup(shutil.rmtree, dump_dir, ignore_errors=True)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--dump-dir", dump_dir)
        port = self.media_port(cg)
        res = install_loss(port)
        self.assertEqual(res.returncode, 0, f"nft: {res.stderr}")
        self.addCleanup(nft, "delete", "table", "inet", TABLE)

        pub = whip_util.Publisher("aiortc", cg.url("/whip/" + stream), LOSS_S)
        self.addCleanup(pub.kill)
        snaps = whip_util.poll_stream(cg, stream, pub)
        rc = pub.wait(PUBLISHER_TIMEOUT_S)
        self.assertEqual(rc, 0, pub.describe())
        counters = loss_counters()
        sent = pub.result()

        live = [doc for status, doc in snaps
                if status == 200 and doc.get("state") == "live" and "video" in doc]
        self.assertTrue(live, f"never live; last snapshots: {snaps[-5:]}")
        last = live[-1]
        video, audio = last["video"], last.get("audio", {})
        sys.stderr.write(
            f"\nwhip_loss: nft: {counters.get('media')} RTP/RTCP packets to port {port}, "
            f"{counters.get('lost')} dropped "
            f"({100.0 * counters.get('lost', 0) / max(1, counters.get('media', 0)):.1f} %)\n"
            f"whip_loss: video: {video['packets_received']} received, "
            f"{video['packets_lost']} lost, {video['nacks_sent']} NACKed, "
            f"{video['packets_recovered']} recovered, {video['frames']} frames, "
            f"{video['frames_dropped']} dropped, {video['keyframes']} keyframes; "
            f"audio: {audio.get('packets_received')} received, {audio.get('packets_lost')} "
            f"lost; keyframe requests {last['keyframe_requests']}\n"
            f"whip_loss: publisher said {sent}\n")

        # The loss really happened on the wire.
        self.assertGreater(counters.get("media", 0), 0, counters)
        self.assertGreater(counters.get("lost", 0), 0, counters)
        # clipgate saw it, asked for it, and got some of it back.
        self.assertGreater(video["packets_lost"] + video["nacks_sent"], 0, video)
        self.assertGreater(video["nacks_sent"], 0, video)
        self.assertGreater(video["packets_recovered"], 0, video)
        self.assertGreater(video["frames"], 0, video)
        self.assertGreater(audio.get("frames", 0), 0, last)
        self.assertEqual(last["srtp_auth_failures"], 0, last)

        # --- after the session: the dump decodes cleanly ---
        r = http_request("GET", cg.url("/api/v1/streams/" + stream))
        self.assertProblem(r, 404)
        self.assertEqual(cg.stop(), 0, cg.log())
        dumps = [f for f in os.listdir(dump_dir) if re.fullmatch(stream + r"-\w+\.mkv", f)]
        self.assertEqual(len(dumps), 1, os.listdir(dump_dir))
        dump = os.path.join(dump_dir, dumps[0])
        code, errors = whip_util.ffmpeg_decode_errors(dump)
        self.assertEqual(code, 0, errors)
        self.assertEqual(errors, "", "ffmpeg reported decoding errors in the dump")
        streams = whip_util.ffprobe_streams(dump)
        vs = [s for s in streams if s["codec_type"] == "video"]
        self.assertEqual(len(vs), 1, streams)
        sys.stderr.write(f"whip_loss: dump: {vs[0]['nb_read_frames']} video frames decode "
                         f"without error ({dumps[0]})\n")
        # Every frame clipgate passed on is in the dump and decodes; only
        # frames it could not complete are missing.
        m = re.search(r"WHIP session \w+ ended: (\d+) video frames", cg.log())
        self.assertIsNotNone(m, cg.log())
        delivered = int(m.group(1))
        self.assertGreater(delivered, 0)
        self.assertEqual(vs[0]["nb_read_frames"], delivered, vs[0])
        if sent:
            self.assertLessEqual(delivered, sent["video_frames_sent"], sent)


if __name__ == "__main__":
    unittest.main()
