#!/usr/bin/python3
"""aiortc WHIP publisher (RFC 9725): H.264 video + Opus audio, sendonly.

Usage: aiortc_offer.py [--offer-only | --answer-cmd CMD] [--token T]
                       [--duration S] [--loopback] WHIP_URL

With --offer-only the script prints the SDP offer (after ICE gathering, as a
WHIP client sends it) byte for byte on stdout and exits; this is how
tests/fixtures/sdp/aiortc_offer.sdp was captured. With --answer-cmd it
pipes the offer into CMD instead of POSTing it, applies CMD's output as the
answer, prints what aiortc negotiated as JSON and exits 0 if aiortc took
the answer (tests/e2e/peers/check_answers.sh). Otherwise it POSTs the
offer to WHIP_URL, applies the answer, publishes synthetic media for
--duration seconds (a moving test pattern, so the encoder makes real
P-frames, and a 440 Hz tone), stops both tracks, DELETEs the session (which
must answer 200) and prints one JSON line saying what it sent:

    {"peer": "aiortc", "video_frames_sent": N, "audio_frames_sent": M,
     "video_packets_sent": P, "audio_packets_sent": Q, "location": URL,
     "delete_status": 200}

Frames are counted as the sender takes them from the tracks: aiortc encodes
and packetizes every frame it takes (libx264 with zerolatency holds none
back), and sending starts only once DTLS is up, so the count is what went
out on the wire. Packet counts come from aiortc's outbound-rtp stats.

Run it with Debian's /usr/bin/python3 (the aiortc package lives there).
aioice leaves 127.0.0.1 out of its host candidates, so inside a loopback-only
network namespace it would offer none; --loopback makes it offer 127.0.0.1.
"""
import argparse
import asyncio
import fractions
import json
import subprocess
import sys
import urllib.parse

import aioice.ice
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

from whip_http import http

WIDTH, HEIGHT = 640, 480
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms, one Opus frame


