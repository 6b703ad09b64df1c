#!/usr/bin/python3
"""GStreamer webrtcbin WHIP publisher (RFC 9725): x264enc/rtph264pay video and
opusenc/rtpopuspay audio with max-bundle.

Usage: gst_offer.py [--offer-only | --answer-cmd CMD] [--token T]
                    [--duration S] [--key-int N] [--ignore-keyframe-requests]
                    WHIP_URL

With --offer-only the script prints the SDP offer once ICE gathering is
complete and exits; this is how tests/fixtures/sdp/gst_offer.sdp was
captured. With --answer-cmd it pipes the offer into CMD instead of POSTing
it, applies CMD's output as the answer, prints what webrtcbin negotiated as
JSON and exits 0 if webrtcbin took the answer
(tests/e2e/peers/check_answers.sh). Otherwise it POSTs the offer, applies
the answer, streams for --duration seconds once the peer connection is
connected, DELETEs the session (which must answer 200) and prints one JSON
line saying what it sent:

    {"peer": "webrtcbin", "video_frames_sent": N, "audio_frames_sent": M,
     "video_frames_encoded": E, "audio_frames_encoded": F,
     "video_keyframes_encoded": K, "keyframes_at": [T, ...],
     "keyframe_requests_ignored": R, "location": URL, "delete_status": 200}

keyframes_at holds the wall clock (time.time()) at which each keyframe
counted in video_keyframes_encoded left the encoder for webrtcbin.
--key-int sets x264enc's key-int-max (default 30 frames, 1 s).
--ignore-keyframe-requests makes the publisher behave like OBS, which
never answers PLI/FIR: once media flows, every force-key-unit event going
upstream to the encoder (webrtcbin turns the server's PLI and FIR into
those) is dropped by a pad probe and counted in keyframe_requests_ignored,
so keyframes come only every --key-int frames.

Debian 12 has no whipsink, hence this script.

Gating: pad probes on the encoders' source pads decide what reaches
webrtcbin. Before the offer exists, buffers pass (the payloader learns
SPS/PPS, so the offer carries sprop-parameter-sets, as any webrtcbin
publisher's does). webrtcbin then blocks its sink pads until DTLS is up,
which stalls the live sources; once the DTLS transport is connected, the
encoder is asked for a keyframe and both gates pass everything until
--duration is over; then they drop again. *_encoded count what passed
while open. (webrtcbin 1.22 may report the peer connection "connected"
before DTLS is, so the DTLS transport's own state is what is watched.)

Counting what was sent: a probe on webrtcbin's nicesink sees every packet
that leaves, including the frame that waited on the blocked pad (no RTP
leaves before DTLS is up, so all of it is SRTP the server can read). SRTP
keeps the RTP header in the clear, so video frames sent are the distinct
RTP timestamps of video packets and audio frames sent are the Opus packets
(one 20 ms frame each).

libnice leaves loopback out of its host addresses, so 127.0.0.1 is added by
hand to the webrtcbin ice agent; the Python reference to that agent must
stay alive or the address is lost.
"""
import argparse
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstVideo, GstWebRTC, Nice  # noqa: E402
from whip_http import http  # noqa: E402

PIPELINE = (
    "webrtcbin name=wb bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 "
    "! x264enc name=venc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 "
    "! rtph264pay config-interval=-1 aggregate-mode=zero-latency "
    "! application/x-rtp,media=video,encoding-name=H264,payload=96 ! wb. "
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc name=aenc "
    "! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=97 ! wb."
)

CONNECT_TIMEOUT_S = 15
SETTLE_MS = 700  # after the gates close, for the last packets to leave

VIDEO_PT, AUDIO_PT = 96, 97

# Gate states of the encoder probes (see the module comment).
PRE_OFFER, HELD, FLOWING, STOPPED = range(4)


