#!/usr/bin/python3
"""Publish a moving test pattern with a tone to clipgate over WHIP.

    samples/publish.py [URL] [--token T] [--duration S] [--size WxH] [--fps N]
                       [--keyframe-interval S] [--bframes N]

URL defaults to http://127.0.0.1:8080/whip/demo. The picture is FFmpeg's
testsrc2 (colour bars, a moving gradient and a running clock), the sound a
440 Hz sine that beeps once a second, so lip sync is easy to judge. Both are
made by libavfilter in real time, encoded with libx264 (no B-frames) and
Opus by aiortc, and sent over WebRTC as any WHIP encoder would.

It runs until Ctrl-C (or for --duration seconds), then ends the session
with DELETE so the broadcast is finished at once instead of waiting for
ICE consent to expire. Needs Debian's python3-aiortc (run with
/usr/bin/python3); samples/publish.sh does that for you.
"""
import argparse
import asyncio
import fractions
import ipaddress
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/whip/demo"


def say(msg):
    print("publish: " + msg, file=sys.stderr, flush=True)


def http(method, url, body=None, token=None, ctype=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("User-Agent", "clipgate samples/publish.py (aiortc)")
    if ctype:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def problem_text(body):
    """The detail sentence of an RFC 9457 problem, else the raw body."""
    import json
    try:
        doc = json.loads(body.decode("utf-8"))
        return f"{doc.get('title', '')}: {doc.get('detail', '')}"
    except (ValueError, UnicodeDecodeError, AttributeError):
        return body.decode("utf-8", "replace")[:300]


def is_loopback(host):
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def add_loopback_candidate():
    """aioice never offers 127.0.0.1. When clipgate runs on this machine and
    answers with 127.0.0.1 (it does when bound to loopback), offer it too."""
    import aioice.ice
    orig = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4, use_ipv6):
        addrs = list(orig(use_ipv4, use_ipv6))
        if use_ipv4 and "127.0.0.1" not in addrs:
            addrs.append("127.0.0.1")
        return addrs

    aioice.ice.get_host_addresses = with_loopback


def set_encoder(gop, bframes):
    """aiortc sends a keyframe at the start and whenever x264 decides (every
    250 frames by default). Viewers start and clips cut on keyframes, so
    send one every `gop` frames, as an encoder set up for WHIP would (the
    OBS guide asks for a 1-2 s keyframe interval), and no B-frames unless
    asked to (to see what clipgate says about them)."""
    import av
    import aiortc.codecs.h264 as h264

    def create(codec_name, width, height, bitrate):
        if codec_name != "libx264":
            # aiortc tries the Raspberry Pi's OMX encoder first; go straight
            # to libx264, whose settings we choose.
            raise RuntimeError(f"{codec_name} not used here")
        codec = av.CodecContext.create(codec_name, "w")
        codec.width, codec.height = width, height
        codec.bit_rate = bitrate
        codec.pix_fmt = "yuv420p"
        codec.framerate = fractions.Fraction(h264.MAX_FRAME_RATE, 1)
        codec.time_base = fractions.Fraction(1, h264.MAX_FRAME_RATE)
        if bframes:
            # zerolatency would turn B-frames off again; baseline has none.
            codec.options = {"profile": "main", "preset": "veryfast", "g": str(gop),
                             "bf": str(bframes)}
        else:
            codec.options = {"profile": "baseline", "level": "31", "tune": "zerolatency",
                             "preset": "veryfast", "g": str(gop), "bf": "0"}
        codec.open()
        return codec, False

    h264.create_encoder_context = create


def quiet_ffmpeg():
    """aiortc hands FFmpeg's log back to FFmpeg, which then prints libx264's
    statistics on stderr; keep only errors."""
    import ctypes
    import ctypes.util
    import aiortc  # noqa: F401 (it resets the log callback on import)
    try:
        ctypes.CDLL(ctypes.util.find_library("avutil")).av_log_set_level(16)  # AV_LOG_ERROR
    except (OSError, TypeError, AttributeError):
        pass


