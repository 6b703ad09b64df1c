"""Web UI: clipgate's own pages in Debian's Chromium (tests/e2e/webui.mjs,
playwright-core, fake camera), inside a network namespace holding only lo.

One run walks the whole path a person takes: Home opens and its events
indicator connects; the Publish page, refused without the publish token,
shows the 401 problem's detail sentence, then with it goes live over WHIP;
Home shows the
stream from the stream.started event without asking the API again; Watch
plays over WHEP (frames decoded, currentTime advancing, viewer count 1
from the viewers event) and then over HLS with hls.js; the Clip studio
shows 320 px thumbnails per segment over the timeline, sets a 5 s range,
previews it (playback stops at the out-point), creates the clip, lists it (a second studio page gets it from the
clip.created event), and plays its MP4 in a <video> (decoded frames,
duration 5 s within a frame); stopping the Publish page ends the broadcast
on Home, again from events.

A second run restarts clipgate on the same ports under an open Home page:
the events indicator goes down, comes back, and Home reloads its state.

Every request of every page must go to clipgate (HTTP port or events
port); anything else is aborted by the browser's router and fails the test.
Screenshots of each page are kept in tests/e2e/artifacts/webui/.
The figures are printed on stderr (`webui: ...`)."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import whip_util
from harness import http_request

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "webui.mjs")
ARTIFACTS = os.path.join(HERE, "artifacts", "webui")
STREAM = "webui-cam"
TOKEN = "webui-s3cret"


def arg(cg, name):
    return cg.args[cg.args.index(name) + 1]


def events_port(cg):
    return int(arg(cg, "--events-port"))


class WebUI(harness.ClipgateTestCase):
    def test_pages_served(self):
        """The pages and hls.js come from the binary itself."""
        cg = self.start_clipgate("--public-ip", "127.0.0.1")
        for path, ctype in (("/", "text/html"), ("/ui/publish.html", "text/html"),
                            ("/ui/watch.html", "text/html"), ("/ui/studio.html", "text/html"),
                            ("/ui/app.js", "text/javascript"), ("/ui/style.css", "text/css"),
                            ("/ui/vendor/hls.min.js", "text/javascript")):
            r = http_request("GET", cg.url(path))
            self.assertEqual(r.status, 200, (path, r))
            self.assertTrue(r.header("Content-Type", "").startswith(ctype), (path, r))
            self.assertTrue(r.header("ETag"), (path, r))
            again = http_request("GET", cg.url(path), headers={"If-None-Match": r.header("ETag")})
            self.assertEqual(again.status, 304, (path, again))
        self.assertProblem(http_request("GET", cg.url("/ui/missing.html")), 404)
        info = http_request("GET", cg.url("/api/v1/info")).json()
        self.assertEqual(info.get("events_port"), events_port(cg), info)

    def test_browser_walkthrough(self):
        reason = whip_util.missing("chromium")
        if reason:
            self.skipTest(reason)
        # A short reconnect grace: the broadcast ends (stream.ended) soon
        # after the Publish page stops.
        cg = self.start_clipgate("--public-ip", "127.0.0.1", "--reconnect-grace", "2s",
                                 "--publish-token", TOKEN)
        os.makedirs(ARTIFACTS, exist_ok=True)
        cmd = ["node", DRIVER, "--base", cg.url(""), "--events-port", str(events_port(cg)),
               "--stream", STREAM, "--token", TOKEN, "--artifacts", ARTIFACTS]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=240, cwd=HERE)
        sys.stderr.write(proc.stderr[-8000:])
        self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
        line = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        self.assertTrue(line, proc.stdout[-2000:])
        res = json.loads(line[-1])
        for c in res["console"]:
            sys.stderr.write(f"webui: page console: {c}\n")
        for c in res["httpErrors"]:
            sys.stderr.write(f"webui: HTTP error answered: {c}\n")
        steps = res["steps"]
        for name in ("home", "publish", "home_live", "watch_whep", "watch_hls", "studio", "clip",
                     "stop", "studio_ended"):
            self.assertIn(name, steps, f"step {name} never ran: {json.dumps(steps)}")
            self.assertTrue(steps[name]["ok"], f"step {name}: {steps[name]}")

        # Nothing but clipgate: no request aborted by the router, every
        # request and WebSocket addressed to clipgate's host and ports.
        self.assertEqual(res["foreign"], [], res["foreign"])
        self.assertEqual(res["notClipgate"], [], res["notClipgate"])
        port = events_port(cg)
        for ws in res["websockets"]:
            self.assertEqual(ws["url"], f"ws://127.0.0.1:{port}/events", ws)
        self.assertEqual(res["pageErrors"], [], res["pageErrors"])
        # The only error answer is the refused publish without the token:
        # every session the pages made was DELETEd while it still existed.
        self.assertEqual([e.split(" http")[0] for e in res["httpErrors"]],
                         ["publish: 401 POST"], res["httpErrors"])

        # Home: the stream appeared and ended through events only, on one
        # WebSocket that never had to reconnect (a reconnect reloads state).
        self.assertTrue(steps["home"]["emptyShown"])
        self.assertEqual(res["wsPerPage"].get("home"), 1, res["wsPerPage"])
        self.assertEqual(steps["home_live"]["stateRequestsAfterLoad"], [])
        self.assertTrue(steps["home_live"]["liveRow"])
        self.assertEqual(steps["stop"]["stateRequestsAfterLoad"], [])
        self.assertEqual(steps["stop"]["publishStatus"], "", steps["stop"])

        # Publish: without the token the page shows the 401 problem's detail
        # sentence; with it, H.264 from the fake camera.
        r = http_request("POST", cg.url("/whip/x"), "v=0\r\n",
                         {"Content-Type": "application/sdp"})
        self.assertEqual(steps["publish"]["refused"], self.assertProblem(r, 401)["detail"])
        self.assertIn("H264", steps["publish"]["stats"]["codec"])

        # WHEP: frames decoded and the playhead moving; one viewer counted
        # on the Watch page and on Home.
        w = steps["watch_whep"]
        self.assertGreater(w["frames"][0], 0, w)
        self.assertGreater(w["frames"][1], w["frames"][0], w)
        self.assertGreater(w["currentTime"][1], w["currentTime"][0], w)
        self.assertEqual(w["viewers"], "1", w)
        self.assertEqual(w["homeViewers"], "1 watching", w)
        self.assertRegex(w["latency"][0], r"^\d+ ms$", w)

        # HLS: hls.js from /ui/vendor plays; leaving WHEP dropped the viewer.
        h = steps["watch_hls"]
        self.assertTrue(h["version"], h)
        self.assertTrue(h["pcGone"], h)
        self.assertGreater(h["frames"][1], h["frames"][0], h)
        self.assertGreater(h["currentTime"][1], h["currentTime"][0], h)
        self.assertRegex(h["latency"], r"\d", h)
        self.assertEqual(h["viewersAfterLeavingWhep"], "0", h)

        # Studio: thumbnails are the 320 px JPEGs, ticks on the timeline.
        s = steps["studio"]
        self.assertGreaterEqual(s["thumbs"], 2, s)
        self.assertTrue(all(wd == 320 for wd in s["widths"]), s)
        self.assertTrue(all(ht > 0 and ht % 2 == 0 for ht in s["heights"]), s)
        self.assertGreaterEqual(s["ticks"]["seg"], s["thumbs"], s)
        self.assertEqual(s["len"], "5.000 s", s)
        # The preview stopped at the out-point (within a timeupdate, ~0.25 s).
        self.assertGreaterEqual(s["previewStoppedAt"], s["range"][1] - 0.05, s)
        self.assertLess(s["previewStoppedAt"], s["range"][1] + 0.5, s)

        # Clip: created, listed here and (by event) in the other studio,
        # and its MP4 plays: 5 s within a frame, frames decoded.
        c = steps["clip"]
        self.assertIn("Clip created", c["status"], c)
        self.assertEqual(c["otherListLoads"], 0, c)
        self.assertGreater(c["frames"], 0, c)
        # One frame of what the Publish page sent (the fake camera gives
        # 20-30 fps depending on the machine's load).
        fps = steps["publish"]["stats"]["fps"].split()[0]
        frame_s = 1 / int(fps) if fps.isdigit() and int(fps) > 0 else 1 / 20
        self.assertAlmostEqual(c["duration"], 5.0, delta=frame_s + 0.001, msg=c)
        self.assertTrue(c["src"].endswith(f"/clips/{c['id']}.mp4"), c)
        self.assertEqual(c["links"]["download"], f"/clips/{c['id']}.mp4", c)
        self.assertIn("Copy link", c["links"]["buttons"])
        self.assertIn("Embed (HLS)", c["links"]["buttons"])
        clip = http_request("GET", cg.url(f"/api/v1/clips/{c['id']}")).json()
        self.assertAlmostEqual(clip["actual"]["duration"], 5.0, delta=frame_s + 0.001)

        # The ended broadcast opens in the studio with its whole timeline.
        e = steps["studio_ended"]
        self.assertEqual(e["state"], "recording", e)
        self.assertGreaterEqual(e["thumbs"], s["thumbs"], e)

        for name in ("home.png", "publish.png", "home-live.png", "watch-whep.png",
                     "watch-hls.png", "studio.png", "studio-clip.png", "studio-phone.png", "home-phone.png",
                     "home-ended.png", "studio-ended.png"):
            p = os.path.join(ARTIFACTS, name)
            self.assertTrue(os.path.getsize(p) > 1000, p)

        print(f"webui: events connected {steps['home']['eventsUpMs']} ms after load; publish "
              f"connected {steps['publish']['connectMs']} ms after Go live "
              f"({steps['publish']['stats']}); Home showed the stream "
              f"{steps['home_live']['afterConnectedMs']} ms after the Publish page went live; "
              f"WHEP first frame {w['firstFrameMs']} ms, latency {w['latency'][0]} "
              f"({w['latency'][1]}); HLS first frame {h['firstFrameMs']} ms, latency "
              f"{h['latency']} (hls.js {h['version']}); studio ready with {s['thumbs']} thumbnails "
              f"of {s['segments']} segments; clip created in {c['createMs']} ms, shown in the "
              f"other studio {c['shownInOtherMs']} ms later, MP4 {c['duration']:.3f} s, "
              f"{c['frames']} frames; Home dropped the stream {steps['stop']['goneAfterStopMs']} ms and showed the "
              f"broadcast ended {steps['stop']['endedAfterStopMs']} ms after Stop (grace 2 s)",
              file=sys.stderr)

    def test_events_reconnect(self):
        """The events indicator goes down when clipgate goes away and comes
        back with it; Home then reloads its state, since it may have missed
        events meanwhile."""
        reason = whip_util.missing("chromium")
        if reason:
            self.skipTest(reason)
        cg = self.start_clipgate("--public-ip", "127.0.0.1")
        proc = subprocess.Popen(["node", DRIVER, "--scenario", "reconnect", "--base", cg.url(""),
                                 "--events-port", str(events_port(cg))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=HERE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        line = proc.stdout.readline()
        self.assertEqual(line.strip(), "UP", proc.stderr.read() if not line else line)
        self.assertEqual(cg.stop(), 0)
        time.sleep(1.5)  # the page notices and starts retrying
        # The same ports, a new process (and data directory).
        again = harness.Clipgate("--http-port", str(cg.http_port),
                                 "--media-port", arg(cg, "--media-port"),
                                 "--events-port", str(events_port(cg)),
                                 "--public-ip", "127.0.0.1", ports=False,
                                 workdir=tempfile.mkdtemp(prefix="cg-e2e-"))
        again.args += ["--data-dir", again.data_dir]
        again.http_port = cg.http_port
        self._servers.append(again)
        again.start()
        out, err = proc.communicate(timeout=90)
        sys.stderr.write(err[-4000:])
        self.assertEqual(proc.returncode, 0, err[-4000:])
        res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        states = res["states"]
        self.assertIsNone(res.get("error"), res)
        self.assertEqual(states[0], "up", res)
        self.assertIn("down", states, res)
        self.assertEqual(states[-1], "up", res)
        self.assertEqual(res["text"], "events connected", res)
        paths = sorted(u.rsplit("/api/v1/", 1)[1] for u in res["reloaded"])
        self.assertEqual(paths, ["recordings", "streams"], res)
        self.assertEqual(res["foreign"], [], res)
        print(f"webui: events back {res['backMs']} ms after clipgate went away "
              f"(indicator: {' -> '.join(states)})", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
