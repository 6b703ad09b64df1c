#!/usr/bin/python3
"""The reference forwarder for bench/whep_forward.py: a WHIP + WHEP relay
built from aiortc, doing the job clipgate's WHEP egress does without
decoding or encoding.

    aiortc_whep_relay.py --port N

POST /whip/{stream}        a publisher (recvonly aiortc peer), 201 + Location
POST /whep/{stream}        a viewer (sendonly aiortc peer fed by the
                           publisher's tracks through aiortc's MediaRelay),
                           201 + Location; 409 while nobody publishes
DELETE /whip|whep/{stream}/{id}   close that peer (200)
GET /stats                 JSON: {"streams": [...], "viewers": N}

aiortc normally decodes what it receives and encodes what it sends. Here
its decoder thread is replaced by one that wraps each depacketized frame
(H.264 access unit in Annex B, Opus packet) in an av.Packet, and aiortc's
sender, given packets instead of frames, only packetizes them: so per
viewer it does what a forwarding server does (packetize, RTP header,
SRTP, send) plus aiortc's own depacketize/repacketize step. MediaRelay
hands the same packet object to every viewer. Keyframe requests are not
passed on (there is no encoder to ask).

Only for loopback benchmarks: one request per connection, no TLS, no auth.
Run with Debian's /usr/bin/python3 (aiortc lives there).
"""
import asyncio
import fractions
import json
import secrets

import aioice.ice
import aiortc.codecs
import aiortc.rtcrtpreceiver as rtcrtpreceiver
import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

import aiortc_srtp
from common import read_request, respond, serve_forever

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def packet_worker(loop, input_q, output_q):
    """Stands in for aiortc's decoder thread: passes each depacketized
    frame on as an encoded av.Packet, timed in its RTP clock."""
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            return
        codec, frame = task
        pkt = av.Packet(frame.data)
        pkt.pts = frame.timestamp
        pkt.time_base = fractions.Fraction(1, codec.clockRate)
        asyncio.run_coroutine_threadsafe(output_q.put(pkt), loop)


rtcrtpreceiver.decoder_worker = packet_worker

# What is forwarded is the publisher's H.264: the relay must not answer a
# viewer with VP8, which aiortc would otherwise prefer.
_vp8 = {c.payloadType for c in aiortc.codecs.CODECS["video"] if c.mimeType == "video/VP8"}
aiortc.codecs.CODECS["video"][:] = [
    c for c in aiortc.codecs.CODECS["video"]
    if c.mimeType != "video/VP8" and c.parameters.get("apt") not in _vp8]

relay = MediaRelay()
publishers = {}  # stream -> {"pc", "tracks": {kind: track}, "sid", "tasks"}
peers = {}  # sid -> (kind of session, stream, pc)


async def drain(track):
    """Keeps the relay pulling from the source while no viewer does."""
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass


async def publish(stream, offer_sdp):
    pc = RTCPeerConnection()
    sid = secrets.token_hex(8)
    pub = {"pc": pc, "tracks": {}, "sid": sid, "tasks": []}

    @pc.on("track")
    def on_track(track):
        pub["tracks"][track.kind] = track
        pub["tasks"].append(asyncio.ensure_future(drain(relay.subscribe(track, buffered=False))))

    # aiortc offers extension id 2 for abs-send-time (video) and the audio
    # level (audio); an aiortc receiver on one BUNDLE transport then fails
    # on audio packets, so abs-send-time is left out of the answer.
    offer_sdp = "".join(line for line in offer_sdp.splitlines(keepends=True)
                        if not (line.startswith("a=extmap:") and ABS_SEND_TIME in line))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    publishers[stream] = pub
    peers[sid] = ("whip", stream, pc)
    return sid, pc.localDescription.sdp


async def play(stream, offer_sdp):
    pub = publishers.get(stream)
    if not pub or not pub["tracks"]:
        return None, None
    pc = RTCPeerConnection()
    sid = secrets.token_hex(8)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    for kind in ("video", "audio"):
        if kind in pub["tracks"]:
            pc.addTrack(relay.subscribe(pub["tracks"][kind], buffered=False))
    await pc.setLocalDescription(await pc.createAnswer())
    peers[sid] = ("whep", stream, pc)
    return sid, pc.localDescription.sdp


async def close(sid):
    entry = peers.pop(sid, None)
    if not entry:
        return False
    kind, stream, pc = entry
    await pc.close()
    if kind == "whip" and publishers.get(stream, {}).get("sid") == sid:
        for t in publishers.pop(stream)["tasks"]:
            t.cancel()
    return True


async def handle(reader, writer):
    request = await read_request(reader)
    if request is None:
        writer.close()
        return
    method, path, body, _ = request
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 2 and parts[0] in ("whip", "whep"):
        make = publish if parts[0] == "whip" else play
        sid, answer = await make(parts[1], body.decode())
        if sid is None:
            await respond(writer, 409, "Conflict", b"nobody publishes", ("Retry-After: 1",))
            return
        await respond(writer, 201, "Created", answer.encode(),
                      ("Content-Type: application/sdp", f"Location: /{parts[0]}/{parts[1]}/{sid}"))
    elif method == "DELETE" and len(parts) == 3 and parts[0] in ("whip", "whep"):
        found = await close(parts[2])
        await respond(writer, 200 if found else 404, "OK" if found else "Not Found")
    elif method == "GET" and path == "/stats":
        doc = {"streams": [s for s, p in publishers.items() if p["tracks"]],
               "viewers": sum(1 for k, _, _ in peers.values() if k == "whep")}
        await respond(writer, 200, "OK", json.dumps(doc).encode(),
                      ("Content-Type: application/json",))
    else:
        await respond(writer, 404, "Not Found")


if __name__ == "__main__":
    # GCM when the peer offers it (viewers with --srtp gcm), else AES-CM
    # (aiortc publishers): the DTLS server picks; aiortc alone offers CM.
    aiortc_srtp.enable()
    serve_forever(handle)
