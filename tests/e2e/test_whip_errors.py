"""WHIP over HTTP (RFC 9725) against the real clipgate binary, without media.

Offers come from tests/fixtures/sdp: the ones captured from aiortc, Chromium
and GStreamer, the hand-written OBS and FFmpeg 8 shapes, and the bad_*
variants. No peer answers ICE here, so a created session stays "connecting"
until ICE consent runs out (--consent-timeout), which one test relies on.

Covered: 201 with Location (a session id of at least 128 random bits),
ETag, one Link line per --ice-server and an ICE-lite answer; OPTIONS;
GET/PATCH/DELETE on the session URL, trickle and ICE restart with the
If-Match rules (428, 412, 200 with new credentials and a new ETag); Bearer
tokens (401 + WWW-Authenticate); 415, 400 (SDP that does not parse), 422
(SDP that parses but cannot be published: codecs, directions, track
layout, missing ICE or DTLS attributes -- the detail lists what clipgate
accepts), 409, 503 + Retry-After, bad stream names; every error as
application/problem+json; an abandoned session removed after the consent
timeout, and the session metrics following it."""
import functools
import os
import re
import time
import urllib.parse

import harness
from harness import http_request

metric = functools.partial(harness.metric, absent=None)  # a missing family fails

FIXTURES = os.path.join(harness.SOURCE_DIR, "tests", "fixtures", "sdp")
SDP = {"Content-Type": "application/sdp"}
FRAG = {"Content-Type": "application/trickle-ice-sdpfrag"}
LOCATION = re.compile(r"^/whip/(?P<stream>[A-Za-z0-9_-]+)/(?P<id>[0-9a-f]{32,})$")
ICE_SERVERS = ["stun:stun.example.org:3478",
               "turn:turn.example.org:3478?transport=udp"]


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def sdp_attr(text, name):
    """Values of every a=<name>:<value> line, in order."""
    return re.findall(r"^a=" + re.escape(name) + r":(.*?)\r?$", text, re.M)


def media_port(cg):
    return int(cg.args[cg.args.index("--media-port") + 1])