class PatternTrack(VideoStreamTrack):
    """30 fps 640x480 frames whose luma ramp and chroma bars slide a few
    pixels per frame. Counts the frames the sender takes; after halt()
    the sender gets MediaStreamError and stops sending this track."""

    def __init__(self):
        super().__init__()
        x = np.arange(WIDTH, dtype=np.uint16)
        y = np.arange(HEIGHT, dtype=np.uint16)[:, None]
        self._luma = ((x[None, :] + y) % 256).astype(np.uint8)
        cx = np.arange(WIDTH // 2)
        bars = ((cx // 40) % 2 * 120 + 68).astype(np.uint8)
        self._chroma = np.tile(bars, (HEIGHT // 2, 1))
        self.sent = 0
        self.halted = False

    def halt(self):
        self.halted = True

    async def recv(self):
        if self.halted:
            raise MediaStreamError
        pts, time_base = await self.next_timestamp()
        shift = 4 * self.sent
        u = np.roll(self._chroma, shift // 2, axis=1)
        v = np.roll(self._chroma, -(shift // 2), axis=1)
        planes = np.concatenate([
            np.roll(self._luma, shift, axis=1),
            u.reshape(HEIGHT // 4, WIDTH),
            v.reshape(HEIGHT // 4, WIDTH),
        ])
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = pts
        frame.time_base = time_base
        self.sent += 1
        return frame


class ToneTrack(AudioStreamTrack):
    """20 ms frames of a 440 Hz tone at 48 kHz, counted like PatternTrack."""

    def __init__(self):
        super().__init__()
        self.sent = 0
        self.halted = False
        self._start = None

    def halt(self):
        self.halted = True

    async def recv(self):
        if self.halted or self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        ts = self.sent * AUDIO_SAMPLES
        wait = self._start + ts / AUDIO_RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (ts + np.arange(AUDIO_SAMPLES)) / AUDIO_RATE
        pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = ts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sent += 1
        return frame


def prefer(kind, names):
    """Codecs of `kind` whose MIME subtype is in names, in aiortc's order."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in caps if c.mimeType.split("/")[1].lower() in names]


async def make_offer(pc, tracks=None):
    vtrack, atrack = tracks or (PatternTrack(), ToneTrack())
    video = pc.addTransceiver(vtrack, direction="sendonly")
    # H.264 only (plus its RTX): a WHIP server for HLS cannot take VP8.
    video.setCodecPreferences(prefer("video", ("h264", "rtx")))
    audio = pc.addTransceiver(atrack, direction="sendonly")
    audio.setCodecPreferences(prefer("audio", ("opus",)))
    offer = await pc.createOffer()
    # aiortc gathers every candidate inside setLocalDescription, so the
    # local description is complete (non-trickle), as WHIP clients send it.
    await pc.setLocalDescription(offer)
    return pc.localDescription.sdp


async def packets_sent(sender):
    """packetsSent of the sender's outbound-rtp stats (0 if none yet)."""
    report = await sender.getStats()
    return sum(getattr(s, "packetsSent", 0) or 0 for s in report.values()
               if getattr(s, "type", "") == "outbound-rtp")


async def publish(pc, args):
    video, audio = PatternTrack(), ToneTrack()
    sdp = await make_offer(pc, (video, audio))
    loop = asyncio.get_running_loop()
    status, headers, body = await loop.run_in_executor(
        None, lambda: http("POST", args.url, sdp.encode(), args.token, "application/sdp"))
    if status != 201:
        raise SystemExit("WHIP POST answered %d, expected 201: %s" % (status, body[:300]))
    session = urllib.parse.urljoin(args.url, headers["Location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
    # --duration counts from the moment ICE and DTLS are up.
    for _ in range(150):
        if pc.connectionState in ("connected", "failed", "closed"):
            break
        await asyncio.sleep(0.1)
    if pc.connectionState != "connected":
        raise SystemExit("peer connection is %s, not connected" % pc.connectionState)
    await asyncio.sleep(args.duration)
    # Stop the tracks first, so the counts below are final, and give the
    # last packets time to arrive before the session goes away.
    video.halt()
    audio.halt()
    await asyncio.sleep(0.7)
    vsender = next(t.sender for t in pc.getTransceivers() if t.kind == "video")
    asender = next(t.sender for t in pc.getTransceivers() if t.kind == "audio")
    result = {
        "peer": "aiortc",
        "video_frames_sent": video.sent,
        "audio_frames_sent": audio.sent,
        "video_packets_sent": await packets_sent(vsender),
        "audio_packets_sent": await packets_sent(asender),
        "location": session,
    }
    status, _, body = await loop.run_in_executor(
        None, lambda: http("DELETE", session, token=args.token))
    result["delete_status"] = status
    print(json.dumps(result), flush=True)
    if status != 200:
        raise SystemExit("WHIP DELETE answered %d, expected 200: %s" % (status, body[:300]))


async def check_answer(pc, cmd):
    """Applies CMD's answer to our offer; raises if aiortc refuses it."""
    sdp = await make_offer(pc)
    res = subprocess.run(cmd, shell=True, input=sdp.encode(), stdout=subprocess.PIPE, check=True)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=res.stdout.decode(), type="answer"))
    # Nobody listens at the answer's candidates, so closing interrupts
    # aiortc's background connect task; that task's InvalidStateError is
    # expected here and not worth a traceback.
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda lp, ctx: None if isinstance(ctx.get("exception"), InvalidStateError)
        else lp.default_exception_handler(ctx))
    tracks = []
    for t in pc.getTransceivers():
        # _codecs holds what setRemoteDescription negotiated for the sender.
        codecs = [{"mimeType": c.mimeType, "payloadType": c.payloadType} for c in t._codecs]
        tracks.append({"mid": t.mid, "kind": t.kind, "direction": t.currentDirection,
                       "codecs": codecs})
    print(json.dumps({"peer": "aiortc", "signalingState": pc.signalingState, "tracks": tracks}))
    if pc.signalingState != "stable":
        raise SystemExit("aiortc did not reach the stable signaling state")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--offer-only", action="store_true")
    ap.add_argument("--answer-cmd")
    ap.add_argument("--token")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--loopback", action="store_true")
    args = ap.parse_args()
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    pc = RTCPeerConnection()
    try:
        if args.offer_only:
            sys.stdout.write(await make_offer(pc))
        elif args.answer_cmd:
            await check_answer(pc, args.answer_cmd)
        else:
            await publish(pc, args)
    finally:
        await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
