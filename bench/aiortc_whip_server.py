#!/usr/bin/python3
"""The reference receiver for bench/whip_connect.py: a minimal WHIP endpoint
whose answerer is aiortc itself, so the same aiortc publisher can connect
peer to peer instead of to clipgate.

    aiortc_whip_server.py --port N

POST /whip/{stream}        answer with a recvonly aiortc peer (201, Location)
DELETE /whip/{stream}/{id} close that peer (200)
GET /stats                 JSON: one object per session with connect_ms
                           (POST received -> ICE+DTLS connected) and
                           first_keyframe_ms (POST received -> first video
                           frame decoded; the first decodable frame is a
                           keyframe), the figures clipgate reports as
                           connect_ms and first_keyframe_ms.

Only for loopback benchmarks: one request per connection, no TLS, no auth.
Run with Debian's /usr/bin/python3 (aiortc lives there).
"""
import asyncio
import json
import secrets

import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from common import read_request, respond, serve_forever

# aioice leaves 127.0.0.1 out of its host candidates; this runs on loopback.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

sessions = {}  # id -> {"stream", "pc", "t0", "connect_ms", "first_keyframe_ms"}


async def consume(track, session):
    """Pulls frames as a player would; stamps the first video frame."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            await track.recv()
            if track.kind == "video" and session["first_keyframe_ms"] is None:
                session["first_keyframe_ms"] = (loop.time() - session["t0"]) * 1000
    except MediaStreamError:
        pass


async def create(stream, offer_sdp, t0):
    loop = asyncio.get_running_loop()
    sid = secrets.token_hex(8)
    pc = RTCPeerConnection()
    s = {"stream": stream, "pc": pc, "t0": t0, "connect_ms": None, "first_keyframe_ms": None,
         "tasks": []}
    sessions[sid] = s

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected" and s["connect_ms"] is None:
            s["connect_ms"] = (loop.time() - t0) * 1000

    @pc.on("track")
    def on_track(track):
        s["tasks"].append(asyncio.ensure_future(consume(track, s)))

    # aiortc offers extension id 2 for abs-send-time on video and for the
    # audio level on audio; one BUNDLE transport has one id map, and the
    # receiving aiortc fails on an audio packet parsed as abs-send-time.
    # Answering without abs-send-time leaves id 2 to the audio level.
    offer_sdp = "".join(line for line in offer_sdp.splitlines(keepends=True)
                        if not (line.startswith("a=extmap:") and ABS_SEND_TIME in line))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return sid, pc.localDescription.sdp


async def close(sid):
    s = sessions.get(sid)
    if s:
        await s["pc"].close()
        for t in s["tasks"]:
            t.cancel()


def stats():
    return [{"id": sid, "stream": s["stream"], "connect_ms": s["connect_ms"],
             "first_keyframe_ms": s["first_keyframe_ms"]} for sid, s in sessions.items()]


async def handle(reader, writer):
    request = await read_request(reader)
    if request is None:
        writer.close()
        return
    method, path, body, t0 = request
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 2 and parts[0] == "whip":
        sid, answer = await create(parts[1], body.decode(), t0)
        await respond(writer, 201, "Created", answer.encode(),
                      ("Content-Type: application/sdp", f"Location: /whip/{parts[1]}/{sid}"))
    elif method == "DELETE" and len(parts) == 3 and parts[0] == "whip":
        await close(parts[2])
        await respond(writer, 200, "OK")
    elif method == "GET" and path == "/stats":
        await respond(writer, 200, "OK", json.dumps(stats()).encode(),
                      ("Content-Type: application/json",))
    else:
        await respond(writer, 404, "Not Found")


if __name__ == "__main__":
    serve_forever(handle)