class WireCounter:
    """Probe on nicesink's sink pad counting the RTP packets that leave:
    video frames are runs of packets with one RTP timestamp (not marker
    bits: rtph264pay also marks the SPS/PPS packet it puts before each
    IDR), audio frames are Opus packets."""

    def __init__(self, pad):
        self.video_frames = 0
        self.audio_frames = 0
        self.last_video_ts = None
        pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self.probe)

    def count(self, buf):
        head = buf.extract_dup(0, 8) if buf.get_size() >= 12 else b""
        if len(head) < 8 or head[0] >> 6 != 2 or 72 <= (head[1] & 0x7f) <= 79:
            return  # not RTP (STUN, DTLS) or RTCP (RFC 5761)
        pt = head[1] & 0x7f
        if pt == VIDEO_PT:
            ts = int.from_bytes(head[4:8], "big")
            if ts == self.last_video_ts:
                return
            self.last_video_ts = ts
            self.video_frames += 1
        elif pt == AUDIO_PT:
            self.audio_frames += 1

    def probe(self, _pad, info):
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            blist = info.get_buffer_list()
            for i in range(blist.length()):
                self.count(blist.get(i))
        else:
            self.count(info.get_buffer())
        return Gst.PadProbeReturn.OK


class Gate:
    """Probe on an encoder's source pad: passes, drops and counts buffers
    according to the publisher's phase."""

    def __init__(self, pad, video):
        self.video = video
        self.state = PRE_OFFER
        self.wait_key = video
        self.count = 0
        self.keyframes = 0
        self.key_times = []
        self.lock = threading.Lock()
        pad.add_probe(Gst.PadProbeType.BUFFER, self.probe)

    def set(self, state):
        with self.lock:
            self.state = state

    def probe(self, _pad, info):
        buf = info.get_buffer()
        if buf.has_flags(Gst.BufferFlags.HEADER):
            return Gst.PadProbeReturn.OK
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        with self.lock:
            if self.state == PRE_OFFER:
                return Gst.PadProbeReturn.OK
            if self.state != FLOWING:
                return Gst.PadProbeReturn.DROP
            if self.wait_key and not key:
                return Gst.PadProbeReturn.DROP
            self.wait_key = False
            self.count += 1
            if self.video and key:
                self.keyframes += 1
                self.key_times.append(time.time())
        return Gst.PadProbeReturn.OK


class KeyRequestFilter:
    """Probe on the encoder's source pad dropping the force-key-unit
    events that travel upstream to it, as a publisher that ignores PLI and
    FIR does."""

    def __init__(self, pad):
        self.ignored = 0
        pad.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self.probe)

    def probe(self, _pad, info):
        if GstVideo.video_event_is_force_key_unit(info.get_event()):
            self.ignored += 1
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK


