#!/usr/bin/python3
"""aiortc WHIP publisher whose offer lies about its DTLS certificate.

Usage: aiortc_badfp.py [--loopback] [--wait S] WHIP_URL

Builds the same offer as aiortc_offer.py (H.264 + Opus, sendonly), replaces
every a=fingerprint:sha-256 value with a different one (each byte inverted),
POSTs it and applies the answer, so aiortc runs ICE and then the DTLS
handshake with a certificate that does not match what the offer promised.
The server must refuse it. Waits up to --wait seconds for aiortc's
connection state to become "failed" or "closed", then prints one JSON line:

    {"status": 201, "location": "/whip/...", "offer_fingerprint": "..",
     "real_fingerprint": "..", "connection_state": "failed",
     "ice_state": "completed"}

Run it with Debian's /usr/bin/python3 (the aiortc package lives there).
--loopback makes aioice offer 127.0.0.1, as in aiortc_offer.py.
"""
import argparse
import asyncio
import json
import re
import urllib.error
import urllib.request

import aioice.ice
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

FP = re.compile(r"^(a=fingerprint:sha-256 )([0-9A-Fa-f:]+)", re.M)


def invert(fp):
    return ":".join("%02X" % (0xFF ^ int(b, 16)) for b in fp.split(":"))


def post(url, sdp):
    req = urllib.request.Request(url, data=sdp.encode(), method="POST")
    req.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


async def run(args):
    pc = RTCPeerConnection()
    done = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState in ("failed", "closed"):
            done.set()

    caps = RTCRtpSender.getCapabilities("video").codecs
    video = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    video.setCodecPreferences([c for c in caps
                               if c.mimeType.split("/")[1].lower() in ("h264", "rtx")])
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    real = FP.search(sdp).group(2)
    tampered = FP.sub(lambda m: m.group(1) + invert(m.group(2)), sdp)
    out = {"offer_fingerprint": invert(real), "real_fingerprint": real}
    loop = asyncio.get_running_loop()
    try:
        status, headers, body = await loop.run_in_executor(None, post, args.url, tampered)
        out.update(status=status, location=headers.get("Location"))
        if status == 201:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
            try:
                await asyncio.wait_for(done.wait(), args.wait)
            except asyncio.TimeoutError:
                pass
        out.update(connection_state=pc.connectionState, ice_state=pc.iceConnectionState)
    finally:
        await pc.close()
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--loopback", action="store_true")
    ap.add_argument("--wait", type=float, default=10.0)
    args = ap.parse_args()
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
