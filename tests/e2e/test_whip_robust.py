"""Bad input on the media port while a real publisher (aiortc) is live, and
a publisher whose DTLS certificate does not match its offer.

While aiortc publishes, this suite sends to clipgate's UDP port:
  - STUN binding requests for the live session's ufrag with a wrong
    MESSAGE-INTEGRITY (ignored, never answered, counted), for an unknown
    ufrag, and truncated;
  - datagrams that look like DTLS, RTP and RTCP from an address that never
    passed an ICE check, and datagrams of no known class (dropped, counted);
  - the same kinds of garbage forged with the publisher's own source address
    (a raw IPv4 socket; the suite runs as root in its own namespace): bad
    SRTP/SRTCP auth tags, truncated packets, junk DTLS records.
The publisher must keep publishing (frames keep rising, same session) and
the counters must rise by exactly what was sent, in the stream JSON and in
/metrics. The second test lets aiortc offer a fingerprint that is not its
certificate's: the session must end on the DTLS failure, long before ICE
consent could expire, with a log line saying why and
clipgate_dtls_failures_total counting it."""
import hmac
import json
import os
import re
import socket
import struct
import subprocess
import time
import unittest
import zlib

import harness
from harness import http_request, metric, metrics

PYTHON = "/usr/bin/python3"
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
STUN_MAGIC = 0x2112A442


