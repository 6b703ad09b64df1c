"""Live events over WebSocket (ws://127.0.0.1:<events-port>/events), with
aiohttp's WebSocket client and a raw socket that never reads:

  - a publish / view / clip / unpublish cycle with a real aiortc publisher:
    hello first, then stream.started, the segments numbered 0, 1, 2...
    with start + duration of one equal to the start of the next and the
    same timing and PDT as the recording API, viewers 1 then 0 for a WHEP
    session, clip.created matching the POST /api/v1/clips answer, and
    stream.ended with the broadcast's duration, last; seq increases by one
    per message; shutdown closes the client with 1001;
  - meanwhile a client that never reads (small receive buffer) is dropped
    once its queue is full (close 1008 if its socket still had room,
    counted in clipgate_events_clients_dropped_total) while the reading
    client gets every event in order;
  - bad requests on the events port get clean answers (404 and 426
    problem+json, garbage closes only that connection); wss with
    --tls-cert; --events-port 0 turns the server off.

Figures are printed on stderr as `events: ...`."""
import asyncio
import json
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import unittest

import harness
import hls_util
import whep_util
from harness import http_request

QUEUE = 16  # --events-queue: small, so the stalled client is dropped soon
PUBLISH_S = 25
MAX_FLOOD = 1500  # WHEP create/delete pairs tried before giving up on the drop


def log(msg):
    sys.stderr.write(f"events: {msg}\n")
    sys.stderr.flush()


