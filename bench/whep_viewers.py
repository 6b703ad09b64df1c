#!/usr/bin/python3
"""Light WHEP viewers for bench/whep_forward.py: N aiortc peer connections
in one process, each POSTing a recvonly H.264 + Opus offer to WHEP_URL,
completing ICE and DTLS and receiving SRTP like any viewer, but never
decoding (aiortc's decoder thread is replaced by one that drops the
frames), so N of them fit on a small machine next to the server measured.

    whep_viewers.py --viewers N --window S [--srtp cm|gcm] WHEP_URL

Once every viewer is connected and has received media for a second, it
prints, one JSON line each, flushed as they happen:

    {"event": "start", "t": EPOCH_S, "packets": P0}
    {"event": "end", "t": EPOCH_S, "packets": P1, "per_viewer": [...],
     "connected": N}

packets counts the RTP packets (audio and video) all viewers together
received and authenticated so far; the window between the two lines is
--window seconds. Then every session is DELETEd and it exits. --srtp gcm
makes the viewers offer only AEAD_AES_128_GCM, as browsers prefer
(bench/aiortc_srtp.py); by default they offer aiortc's AES-CM. A viewer
that is not connected within 20 s is reported as {"event": "failed"}.

Only for loopback benchmarks. Run with Debian's /usr/bin/python3.
"""
import argparse
import asyncio
import json
import sys
import time
import urllib.parse
import urllib.request

import aioice.ice
import aiortc.codecs
import aiortc.rtcrtpreceiver as rtcrtpreceiver
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

import aiortc_srtp

# aiortc as a receiver numbers its audio and video header extensions so
# they clash inside one BUNDLE (see tests/e2e/peers/aiortc_whep.py).
aiortc.codecs.HEADER_EXTENSIONS["audio"][1].id = 3
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def drop_worker(loop, input_q, output_q):
    """Stands in for aiortc's decoder thread: takes the depacketized
    frames off the queue and drops them."""
    while input_q.get() is not None:
        pass
    asyncio.run_coroutine_threadsafe(output_q.put(None), loop)


rtcrtpreceiver.decoder_worker = drop_worker

_handle_rtp = RTCRtpReceiver._handle_rtp_packet
received = {}  # id(receiver's peer connection) -> packets


async def _counting_handle_rtp(self, packet, arrival_time_ms):
    received[self._cg_owner] = received.get(self._cg_owner, 0) + 1
    return await _handle_rtp(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _counting_handle_rtp


def http(method, url, body=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


async def connect(i, url):
    """One viewer: offer H.264 only (so no server picks VP8) and Opus."""
    loop = asyncio.get_running_loop()
    pc = RTCPeerConnection()
    video = pc.addTransceiver("video", direction="recvonly")
    h264 = [c for c in RTCRtpReceiver.getCapabilities("video").codecs
            if c.mimeType == "video/H264"]
    video.setCodecPreferences(h264)
    pc.addTransceiver("audio", direction="recvonly")
    for t in pc.getTransceivers():
        t.receiver._cg_owner = i
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, body = await loop.run_in_executor(
        None, lambda: http("POST", url, pc.localDescription.sdp.encode(), "application/sdp"))
    if status != 201:
        raise RuntimeError(f"viewer {i}: POST answered {status}: {body[:300]!r}")
    session = urllib.parse.urljoin(url, headers["Location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
    for _ in range(200):
        if pc.connectionState in ("connected", "failed", "closed"):
            break
        await asyncio.sleep(0.1)
    if pc.connectionState != "connected":
        raise RuntimeError(f"viewer {i}: {pc.connectionState} after 20 s")
    return pc, session


def emit(obj):
    print(json.dumps(obj), flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--viewers", type=int, default=1)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--srtp", choices=("cm", "gcm"), default="cm",
                    help="SRTP profile offered: aiortc's AES-CM, or AEAD AES-GCM as browsers")
    args = ap.parse_args()
    aiortc_srtp.enable((b"SRTP_AEAD_AES_128_GCM",) if args.srtp == "gcm"
                       else (b"SRTP_AES128_CM_SHA1_80",))
    peers = []
    try:
        for i in range(args.viewers):
            peers.append(await connect(i, args.url))
        await asyncio.sleep(1.0)
        if any(received.get(i, 0) == 0 for i in range(args.viewers)):
            raise RuntimeError(f"media did not reach every viewer: {received}")
        emit({"event": "start", "t": time.time(), "packets": sum(received.values())})
        start = dict(received)
        await asyncio.sleep(args.window)
        emit({"event": "end", "t": time.time(), "packets": sum(received.values()),
              "per_viewer": [received.get(i, 0) - start.get(i, 0) for i in range(args.viewers)],
              "connected": len(peers), "srtp": sorted(set(aiortc_srtp.selected_names))})
    except Exception as e:  # reported to the benchmark, which carries on
        emit({"event": "failed", "why": str(e)})
        sys.stderr.write(f"whep_viewers: {e}\n")
    finally:
        loop = asyncio.get_running_loop()
        for pc, session in peers:
            await loop.run_in_executor(None, lambda s=session: http("DELETE", s))
            await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
