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
--duration seconds and DELETEs the session.

Run it with Debian's /usr/bin/python3 (the aiortc package lives there).
aioice leaves 127.0.0.1 out of its host candidates, so inside a loopback-only
network namespace it would offer none; --loopback makes it offer 127.0.0.1.
"""
import argparse
import asyncio
import json
import subprocess
import sys
import urllib.parse
import urllib.request

import aioice.ice
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


def prefer(kind, names):
    """Codecs of `kind` whose MIME subtype is in names, in aiortc's order."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in caps if c.mimeType.split("/")[1].lower() in names]


async def make_offer(pc):
    video = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    # H.264 only (plus its RTX): a WHIP server for HLS cannot take VP8.
    video.setCodecPreferences(prefer("video", ("h264", "rtx")))
    audio = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    audio.setCodecPreferences(prefer("audio", ("opus",)))
    offer = await pc.createOffer()
    # aiortc gathers every candidate inside setLocalDescription, so the
    # local description is complete (non-trickle), as WHIP clients send it.
    await pc.setLocalDescription(offer)
    return pc.localDescription.sdp


def http(method, url, body=None, token=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers, resp.read()


async def publish(pc, args):
    sdp = await make_offer(pc)
    loop = asyncio.get_running_loop()
    status, headers, body = await loop.run_in_executor(
        None, lambda: http("POST", args.url, sdp.encode(), args.token, "application/sdp"))
    if status != 201:
        raise SystemExit("WHIP POST answered %d, expected 201" % status)
    session = urllib.parse.urljoin(args.url, headers["Location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
    await asyncio.sleep(args.duration)
    await loop.run_in_executor(None, lambda: http("DELETE", session, token=args.token))


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
