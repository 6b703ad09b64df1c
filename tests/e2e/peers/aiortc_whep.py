#!/usr/bin/python3
"""aiortc WHEP viewer (draft-ietf-wish-whep): recvonly H.264 video + Opus audio.

Usage: aiortc_whep.py [--token T] [--duration S] [--loopback] WHEP_URL

POSTs a recvonly offer to WHEP_URL, applies the answer, receives and
decodes media for --duration seconds once the connection is up, DELETEs
the session and prints one JSON line:

    {"peer": "aiortc", "post_status": 201, "video_frames": N,
     "audio_frames": M, "video_first_s": T, "width": W, "height": H,
     "connected": true, "location": URL, "delete_status": 200}

video_frames and audio_frames count frames aiortc decoded (its receiver
decodes H.264 with libavcodec and Opus with libopus); video_first_s is
the time from connected to the first decoded picture. A POST that is not
answered 201 is printed with its status and body and exits 1.

Run it with Debian's /usr/bin/python3 (the aiortc package lives there).
aiortc 1.4 as a receiver numbers its audio and video header extensions so
they clash inside one BUNDLE and then fails to route packets; moving the
audio extension id out of the way avoids it. --loopback makes aioice offer
127.0.0.1 (it leaves loopback out of its host candidates otherwise).
"""
import argparse
import asyncio
import json
import sys
import urllib.parse

import aioice.ice
import aiortc.codecs
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from whip_http import http

aiortc.codecs.HEADER_EXTENSIONS["audio"][1].id = 3


class Counter:
    def __init__(self):
        self.video = 0
        self.audio = 0
        self.first_video = None
        self.width = self.height = 0


async def consume(track, counter, loop, t0):
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if track.kind == "video":
            counter.video += 1
            counter.width, counter.height = frame.width, frame.height
            if counter.first_video is None and t0[0] is not None:
                counter.first_video = loop.time() - t0[0]
        else:
            counter.audio += 1


async def play(pc, args):
    loop = asyncio.get_running_loop()
    counter = Counter()
    t0 = [None]
    tasks = []

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume(track, counter, loop, t0)))

    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    status, headers, body = await loop.run_in_executor(
        None, lambda: http("POST", args.url, sdp.encode(), args.token, "application/sdp"))
    if status != 201:
        print(json.dumps({"peer": "aiortc", "post_status": status,
                          "body": body.decode(errors="replace")[:500]}), flush=True)
        raise SystemExit(1)
    session = urllib.parse.urljoin(args.url, headers["Location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
    for _ in range(150):
        if pc.connectionState in ("connected", "failed", "closed"):
            break
        await asyncio.sleep(0.1)
    connected = pc.connectionState == "connected"
    t0[0] = loop.time()
    if connected:
        await asyncio.sleep(args.duration)
    result = {
        "peer": "aiortc",
        "post_status": status,
        "connected": connected,
        "video_frames": counter.video,
        "audio_frames": counter.audio,
        "video_first_s": counter.first_video,
        "width": counter.width,
        "height": counter.height,
        "location": session,
        "answer": body.decode(),
    }
    status, _, body = await loop.run_in_executor(
        None, lambda: http("DELETE", session, token=args.token))
    result["delete_status"] = status
    for t in tasks:
        t.cancel()
    print(json.dumps(result), flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--token")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--loopback", action="store_true")
    args = ap.parse_args()
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    pc = RTCPeerConnection()
    try:
        await play(pc, args)
    finally:
        await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