def prefer(kind, names):
    from aiortc import RTCRtpSender
    caps = RTCRtpSender.getCapabilities(kind).codecs
    return [c for c in caps if c.mimeType.split("/")[1].lower() in names]


async def publish(args):
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    graph = (f"testsrc2=size={args.size}:rate={args.fps}[out0];"
             "sine=frequency=440:beep_factor=4:sample_rate=48000[out1]")
    player = MediaPlayer(graph, format="lavfi")
    pc = RTCPeerConnection()
    video = pc.addTransceiver(player.video, direction="sendonly")
    # clipgate records H.264 only; aiortc would offer VP8 first otherwise.
    video.setCodecPreferences(prefer("video", ("h264", "rtx")))
    audio = pc.addTransceiver(player.audio, direction="sendonly")
    audio.setCodecPreferences(prefer("audio", ("opus",)))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    @pc.on("connectionstatechange")
    def on_state():
        say(f"connection {pc.connectionState}")
        if pc.connectionState in ("failed", "closed"):
            stop.set()

    session = None
    try:
        await pc.setLocalDescription(await pc.createOffer())
        t0 = time.monotonic()
        status, headers, body = await loop.run_in_executor(
            None, lambda: http("POST", args.url, pc.localDescription.sdp.encode(),
                               args.token, "application/sdp"))
        if status != 201:
            say(f"WHIP POST answered {status}: {problem_text(body)}")
            return 1
        session = urllib.parse.urljoin(args.url, headers["Location"])
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body.decode(), type="answer"))
        say(f"session {session}")
        for _ in range(200):
            if pc.connectionState == "connected" or stop.is_set():
                break
            await asyncio.sleep(0.05)
        if pc.connectionState != "connected":
            say("could not connect (is the media UDP port, 8189 by default, reachable?)")
            return 1
        say(f"live after {1000 * (time.monotonic() - t0):.0f} ms; "
            + ("Ctrl-C to stop" if not args.duration else f"for {args.duration:g} s"))
        u = urllib.parse.urlsplit(args.url)
        name = u.path.rstrip("/").rsplit("/", 1)[-1]
        say(f"watch: {u.scheme}://{u.netloc}/live/{name}/index.m3u8 "
            f"(state: {u.scheme}://{u.netloc}/api/v1/streams/{name})")
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.duration or None)
        except asyncio.TimeoutError:
            pass
        return 0
    finally:
        if session:
            status, _, body = await loop.run_in_executor(
                None, lambda: http("DELETE", session, token=args.token))
            say(f"DELETE answered {status}" + ("" if status == 200 else
                                                f": {problem_text(body)}"))
        await pc.close()
        if player.video:
            player.video.stop()
        if player.audio:
            player.audio.stop()


def main():
    ap = argparse.ArgumentParser(description="Publish a test pattern and a tone over WHIP.")
    ap.add_argument("url", nargs="?", default=DEFAULT_URL,
                    help=f"WHIP endpoint (default {DEFAULT_URL})")
    ap.add_argument("--token", help="Bearer token (clipgate's --publish-token)")
    ap.add_argument("--duration", type=float, default=0,
                    help="seconds to publish (default: until Ctrl-C)")
    ap.add_argument("--size", default="640x360", help="picture size (default 640x360)")
    ap.add_argument("--fps", type=int, default=30, help="frame rate (default 30)")
    ap.add_argument("--keyframe-interval", type=float, default=2.0, metavar="S",
                    help="seconds between keyframes (default 2; try 8 to see "
                         "clipgate's warning)")
    ap.add_argument("--bframes", type=int, default=0, metavar="N",
                    help="B-frames between references (default 0; try 2 to see "
                         "clipgate's warning)")
    args = ap.parse_args()
    if is_loopback(urllib.parse.urlsplit(args.url).hostname or ""):
        add_loopback_candidate()
    set_encoder(max(1, round(args.keyframe_interval * args.fps)), args.bframes)
    quiet_ffmpeg()
    sys.exit(asyncio.run(publish(args)))


if __name__ == "__main__":
    main()