class Publisher:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        pipeline = PIPELINE
        if getattr(args, "key_int", None):
            pipeline = re.sub(r"key-int-max=\d+", "key-int-max=%d" % args.key_int, pipeline)
        self.pipe = Gst.parse_launch(pipeline)
        self.wb = self.pipe.get_by_name("wb")
        self.ice_agent = self.wb.get_property("ice-agent")
        self.nice = self.ice_agent.get_property("agent")
        loopback = Nice.Address()
        loopback.set_from_string("127.0.0.1")
        self.nice.add_local_address(loopback)
        self.wb.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.wb.connect("notify::ice-gathering-state", self.on_gathering)
        self.wb.connect("notify::connection-state", self.on_connection_state)
        self.venc = self.pipe.get_by_name("venc")
        self.vgate = Gate(self.venc.get_static_pad("src"), video=True)
        self.agate = Gate(self.pipe.get_by_name("aenc").get_static_pad("src"), video=False)
        self.key_filter = None
        self.connected = False
        self.wire = None
        self.dtls = None
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
        if not self.args.offer_only and not self.args.answer_cmd:
            self.vgate.set(HELD)
            self.agate.set(HELD)
            # max-bundle: one transport, one nicesink.
            sinks = [e for e in self.pipe.iterate_recurse()
                     if e.get_factory() and e.get_factory().get_name() == "nicesink"]
            if len(sinks) != 1:
                self.error = RuntimeError("expected one nicesink, found %d" % len(sinks))
                GLib.idle_add(self.loop.quit)
                return
            self.wire = WireCounter(sinks[0].get_static_pad("sink"))
            sender = wb.emit("get-transceiver", 0).get_property("sender")
            self.dtls = sender.get_property("transport") if sender else None
            if self.dtls is None:
                self.error = RuntimeError("webrtcbin has no DTLS transport after the offer")
                GLib.idle_add(self.loop.quit)
                return
            self.dtls.connect("notify::state", self.on_dtls_state)
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
                raise RuntimeError("WHIP POST answered %d, expected 201: %s" % (status, body[:300]))
            self.session = urllib.parse.urljoin(self.args.url, headers["Location"])
            GLib.idle_add(self.apply_answer, body.decode())
            GLib.timeout_add_seconds(CONNECT_TIMEOUT_S, self.check_connected)
        except Exception as e:  # reported after the loop ends
            self.error = e
            GLib.idle_add(self.loop.quit)

    def on_dtls_state(self, dtls, _pspec):
        state = dtls.get_property("state")
        if state == GstWebRTC.WebRTCDTLSTransportState.CONNECTED and not self.connected:
            self.connected = True
            GLib.idle_add(self.start_media)
        elif state == GstWebRTC.WebRTCDTLSTransportState.FAILED and not self.connected:
            self.error = RuntimeError("DTLS handshake failed")
            GLib.idle_add(self.loop.quit)

    def on_connection_state(self, wb, _pspec):
        state = wb.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.FAILED and not self.connected:
            self.error = RuntimeError("peer connection failed")
            GLib.idle_add(self.loop.quit)

    def start_media(self):
        # The next frame out of x264enc is an IDR, so the server's first
        # frame is a keyframe and nothing counted is lost waiting for one.
        self.venc.send_event(GstVideo.video_event_new_upstream_force_key_unit(
            Gst.CLOCK_TIME_NONE, True, 0))
        if getattr(self.args, "ignore_keyframe_requests", False):
            # After our own request: that first keyframe starts the stream.
            self.key_filter = KeyRequestFilter(self.venc.get_static_pad("src"))
        self.vgate.set(FLOWING)
        self.agate.set(FLOWING)
        GLib.timeout_add(int(self.args.duration * 1000), self.stop_media)
        return False

    def stop_media(self):
        self.vgate.set(STOPPED)
        self.agate.set(STOPPED)
        GLib.timeout_add(SETTLE_MS, self.loop.quit)
        return False

    def check_connected(self):
        if not self.connected and self.error is None:
            self.error = RuntimeError("DTLS not connected after %d s" %
                                      CONNECT_TIMEOUT_S)
            self.loop.quit()
        return False

    def apply_answer(self, text, on_done=None):
        _, msg = GstSdp.SDPMessage.new_from_text(text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        promise = (Gst.Promise.new_with_change_func(on_done, self.wb, None) if on_done
                   else Gst.Promise.new())
        self.wb.emit("set-remote-description", answer, promise)
        return False

    def run(self):
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add_seconds(int(self.args.duration) + 30, self.loop.quit)
        try:
            self.loop.run()
        finally:
            self.pipe.set_state(Gst.State.NULL)
        if self.session:
            status, _, body = http("DELETE", self.session, token=self.args.token)
            if self.connected and self.error is None:
                print(json.dumps({
                    "peer": "webrtcbin",
                    "video_frames_sent": self.wire.video_frames,
                    "audio_frames_sent": self.wire.audio_frames,
                    "video_frames_encoded": self.vgate.count,
                    "audio_frames_encoded": self.agate.count,
                    "video_keyframes_encoded": self.vgate.keyframes,
                    "keyframes_at": self.vgate.key_times,
                    "keyframe_requests_ignored": (self.key_filter.ignored
                                                  if self.key_filter else 0),
                    "location": self.session,
                    "delete_status": status,
                }), flush=True)
            if status != 200:
                raise SystemExit("WHIP DELETE answered %d, expected 200: %s" % (status, body[:300]))
        if self.error:
            raise SystemExit(str(self.error))
        if not self.offered:
            raise SystemExit("ICE gathering did not complete")
        if self.session and not self.connected:
            raise SystemExit("the peer connection never connected")
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
    ap.add_argument("--key-int", type=int, help="x264enc key-int-max (frames)")
    ap.add_argument("--ignore-keyframe-requests", action="store_true")
    args = ap.parse_args()
    Gst.init(None)
    Publisher(args).run()


if __name__ == "__main__":
    main()
