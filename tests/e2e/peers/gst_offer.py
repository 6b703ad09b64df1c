#!/usr/bin/python3
"""GStreamer webrtcbin WHIP publisher (RFC 9725): x264enc/rtph264pay video and
opusenc/rtpopuspay audio with max-bundle.

Usage: gst_offer.py [--offer-only | --answer-cmd CMD] [--token T]
                    [--duration S] WHIP_URL

With --offer-only the script prints the SDP offer once ICE gathering is
complete and exits; this is how tests/fixtures/sdp/gst_offer.sdp was
captured. With --answer-cmd it pipes the offer into CMD instead of POSTing
it, applies CMD's output as the answer, prints what webrtcbin negotiated as
JSON and exits 0 if webrtcbin took the answer
(tests/e2e/peers/check_answers.sh). Otherwise it POSTs the offer, applies the answer, streams for
--duration seconds and DELETEs the session. Debian 12 has no whipsink, hence
this script.

libnice leaves loopback out of its host addresses, so 127.0.0.1 is added by
hand to the webrtcbin ice agent; the Python reference to that agent must
stay alive or the address is lost.
"""
import argparse
import json
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

PIPELINE = (
    "webrtcbin name=wb bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bframes=0 "
    "! rtph264pay config-interval=-1 aggregate-mode=zero-latency "
    "! application/x-rtp,media=video,encoding-name=H264,payload=96 ! wb. "
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc "
    "! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=97 ! wb."
)


def http(method, url, body=None, token=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers, resp.read()


class Publisher:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.pipe = Gst.parse_launch(PIPELINE)
        self.wb = self.pipe.get_by_name("wb")
        self.ice_agent = self.wb.get_property("ice-agent")
        self.nice = self.ice_agent.get_property("agent")
        loopback = Nice.Address()
        loopback.set_from_string("127.0.0.1")
        self.nice.add_local_address(loopback)
        self.wb.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.wb.connect("notify::ice-gathering-state", self.on_gathering)
        self.offered = False
        self.session = None
        self.error = None
        self.checked = None

    def on_negotiation_needed(self, wb):
        promise = Gst.Promise.new_with_change_func(self.on_offer, wb, None)
        wb.emit("create-offer", None, promise)

    def on_offer(self, promise, wb, _data):
        promise.wait()
        # The description lives inside the reply structure: keep `reply`
        # referenced until webrtcbin has copied the offer, or PyGObject
        # frees the structure under it.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        wb.emit("set-local-description", offer, Gst.Promise.new())
        del reply

    def on_gathering(self, wb, _pspec):
        state = wb.get_property("ice-gathering-state")
        if state != GstWebRTC.WebRTCICEGatheringState.COMPLETE or self.offered:
            return
        self.offered = True
        sdp = wb.get_property("local-description").sdp.as_text()
        if self.args.offer_only:
            sys.stdout.write(sdp)
            GLib.idle_add(self.loop.quit)
            return
        target = self.answer_cmd if self.args.answer_cmd else self.post
        threading.Thread(target=target, args=(sdp,), daemon=True).start()

    def answer_cmd(self, sdp):
        try:
            res = subprocess.run(self.args.answer_cmd, shell=True, input=sdp.encode(),
                                 stdout=subprocess.PIPE, check=True)
            GLib.idle_add(self.apply_answer, res.stdout.decode(), self.on_answer_set)
        except Exception as e:  # reported after the loop ends
            self.error = e
            GLib.idle_add(self.loop.quit)

    def on_answer_set(self, promise, wb, _data):
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            self.error = RuntimeError(str(reply.get_value("error")))
        state = wb.get_property("signaling-state")
        tracks = []
        for i in range(64):
            t = wb.emit("get-transceiver", i)
            if t is None:
                break
            # webrtcbin 1.22 leaves current-direction at the transceiver's
            # own direction, so only the mid says something here.
            tracks.append({"mid": t.get_property("mid")})
        self.checked = {"peer": "webrtcbin", "signalingState": state.value_nick,
                        "tracks": tracks}
        GLib.idle_add(self.loop.quit)

    def post(self, sdp):
        try:
            status, headers, body = http("POST", self.args.url, sdp.encode(),
                                         self.args.token, "application/sdp")
            if status != 201:
                raise RuntimeError("WHIP POST answered %d, expected 201" % status)
            self.session = urllib.parse.urljoin(self.args.url, headers["Location"])
            GLib.idle_add(self.apply_answer, body.decode())
            GLib.timeout_add(int(self.args.duration * 1000), self.loop.quit)
        except Exception as e:  # reported after the loop ends
            self.error = e
            GLib.idle_add(self.loop.quit)

    def apply_answer(self, text, on_done=None):
        _, msg = GstSdp.SDPMessage.new_from_text(text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        promise = (Gst.Promise.new_with_change_func(on_done, self.wb, None) if on_done
                   else Gst.Promise.new())
        self.wb.emit("set-remote-description", answer, promise)
        return False

    def run(self):
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add_seconds(30, self.loop.quit)
        try:
            self.loop.run()
        finally:
            self.pipe.set_state(Gst.State.NULL)
        if self.session:
            http("DELETE", self.session, token=self.args.token)
        if self.error:
            raise SystemExit(str(self.error))
        if not self.offered:
            raise SystemExit("ICE gathering did not complete")
        if self.args.answer_cmd:
            print(json.dumps(self.checked))
            if not self.checked or self.checked["signalingState"] != "stable":
                raise SystemExit("webrtcbin did not reach the stable signaling state")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--offer-only", action="store_true")
    ap.add_argument("--answer-cmd")
    ap.add_argument("--token")
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()
    Gst.init(None)
    Publisher(args).run()


if __name__ == "__main__":
    main()