class Collector:
    """An aiohttp WebSocket client on its own thread and event loop that
    reads every message as it comes. messages: parsed JSON, in arrival
    order; close_code once the server closed."""

    def __init__(self, url, ssl_context=None):
        import aiohttp  # Debian's python3-aiohttp
        self._aiohttp = aiohttp
        self.url = url
        self.ssl_context = ssl_context
        self.messages = []
        self.arrivals = []  # time.time() when each message came
        self.close_code = None
        self.closed = threading.Event()
        self.error = None
        self._cv = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._read())
        except Exception as e:  # reported by wait()
            self.error = e
        finally:
            self._loop.close()
            self.closed.set()
            with self._cv:
                self._cv.notify_all()

    async def _read(self):
        aiohttp = self._aiohttp
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self.url, ssl=self.ssl_context or False,
                                          heartbeat=None, autoping=True) as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        with self._cv:
                            self.messages.append(json.loads(msg.data))
                            self.arrivals.append(time.time())
                            self._cv.notify_all()
                    elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        break
                self.close_code = ws.close_code

    def wait(self, pred, timeout, what):
        """Waits until pred(messages) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                v = pred(self.messages)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0 or self.closed.is_set():
                    raise AssertionError(f"no {what} within {timeout} s (error {self.error!r}; "
                                         f"got {[m.get('type') for m in self.messages]})")
                self._cv.wait(min(left, 0.5))

    def of(self, kind):
        with self._cv:
            return [m for m in self.messages if m.get("type") == kind]

    def snapshot(self):
        with self._cv:
            return list(self.messages)

    def join(self, timeout):
        self._thread.join(timeout)


class Staller:
    """A WebSocket client on a raw socket with a small receive buffer that
    completes the handshake and then never reads."""

    def __init__(self, port, path="/events"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.sock.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise AssertionError(f"handshake cut short: {head!r}")
            head += chunk
        self.status = head.split(b"\r\n", 1)[0]

    def drain(self, timeout=20):
        """Reads everything until the server closes; returns (frames, EOF
        seen): frames as (opcode, payload)."""
        self.sock.settimeout(timeout)
        data = b""
        eof = False
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    eof = True
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        frames, i = [], 0
        while i + 2 <= len(data):
            op, ln = data[i] & 0x0F, data[i + 1] & 0x7F
            j = i + 2
            if ln == 126:
                ln, j = struct.unpack(">H", data[j:j + 2])[0], j + 2
            elif ln == 127:
                ln, j = struct.unpack(">Q", data[j:j + 8])[0], j + 8
            if j + ln > len(data):
                break
            frames.append((op, data[j:j + ln]))
            i = j + ln
        return frames, eof

    def close(self):
        self.sock.close()


def metric(cg, name):
    return harness.metric(harness.metrics(cg), name, absent=None)


def check_seq(test, msgs):
    """hello first, then seq + 1 per message."""
    test.assertEqual(msgs[0]["type"], "hello", msgs[0])
    test.assertEqual(msgs[0]["version"], 1)
    for a, b in zip(msgs, msgs[1:]):
        test.assertEqual(b["seq"], a["seq"] + 1, (a, b))
    for m in msgs:
        test.assertRegex(m["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class EventsSuite(harness.ClipgateTestCase):

    def setUp(self):
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            self.skipTest("python3-aiohttp is missing: apt-get install python3-aiohttp")

    def test_publish_view_clip_unpublish(self):
        reason = hls_util.missing("aiortc")
        if reason:
            self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "0s",
                                 "--events-queue", str(QUEUE))
        info = hls_util.get_json(cg, "/api/v1/info")
        self.assertEqual(info["name"], "clipgate")
        self.assertEqual(info["events_port"], cg.events_port)
        self.assertEqual(info["events_path"], "/events")
        self.assertIs(info["tls"], False)

        a = Collector(cg.events_url())
        hello = a.wait(lambda ms: ms[:1], 10, "hello")[0]
        self.assertEqual(hello["type"], "hello")
        staller = Staller(cg.events_port)
        self.assertIn(b" 101 ", staller.status)
        hls_util.wait_for(lambda: metric(cg, "clipgate_events_clients") == 2, 10,
                          what="two events clients")

        stream = "evcam"
        pub = hls_util.Publisher("aiortc", cg.url("/whip/" + stream), PUBLISH_S)
        self.addCleanup(pub.kill)
        started = a.wait(lambda ms: [m for m in ms if m["type"] == "stream.started"], 45,
                         "stream.started")[0]
        self.assertEqual(started["stream"], stream)
        self.assertIs(started["video"], True)
        self.assertIs(started["audio"], True)
        bid = started["broadcast"]
        self.assertTrue(bid.startswith(stream + "-"), bid)
        a.wait(lambda ms: len([m for m in ms if m["type"] == "segment"]) >= 2, 30,
               "two segments")

        # A WHEP session that only needs to exist: viewers 1, then 0.
        r = whep_util.post_offer(cg, stream, whep_util.offer())
        self.assertEqual(r.status, 201, r.text())
        session = whep_util.session_url(cg, r)
        a.wait(lambda ms: [m for m in ms if m["type"] == "viewers" and m["viewers"] == 1], 10,
               "viewers 1")
        self.assertEqual(http_request("DELETE", session).status, 200)
        a.wait(lambda ms: [m for m in ms if m["type"] == "viewers" and m["viewers"] == 0], 10,
               "viewers 0")

        # A persisted clip.
        r = http_request("POST", cg.url("/api/v1/clips"),
                         body=json.dumps({"broadcast": bid, "time": 0.5, "duration": 1}),
                         headers={"Content-Type": "application/json"}, timeout=60)
        self.assertEqual(r.status, 201, r.text())
        clip = r.json()
        ev = a.wait(lambda ms: [m for m in ms if m["type"] == "clip.created"], 10,
                    "clip.created")[0]
        self.assertEqual(ev["id"], clip["id"])
        self.assertEqual(ev["broadcast"], bid)
        self.assertEqual(ev["stream"], stream)
        self.assertAlmostEqual(ev["start"], clip["actual"]["start"], delta=0.001)
        self.assertAlmostEqual(ev["duration"], clip["actual"]["duration"], delta=0.001)
        self.assertEqual(ev["mp4"], clip["urls"]["mp4"])
        self.assertEqual(ev["m3u8"], clip["urls"]["hls"])

        # Flood with viewer changes until the client that never reads is
        # dropped; the reading client must get every one of them.
        dropped_at = None
        pairs = 0
        while pairs < MAX_FLOOD and pub.running():
            r = whep_util.post_offer(cg, stream, whep_util.offer())
            self.assertEqual(r.status, 201, r.text())
            self.assertEqual(http_request("DELETE", whep_util.session_url(cg, r)).status, 200)
            pairs += 1
            if pairs % 10 == 0 and metric(cg, "clipgate_events_clients_dropped_total"):
                dropped_at = pairs
                break
        self.assertIsNotNone(dropped_at, f"the stalled client was not dropped after {pairs} "
                             "viewer changes (or the publisher ended first)")
        published = metric(cg, "clipgate_events_published_total")
        log(f"stalled client dropped after {dropped_at} WHEP create/delete pairs "
            f"({int(published)} events published so far, --events-queue {QUEUE})")
        last_seq = int(published)
        a.wait(lambda ms: ms[-1]["seq"] >= last_seq, 20, f"event seq {last_seq}")
        # Reading now, the dropped client gets what its socket held, then
        # the 1008 close (it has a few seconds before it is cut).
        frames, eof = staller.drain()
        staller.close()
        self.assertTrue(eof, "the server did not close the stalled client's connection")
        texts = [json.loads(p) for op, p in frames if op == 1]
        closes = [p for op, p in frames if op == 8]
        self.assertEqual(texts[0]["type"], "hello")
        check_seq(self, texts)
        self.assertLess(texts[-1]["seq"], last_seq)
        self.assertEqual(len(closes), 1, frames[-3:])
        self.assertEqual(struct.unpack(">H", closes[0][:2])[0], 1008, closes)
        log(f"stalled client read {len(texts)} messages and a 1008 close after it was dropped "
            f"(reason: {closes[0][2:].decode()!r})")
        hls_util.wait_for(lambda: metric(cg, "clipgate_events_clients") == 1, 10,
                          what="the stalled client to be gone")

        # Unpublish: stream.ended last.
        self.assertEqual(pub.wait(PUBLISH_S + 60), 0, pub.describe())
        ended = a.wait(lambda ms: [m for m in ms if m["type"] == "stream.ended"], 40,
                       "stream.ended")[0]
        self.assertEqual(ended["stream"], stream)
        self.assertEqual(ended["broadcast"], bid)
        doc = hls_util.wait_ended(cg, bid)
        segs = hls_util.timeline(doc)
        self.assertAlmostEqual(ended["duration"], segs[-1]["start"] + segs[-1]["duration"],
                               delta=0.001)

        msgs = a.snapshot()
        check_seq(self, msgs)
        kinds = [m["type"] for m in msgs]
        self.assertEqual(kinds.count("stream.started"), 1)
        self.assertEqual(kinds.count("stream.ended"), 1)
        i_start, i_end = kinds.index("stream.started"), kinds.index("stream.ended")
        seg_ev = [m for m in msgs if m["type"] == "segment"]
        self.assertTrue(all(i_start < msgs.index(m) < i_end for m in seg_ev))
        self.assertEqual([m["segment"] for m in seg_ev], list(range(len(segs))))
        for ev, seg in zip(seg_ev, segs):
            self.assertEqual((ev["stream"], ev["broadcast"]), (stream, bid))
            self.assertAlmostEqual(ev["start"], seg["start"], delta=0.001)
            self.assertAlmostEqual(ev["duration"], seg["duration"], delta=0.001)
            self.assertAlmostEqual(hls_util.parse_pdt(ev["pdt"]), seg["wall"], delta=0.001)
        for prev, nxt in zip(seg_ev, seg_ev[1:]):
            self.assertAlmostEqual(prev["start"] + prev["duration"], nxt["start"], delta=1e-6)
        viewers = [m["viewers"] for m in msgs if m["type"] == "viewers"]
        self.assertEqual(len(viewers), 2 + 2 * dropped_at)
        self.assertEqual(viewers, [1, 0] * (1 + dropped_at))
        log(f"reading client: {len(msgs)} messages in order, {len(seg_ev)} segments, "
            f"{len(viewers)} viewer changes; broadcast {ended['duration']:.3f} s")
        # Figures only: how long events took to reach the reading client
        # (stamp to arrival) while the other one was stalled.
        lags = sorted((t - hls_util.parse_pdt(m["time"])) * 1000
                      for m, t in zip(msgs, a.arrivals) if m["type"] == "viewers")
        log(f"stamp-to-arrival during the flood: median {lags[len(lags) // 2]:.2f} ms, "
            f"max {lags[-1]:.2f} ms over {len(lags)} events")
        self.assertEqual(metric(cg, "clipgate_events_clients_dropped_total"), 1)

        # Shutdown closes the reading client with 1001.
        self.assertEqual(cg.stop(), 0)
        a.closed.wait(10)
        self.assertEqual(a.close_code, 1001)

    def test_bad_requests(self):
        cg = self.start_clipgate()
        base = f"http://127.0.0.1:{cg.events_port}"
        doc = self.assertProblem(http_request("GET", base + "/events"), 426)
        self.assertIn("WebSocket", doc["detail"])
        self.assertProblem(http_request("GET", base + "/"), 404)
        self.assertProblem(http_request("GET", base + "/api/v1/info"), 404)
        self.assertProblem(http_request("POST", base + "/events", body=b"x" * 100), 426)
        # A WebSocket handshake on another path: 404, no upgrade.
        s = socket.create_connection(("127.0.0.1", cg.events_port), timeout=10)
        s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        s.close()
        self.assertRegex(reply.split(b"\r\n", 1)[0], rb"^HTTP/1\.[01] 404 ")
        self.assertIn(b"application/problem+json", reply)
        # Garbage, a truncated handshake and a bad key: only that
        # connection suffers.
        for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc" + os.urandom(200),
                     b"GET /events HTTP/1.1\r\nUpgrade: websocket\r\n",
                     b"GET /events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", cg.events_port), timeout=5)
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
        a = Collector(cg.events_url())
        hello = a.wait(lambda ms: ms[:1], 10, "hello")[0]
        self.assertEqual(hello["type"], "hello")
        self.assertEqual(hello["seq"], 0)
        self.assertEqual(hls_util.get(cg, "/healthz").status, 200)
        self.assertGreaterEqual(metric(cg, "clipgate_events_http_refused_total"), 5)

    def test_tls_and_off(self):
        tmp = tempfile.mkdtemp(prefix="cg-events-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = harness.make_test_certificate(tmp)
        ctx = ssl.create_default_context(cafile=cert)
        cg = self.start_clipgate("--tls-cert", cert, "--tls-key", key, tls=True, ssl_context=ctx)
        info = http_request("GET", cg.url("/api/v1/info"), ssl_context=ctx).json()
        self.assertIs(info["tls"], True)
        a = Collector(cg.events_url(), ssl_context=ctx)
        hello = a.wait(lambda ms: ms[:1], 10, "hello over wss")[0]
        self.assertEqual(hello["type"], "hello")

        off = self.start_clipgate("--events-port", "0")
        info = hls_util.get_json(off, "/api/v1/info")
        self.assertIsNone(info["events_port"])
        self.assertNotIn("live events on", off.log())


if __name__ == "__main__":
    unittest.main()