class WhipErrors(harness.ClipgateTestCase):
    # --- helpers -------------------------------------------------------------

    def post(self, cg, stream, body, headers=SDP):
        return http_request("POST", cg.url("/whip/" + stream), body, headers)

    def publish(self, cg, stream, offer="obs_offer.sdp", headers=None):
        """POSTs a fixture offer, checks the 201 and returns (response,
        session path)."""
        h = dict(SDP)
        h.update(headers or {})
        r = self.post(cg, stream, fixture(offer), h)
        self.assertEqual(r.status, 201, r)
        loc = r.header("Location")
        m = LOCATION.match(loc or "")
        self.assertIsNotNone(m, f"Location {loc!r} is not /whip/<stream>/<hex id>")
        self.assertEqual(m.group("stream"), stream)
        return r, loc

    def streams(self, cg):
        r = http_request("GET", cg.url("/api/v1/streams"))
        self.assertEqual(r.status, 200, r)
        return {s["name"]: s for s in r.json()["streams"]}

    def assertNoStreams(self, cg):
        self.assertEqual(self.streams(cg), {})

    # --- 201 -----------------------------------------------------------------

    def test_created_for_every_publisher_shape(self):
        args = []
        for s in ICE_SERVERS:
            args += ["--ice-server", s]
        cg = self.start_clipgate(*args)
        port = media_port(cg)
        ids = set()
        shapes = [("aiortc_offer.sdp", "passive"), ("chromium_offer.sdp", "passive"),
                  ("gst_offer.sdp", "passive"), ("obs_offer.sdp", "passive"),
                  ("ffmpeg_offer.sdp", "active")]
        for offer, setup in shapes:
            stream = offer.split("_")[0]
            with self.subTest(offer=offer):
                r, loc = self.publish(cg, stream, offer)
                ids.add(LOCATION.match(loc).group("id"))
                self.assertEqual(r.header("Content-Type"), "application/sdp")
                etag = r.header("ETag")
                self.assertRegex(etag or "", r'^"[^"]{8,}"$')
                # One Link line per ICE server (OBS parses one per line).
                self.assertEqual(r.header_all("Link"),
                                 [f'<{s}>; rel="ice-server"' for s in ICE_SERVERS])
                self.assertEqual(r.header("Accept-Patch"), "application/trickle-ice-sdpfrag")
                ans = r.text()
                self.assertTrue(ans.startswith("v=0\r\n"), ans)
                self.assertRegex(ans, r"(?m)^a=ice-lite\r$")
                self.assertRegex(ans, r"(?m)^a=fingerprint:sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\r$")
                self.assertRegex(ans, r"(?m)^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 %d typ host\r$"
                                 % port)
                self.assertRegex(ans, r"(?m)^a=end-of-candidates\r$")
                # FFmpeg 8 offers setup:passive, so clipgate is the DTLS client.
                self.assertEqual(set(sdp_attr(ans, "setup")), {setup})
                self.assertNotIn("a=sendonly", ans)
                self.assertEqual(len(set(sdp_attr(ans, "ice-ufrag"))), 1)
                self.assertGreaterEqual(len(sdp_attr(ans, "ice-pwd")[0]), 22)
        # Every session id is fresh (128 random bits each).
        self.assertEqual(len(ids), len(shapes))
        # The same offer again, on another stream: another id and ETag.
        r1, loc1 = self.publish(cg, "again1")
        r2, loc2 = self.publish(cg, "again2")
        self.assertNotEqual(loc1.rsplit("/", 1)[1], loc2.rsplit("/", 1)[1])
        self.assertNotEqual(r1.header("ETag"), r2.header("ETag"))
        listed = self.streams(cg)
        self.assertEqual(set(listed), {"aiortc", "chromium", "gst", "obs", "ffmpeg",
                                       "again1", "again2"})
        for name, s in listed.items():
            self.assertEqual(s["state"], "connecting", s)
        self.assertEqual(listed["again1"]["session"], loc1.rsplit("/", 1)[1])

    def test_options(self):
        cg = self.start_clipgate("--publish-token", "tok")
        # A browser's preflight carries no token and must still pass.
        r = http_request("OPTIONS", cg.url("/whip/cam1"),
                         headers={"Origin": "https://studio.example",
                                  "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(r.header("Accept-Post"), "application/sdp")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        allowed = [h.strip().lower() for h in r.header("Access-Control-Allow-Headers").split(",")]
        for h in ("authorization", "content-type", "if-match"):
            self.assertIn(h, allowed)
        self.assertIn("POST", r.header("Access-Control-Allow-Methods"))
        exposed = [h.strip() for h in r.header("Access-Control-Expose-Headers").split(",")]
        for h in ("Location", "ETag", "Link"):
            self.assertIn(h, exposed)
        # The 201 exposes the same headers to scripts.
        r, _ = self.publish(cg, "cam1", headers={"Authorization": "Bearer tok",
                                                 "Origin": "https://studio.example"})
        exposed = [h.strip() for h in r.header("Access-Control-Expose-Headers").split(",")]
        for h in ("Location", "ETag", "Link"):
            self.assertIn(h, exposed)

    # --- the session URL -----------------------------------------------------

    def test_session_get_patch_delete(self):
        cg = self.start_clipgate()
        r, loc = self.publish(cg, "studio")
        url = cg.url(loc)
        etag = r.header("ETag")
        ufrag = sdp_attr(r.text(), "ice-ufrag")[0]
        pwd = sdp_attr(r.text(), "ice-pwd")[0]
        self.assertEqual(self.streams(cg)["studio"]["ice_ufrag"], ufrag)

        g = http_request("GET", url)
        self.assertEqual(g.status, 204, g)
        self.assertEqual(g.body, b"")

        # Trickle: the offer's own credentials plus a candidate.
        trickle = ("a=ice-ufrag:Qx7K\r\na=ice-pwd:4vF0pTq2hZgYcL9sWm1eRb\r\nm=audio 9 RTP/AVP 0\r\n"
                   "a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
                   "a=end-of-candidates\r\n")
        p = http_request("PATCH", url, trickle, FRAG)
        self.assertEqual(p.status, 204, p)
        # A bare end-of-candidates is a trickle too.
        p = http_request("PATCH", url, "a=end-of-candidates\r\n", FRAG)
        self.assertEqual(p.status, 204, p)

        doc = self.assertProblem(http_request("PATCH", url, trickle,
                                              {"Content-Type": "application/sdp"}), 415)
        self.assertIn("application/trickle-ice-sdpfrag", doc["detail"])
        self.assertProblem(http_request("PATCH", url, "a=ice-ufrag:abcd\r\n", FRAG), 400)

        restart = ("a=ice-ufrag:Rn3w\r\na=ice-pwd:9sd8f7g6h5j4k3l2m1n0pq\r\nm=audio 9 RTP/AVP 0\r\n"
                   "a=mid:0\r\n")
        doc = self.assertProblem(http_request("PATCH", url, restart, FRAG), 428)
        self.assertIn("If-Match", doc["detail"])
        h = dict(FRAG, **{"If-Match": '"not-the-etag"'})
        doc = self.assertProblem(http_request("PATCH", url, restart, h), 412)
        self.assertIn(etag, doc["detail"])
        # Neither refusal changed anything.
        self.assertEqual(self.streams(cg)["studio"]["ice_ufrag"], ufrag)

        h = dict(FRAG, **{"If-Match": etag})
        p = http_request("PATCH", url, restart, h)
        self.assertEqual(p.status, 200, p)
        self.assertEqual(p.header("Content-Type"), "application/trickle-ice-sdpfrag")
        new_etag = p.header("ETag")
        self.assertRegex(new_etag or "", r'^"[^"]{8,}"$')
        self.assertNotEqual(new_etag, etag)
        frag = p.text()
        new_ufrag, new_pwd = sdp_attr(frag, "ice-ufrag"), sdp_attr(frag, "ice-pwd")
        self.assertEqual(len(new_ufrag), 1, frag)
        self.assertEqual(len(new_pwd), 1, frag)
        self.assertNotEqual(new_ufrag[0], ufrag)
        self.assertNotEqual(new_pwd[0], pwd)
        self.assertGreaterEqual(len(new_pwd[0]), 22)
        self.assertRegex(frag, r"(?m)^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 %d typ host\r$"
                         % media_port(cg))
        self.assertEqual(self.streams(cg)["studio"]["ice_ufrag"], new_ufrag[0])
        # The old ETag is stale now; GET reports the new one.
        again = ("a=ice-ufrag:Zq1v\r\na=ice-pwd:0o9i8u7y6t5r4e3w2q1a2s\r\n")
        self.assertProblem(http_request("PATCH", url, again, h), 412)
        g = http_request("GET", url)
        self.assertEqual(g.status, 204)
        self.assertEqual(g.header("ETag"), new_etag)

        d = http_request("DELETE", url)
        self.assertEqual(d.status, 200, d)
        doc = self.assertProblem(http_request("DELETE", url), 404)
        self.assertIn("studio", doc["detail"])
        self.assertProblem(http_request("GET", url), 404)
        self.assertProblem(http_request("PATCH", url, trickle, FRAG), 404)
        self.assertNoStreams(cg)
        self.assertProblem(http_request("GET", cg.url("/api/v1/streams/studio")), 404)
        # The stream name is free again.
        self.publish(cg, "studio")

    def test_unknown_session_ids(self):
        cg = self.start_clipgate()
        _, loc = self.publish(cg, "cam")
        sid = loc.rsplit("/", 1)[1]
        for path in ("/whip/cam/" + "0" * 32,      # no such session
                     "/whip/other/" + sid,         # a real id under another stream
                     "/whip/cam/" + sid[:-1],      # a prefix of the real id
                     "/whip/cam/" + sid + "0"):
            with self.subTest(path=path):
                self.assertProblem(http_request("GET", cg.url(path)), 404)
                self.assertProblem(http_request("DELETE", cg.url(path)), 404)
        # None of that touched the real session.
        self.assertEqual(http_request("GET", cg.url(loc)).status, 204)

    # --- auth ----------------------------------------------------------------

    def test_bearer_token(self):
        cg = self.start_clipgate("--publish-token", "s3cret-Token")
        offer = fixture("obs_offer.sdp")
        for label, auth in (("missing", None), ("wrong", "Bearer nope"),
                            ("prefix", "Bearer s3cret"), ("longer", "Bearer s3cret-Token2"),
                            ("scheme", "Basic czNjcmV0LVRva2Vu"), ("bare", "s3cret-Token")):
            with self.subTest(auth=label):
                h = dict(SDP)
                if auth:
                    h["Authorization"] = auth
                r = self.post(cg, "secure", offer, h)
                doc = self.assertProblem(r, 401)
                self.assertTrue(r.header("WWW-Authenticate", "").startswith("Bearer"), r)
                self.assertIn("Bearer", doc["detail"])
        self.assertNoStreams(cg)
        # The token check comes before anything else is looked at.
        r = self.post(cg, "bad.name", b"garbage", {"Content-Type": "text/plain"})
        self.assertProblem(r, 401)

        good = {"Authorization": "Bearer s3cret-Token"}
        _, loc = self.publish(cg, "secure", headers=good)
        url = cg.url(loc)
        for method, body, h in (("GET", None, {}), ("DELETE", None, {}),
                                ("PATCH", "a=end-of-candidates\r\n", FRAG)):
            with self.subTest(method=method):
                r = http_request(method, url, body, h)
                self.assertProblem(r, 401)
                self.assertTrue(r.header("WWW-Authenticate", "").startswith("Bearer"))
                r = http_request(method, url, body, dict(h, Authorization="Bearer wrong"))
                self.assertProblem(r, 401)
        self.assertIn("secure", self.streams(cg))
        self.assertEqual(http_request("GET", url, headers=good).status, 204)
        self.assertEqual(http_request("PATCH", url, "a=end-of-candidates\r\n",
                                      dict(FRAG, **good)).status, 204)
        self.assertEqual(http_request("DELETE", url, headers=good).status, 200)
        self.assertNoStreams(cg)

    # --- bad offers ----------------------------------------------------------

    def test_wrong_content_type_is_415(self):
        cg = self.start_clipgate()
        offer = fixture("obs_offer.sdp")
        for ctype in ("text/plain", "application/json", "application/sdpx", "sdp", None):
            with self.subTest(ctype=ctype):
                r = self.post(cg, "cam", offer, {"Content-Type": ctype} if ctype else {})
                doc = self.assertProblem(r, 415)
                self.assertIn("application/sdp", doc["detail"])
        # Parameters and case are fine.
        self.publish(cg, "cam", headers={"Content-Type": "Application/SDP; charset=utf-8"})

    def test_malformed_offers_are_400(self):
        cg = self.start_clipgate()
        obs = fixture("obs_offer.sdp")
        cases = [
            ("bad_not_sdp.sdp", fixture("bad_not_sdp.sdp"), ["line 1"]),
            ("bad_m_fields.sdp", fixture("bad_m_fields.sdp"), ["line 23", "m= line", "4 fields"]),
            ("bad_port.sdp", fixture("bad_port.sdp"), ["line 23", "port", "65535"]),
            ("bad_long_line.sdp", fixture("bad_long_line.sdp"), ["line 13", "longer than"]),
            ("empty", b"", ["SDP offer"]),
            ("binary", bytes(range(256)) * 4, ["line 1"]),
            ("no v= line", obs.replace(b"v=0\r\n", b"", 1), ["line 1"]),
            ("NUL byte", obs.replace(b"s=-", b"s=\x00-", 1), ["line 3"]),
        ]
        for name, body, words in cases:
            with self.subTest(offer=name):
                doc = self.assertProblem(self.post(cg, "cam", body), 400)
                for w in words:
                    self.assertIn(w, doc["detail"])
        self.assertNoStreams(cg)

    def test_unpublishable_offers_are_422(self):
        """Offers that parse but cannot be published: the detail says what
        is wrong and lists what clipgate accepts."""
        cg = self.start_clipgate()
        accepted = ["H.264", "Opus"]
        cases = [
            ("bad_vp8_only.sdp", ["no acceptable codec"] + accepted),
            ("bad_av1_opus.sdp", ["no acceptable codec", "not H.264"] + accepted),
            ("bad_recvonly.sdp", ["sendonly"] + accepted),
            ("bad_inactive.sdp", ["sendonly"] + accepted),
            ("bad_no_media.sdp", ["no m= section"] + accepted),
            ("bad_two_video.sdp", ["2 video", "one video track (H.264)", "one audio track (Opus)"]),
            ("bad_no_fingerprint.sdp", ["a=fingerprint", "sha-256"]),
            ("bad_sha1_only.sdp", ["sha-1", "sha-256"]),
            ("bad_no_ice.sdp", ["a=ice-ufrag", "a=ice-pwd"]),
        ]
        for offer, words in cases:
            with self.subTest(offer=offer):
                doc = self.assertProblem(self.post(cg, "cam", fixture(offer)), 422)
                for w in words:
                    self.assertIn(w, doc["detail"])
        self.assertNoStreams(cg)
        # A refused offer leaves nothing behind: the name is still free.
        self.publish(cg, "cam")

    # --- limits --------------------------------------------------------------

    def test_second_publisher_is_409(self):
        cg = self.start_clipgate()
        _, loc = self.publish(cg, "main")
        for offer in ("obs_offer.sdp", "aiortc_offer.sdp"):
            doc = self.assertProblem(self.post(cg, "main", fixture(offer)), 409)
            self.assertIn('"main"', doc["detail"])
            self.assertIn("DELETE", doc["detail"])
        s = self.streams(cg)
        self.assertEqual(list(s), ["main"])
        self.assertEqual(s["main"]["session"], loc.rsplit("/", 1)[1])
        # Another stream is fine, and once the first publisher leaves the
        # name can be taken again.
        self.publish(cg, "backup")
        self.assertEqual(http_request("DELETE", cg.url(loc)).status, 200)
        self.publish(cg, "main")

    def test_session_limit_is_503(self):
        cg = self.start_clipgate("--max-sessions", "1")
        _, loc = self.publish(cg, "one")
        for stream in ("two", "three"):
            r = self.post(cg, stream, fixture("obs_offer.sdp"))
            doc = self.assertProblem(r, 503)
            self.assertRegex(r.header("Retry-After") or "", r"^[1-9][0-9]*$")
            self.assertIn("1", doc["detail"])
            self.assertIn("--max-sessions", doc["detail"])
        self.assertEqual(list(self.streams(cg)), ["one"])
        # A conflict on the live stream is still a 409, not a 503.
        self.assertProblem(self.post(cg, "one", fixture("obs_offer.sdp")), 409)
        self.assertEqual(http_request("DELETE", cg.url(loc)).status, 200)
        self.publish(cg, "two")

    def test_bad_stream_names_are_400(self):
        cg = self.start_clipgate()
        offer = fixture("obs_offer.sdp")
        bad = ["a" * 65, "x" * 300, "cam.1", "cam%201", "caf%C3%A9", "a;b", "a+b", "~me",
               "a%0d%0aX-Injected:%201"]
        for name in bad:
            with self.subTest(name=name):
                r = self.post(cg, name, offer)
                doc = self.assertProblem(r, 400)
                # The detail states the rule.
                self.assertIn("1 to 64 characters", doc["detail"])
                self.assertIsNone(r.header("X-Injected"))
        # Refused by the URL parser before routing, still a problem.
        for name in ("cam%2Fx", "%00", ".."):
            with self.subTest(name=name):
                r = self.post(cg, name, offer)
                self.assertIn(r.status, (400, 404), r)
                self.assertProblem(r, r.status)
        self.assertNoStreams(cg)
        # Both ends of the rule are accepted.
        for name in ("a" * 64, "Cam_2-b", "7"):
            self.publish(cg, name)
        self.assertEqual(len(self.streams(cg)), 3)

    # --- cleanup -------------------------------------------------------------

    def test_abandoned_session_is_removed_after_consent_timeout(self):
        cg = self.start_clipgate("--consent-timeout", "3s")
        metrics = lambda: http_request("GET", cg.url("/metrics")).text()
        _, loc = self.publish(cg, "ghost")
        self.assertEqual(self.streams(cg)["ghost"]["state"], "connecting")
        m = metrics()
        self.assertEqual(metric(m, "clipgate_whip_sessions"), 1)
        self.assertEqual(metric(m, "clipgate_whip_sessions_total"), 1)
        deadline = time.monotonic() + 20
        while "ghost" in self.streams(cg) and time.monotonic() < deadline:
            time.sleep(0.25)
        self.assertNoStreams(cg)
        self.assertProblem(http_request("GET", cg.url(loc)), 404)
        self.assertProblem(http_request("DELETE", cg.url(loc)), 404)
        self.assertIn("ICE consent expired", cg.log())
        m = metrics()
        self.assertEqual(metric(m, "clipgate_whip_sessions"), 0)
        self.assertEqual(metric(m, "clipgate_whip_sessions_total"), 1)
        self.assertEqual(metric(m, "clipgate_dtls_failures_total"), 0)
        # The name is free for the next publisher.
        self.publish(cg, "ghost")


if __name__ == "__main__":
    import unittest
    unittest.main()