def aiortc_missing():
    res = subprocess.run([PYTHON, "-c", "import aiortc, aioice"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    if res.returncode == 0:
        return None
    return (f"{PYTHON} cannot import aiortc ({res.stderr.strip().splitlines()[-1:]}): "
            "apt-get install python3-aiortc")


def media_port(cg):
    return int(cg.args[cg.args.index("--media-port") + 1])


# --- packets -----------------------------------------------------------------

def stun_attr(kind, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * pad


def stun_binding(username, integrity, fingerprint=True):
    """A binding request as an ICE agent sends it, with `integrity` (20
    bytes) as MESSAGE-INTEGRITY and a correct FINGERPRINT."""
    txid = os.urandom(12)
    attrs = (stun_attr(0x0006, username.encode()) +
             stun_attr(0x0024, struct.pack("!I", 1853817087)) +        # PRIORITY
             stun_attr(0x802A, os.urandom(8)) +                          # ICE-CONTROLLING
             stun_attr(0x0025, b"") +                                    # USE-CANDIDATE
             stun_attr(0x0008, integrity))
    if not fingerprint:
        return struct.pack("!HHI", 0x0001, len(attrs), STUN_MAGIC) + txid + attrs
    head = struct.pack("!HHI", 0x0001, len(attrs) + 8, STUN_MAGIC) + txid
    crc = (zlib.crc32(head + attrs) ^ 0x5354554E) & 0xFFFFFFFF
    return head + attrs + stun_attr(0x8028, struct.pack("!I", crc))


def rtp_like(pt, n=160):
    """0x80 (version 2), a payload type, then noise: no valid SRTP tag."""
    return bytes([0x80, pt]) + os.urandom(n)


def dtls_like(n=120):
    """A DTLS 1.2 handshake record header with noise inside."""
    body = os.urandom(n)
    return bytes([22, 0xFE, 0xFD, 0, 0]) + os.urandom(6) + struct.pack("!H", len(body)) + body


def dtls_appdata(n=120):
    """A well-formed DTLS 1.2 application-data record in epoch 1 whose
    ciphertext is noise (what a forger or a corrupted path produces)."""
    body = os.urandom(n)
    return bytes([23, 0xFE, 0xFD, 0, 1]) + os.urandom(6) + struct.pack("!H", len(body)) + body


def ip_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def forged_udp(src, dst, payload):
    """An IPv4+UDP datagram from src=(ip, port) to dst, for a raw socket."""
    sip, dip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", src[1], dst[1], ulen, 0) + payload
    csum = ip_checksum(sip + dip + struct.pack("!BBH", 0, socket.IPPROTO_UDP, ulen) + udp)
    udp = udp[:6] + struct.pack("!H", csum or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0x4000, 64, socket.IPPROTO_UDP,
                     0, sip, dip)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    return ip + udp


class WhipRobust(harness.ClipgateTestCase):
    def setUp(self):
        why = aiortc_missing()
        if why:
            self.skipTest(why)

    def stream(self, cg, name):
        r = http_request("GET", cg.url("/api/v1/streams/" + name))
        return r.json() if r.status == 200 else None

    def wait_for(self, what, fn, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def start_publisher(self, cg, stream, duration):
        p = subprocess.Popen([PYTHON, os.path.join(PEERS, "aiortc_offer.py"), "--loopback",
                              "--duration", str(duration), cg.url("/whip/" + stream)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
        return p

    def test_live_publisher_survives_bad_packets(self):
        cg = self.start_clipgate()
        port = media_port(cg)
        pub = self.start_publisher(cg, "robust", 12)
        live = self.wait_for("the publisher to send video",
                             lambda: (lambda s: s if s and s.get("state") == "live" and
                                      s["video"]["frames"] >= 10 else None)(
                                          self.stream(cg, "robust")))
        session, ufrag = live["session"], live["ice_ufrag"]
        self.assertRegex(ufrag, r"^[A-Za-z0-9+/]{4,}$")
        pub_host, pub_port = live["publisher_address"].rsplit(":", 1)
        pub_addr = (pub_host, int(pub_port))
        m0 = metrics(cg)

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.settimeout(0.5)
        dst = ("127.0.0.1", port)
        # (a) STUN for the live session with a wrong MESSAGE-INTEGRITY:
        # clipgate must neither answer nor learn our address from it.
        bad_mi = 6
        for _ in range(bad_mi):
            sock.sendto(stun_binding(f"{ufrag}:evil", os.urandom(20)), dst)
        # The right length and shape of HMAC, computed with a wrong key.
        sock.sendto(stun_binding(f"{ufrag}:evil",
                                 hmac.new(b"not-the-password", b"x", "sha1").digest()), dst)
        bad_mi += 1
        # STUN for no session, and a STUN header cut short.
        sock.sendto(stun_binding("nosuchufrag:evil", os.urandom(20)), dst)
        sock.sendto(stun_binding(f"{ufrag}:evil", os.urandom(20))[:15], dst)
        no_session = 2
        with self.assertRaises(socket.timeout, msg="a STUN request with a bad "
                               "MESSAGE-INTEGRITY was answered"):
            sock.recvfrom(2048)
        # (b) DTLS-, RTP- and RTCP-looking datagrams from an address that
        # never passed an ICE check.
        unauth = 0
        for _ in range(20):
            for pkt in (dtls_like(), dtls_appdata(), rtp_like(96), rtp_like(99),
                        rtp_like(200), rtp_like(201, 40), bytes([0x80, 0x60])):
                sock.sendto(pkt, dst)
                unauth += 1
        # Datagrams of no class RFC 7983 knows, and an empty one.
        unknown = 0
        for first in (4, 19, 64, 79, 127, 192, 255):
            sock.sendto(bytes([first]) + os.urandom(50), dst)
            unknown += 1
        sock.sendto(b"", dst)
        sock.sendto(b"\x80", dst)  # too short to tell RTP from RTCP
        unknown += 2

        # (c) Garbage forged from the publisher's own address: it reaches
        # SRTP and DTLS, fails there, and must not end the session.
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.addCleanup(raw.close)
        video_pt, audio_pt = live["video"]["payload_type"], live["audio"]["payload_type"]
        srtp_bad = 0
        for _ in range(10):
            for pkt in (rtp_like(video_pt), rtp_like(audio_pt), rtp_like(0x80 | video_pt, 900)):
                raw.sendto(forged_udp(pub_addr, dst, pkt), dst)
                srtp_bad += 1
        for _ in range(10):
            raw.sendto(forged_udp(pub_addr, dst, rtp_like(200, 60)), dst)
            raw.sendto(forged_udp(pub_addr, dst, dtls_like()), dst)
            raw.sendto(forged_udp(pub_addr, dst, dtls_appdata()), dst)
            raw.sendto(forged_udp(pub_addr, dst, bytes([0x80, video_pt, 0, 1])), dst)

        frames_at_attack = self.stream(cg, "robust")["video"]["frames"]

        # Counted in the stream JSON at once and in /metrics within a
        # second (the session timer and the media stats timer sync them).
        def counted():
            m = metrics(cg)
            d = {k: metric(m, k) - metric(m0, k) for k in (
                "clipgate_stun_bad_integrity_total",
                'clipgate_udp_dropped_total{reason="unauthenticated"}',
                'clipgate_udp_dropped_total{reason="unknown"}',
                'clipgate_udp_dropped_total{reason="no_session"}')}
            return d if d["clipgate_stun_bad_integrity_total"] >= bad_mi and d[
                'clipgate_udp_dropped_total{reason="unknown"}'] >= unknown else None
        d = self.wait_for("the counters in /metrics", counted, timeout=10)
        time.sleep(1.5)  # one more sync: nothing else may arrive
        m1 = metrics(cg)
        d = {k: metric(m1, k) - metric(m0, k) for k in d}
        self.assertEqual(d["clipgate_stun_bad_integrity_total"], bad_mi, d)
        self.assertEqual(d['clipgate_udp_dropped_total{reason="unauthenticated"}'], unauth, d)
        self.assertEqual(d['clipgate_udp_dropped_total{reason="unknown"}'], unknown, d)
        self.assertEqual(d['clipgate_udp_dropped_total{reason="no_session"}'], no_session, d)
        s = self.stream(cg, "robust")
        self.assertEqual(s["stun_bad_integrity"], live["stun_bad_integrity"] + bad_mi, s)
        # The forged SRTP/SRTCP fail authentication (truncated ones are
        # rejected before that, so at least the full-size ones count).
        self.assertGreaterEqual(s["srtp_auth_failures"] - live["srtp_auth_failures"], srtp_bad, s)
        self.assertEqual(metric(m1, "clipgate_srtp_auth_failures_total"), s["srtp_auth_failures"])

        # The publisher did not notice: same session, still live, frames and
        # packets keep coming.
        time.sleep(2)
        after = self.stream(cg, "robust")
        self.assertEqual(after["session"], session)
        self.assertEqual(after["state"], "live")
        self.assertGreater(after["video"]["frames"], frames_at_attack + 20, after)
        self.assertGreater(after["audio"]["frames"], live["audio"]["frames"], after)
        self.assertEqual(after["video"]["frames_dropped"], live["video"]["frames_dropped"], after)
        self.assertEqual(after["publisher_address"], live["publisher_address"])

        # Per-stream series in /metrics follow the JSON (synced once a second).
        m2 = metrics(cg)
        self.assertEqual(metric(m2, "clipgate_whip_sessions"), 1)
        self.assertEqual(metric(m2, "clipgate_whip_sessions_total"), 1)
        for kind in ("video", "audio"):
            got = metric(m2, f'clipgate_rtp_packets_received_total{{stream="robust",kind="{kind}"}}')
            self.assertGreater(got, 0, kind)
            self.assertLessEqual(got, after[kind]["packets_received"] + 200, kind)
            self.assertIn(f'clipgate_rtp_packets_lost_total{{stream="robust",kind="{kind}"}} ', m2)
            self.assertIn(f'clipgate_rtp_packets_recovered_total{{stream="robust",kind="{kind}"}} ',
                          m2)
        vf = metric(m2, 'clipgate_video_frames_total{stream="robust"}')
        self.assertGreater(vf, frames_at_attack)
        for fam, kind in (("clipgate_stun_bad_integrity_total", "counter"),
                          ("clipgate_udp_dropped_total", "counter"),
                          ("clipgate_srtp_auth_failures_total", "counter"),
                          ("clipgate_dtls_failures_total", "counter"),
                          ("clipgate_whip_sessions", "gauge"),
                          ("clipgate_whip_sessions_total", "counter"),
                          ("clipgate_rtp_packets_received_total", "counter"),
                          ("clipgate_rtp_packets_lost_total", "counter"),
                          ("clipgate_rtp_packets_recovered_total", "counter"),
                          ("clipgate_video_frames_total", "counter")):
            self.assertIn(f"# TYPE {fam} {kind}\n", m2)

        # The publisher finishes on its own and DELETEs its session.
        out, err = pub.communicate(timeout=60)
        self.assertEqual(pub.returncode, 0, err[-2000:])
        self.wait_for("the stream to end", lambda: self.stream(cg, "robust") is None)
        m3 = metrics(cg)
        self.assertEqual(metric(m3, "clipgate_whip_sessions"), 0)
        # The last sync happens as the session ends: nothing is lost.
        self.assertGreaterEqual(metric(m3, 'clipgate_video_frames_total{stream="robust"}'),
                                after["video"]["frames"])
        self.assertGreaterEqual(
            metric(m3, 'clipgate_rtp_packets_received_total{stream="robust",kind="video"}'),
            after["video"]["packets_received"])
        self.assertEqual(metric(m3, "clipgate_dtls_failures_total"), 0)
        self.assertNotIn("DTLS failed", cg.log())
        print(f"\n  sent: {bad_mi} bad-integrity STUN, {no_session} STUN for no session, "
              f"{unauth} unauthenticated, {unknown} unknown-class, {srtp_bad}+40 forged from "
              f"the publisher; session kept {after['video']['frames']} video frames "
              f"({after['video']['frames'] - frames_at_attack} after the attack), "
              f"srtp_auth_failures={s['srtp_auth_failures']}", flush=True)

    def test_dtls_fingerprint_mismatch_ends_the_session(self):
        # Consent would keep a silent session for 60 s: if the stream goes
        # away sooner, the DTLS failure ended it.
        cg = self.start_clipgate("--consent-timeout", "60s")
        m0 = metrics(cg)
        self.assertEqual(metric(m0, "clipgate_dtls_failures_total"), 0)
        res = subprocess.run([PYTHON, os.path.join(PEERS, "aiortc_badfp.py"), "--loopback",
                              "--wait", "15", cg.url("/whip/badfp")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=90)
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        out = json.loads(res.stdout.strip().splitlines()[-1])
        self.assertEqual(out["status"], 201, out)
        self.assertNotEqual(out["offer_fingerprint"], out["real_fingerprint"])
        # aiortc reached clipgate (ICE) and then the handshake failed.
        self.assertIn(out["connection_state"], ("failed", "closed"), out)
        self.wait_for("the session to end", lambda: self.stream(cg, "badfp") is None,
                      timeout=20)
        log = cg.log()
        self.assertRegex(log, r"\[badfp\] DTLS failed: .*does not match the SDP "
                         r"a=fingerprint:sha-256 " + re.escape(out["offer_fingerprint"]))
        self.assertIn("publisher gone (DTLS failed)", log)
        self.assertNotIn("DTLS connected", log)
        m1 = metrics(cg)
        self.assertEqual(metric(m1, "clipgate_dtls_failures_total"), 1)
        self.assertEqual(metric(m1, "clipgate_whip_sessions"), 0)
        self.assertEqual(metric(m1, "clipgate_whip_sessions_total"), 1)
        self.assertEqual(metric(m1, 'clipgate_video_frames_total{stream="badfp"}'), 0)


if __name__ == "__main__":
    unittest.main()
