"""Helpers for the WHIP end-to-end suites: the real publishers in
tests/e2e/peers, polling the streams API while one runs, and checking a
diagnostics dump with FFmpeg's own tools.

Every publisher takes `--duration S WHIP_URL`, publishes H.264 + Opus for S
seconds once connected, DELETEs its session and prints one JSON line on
stdout with what it sent (video_frames_sent, audio_frames_sent, location,
delete_status, ...). Publisher(...).result() returns that line as a dict.
"""
import json
import os
import shutil
import subprocess
import time
import urllib.parse

from harness import http_request
from peer_proc import PeerProc

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
NODE_MODULES = os.path.join(HERE, "..", "..", "node_modules")
PYTHON = "/usr/bin/python3"  # Debian's, which sees aiortc and PyGObject
CHROMIUM = "/usr/bin/chromium"


def _python_can_import(*modules):
    code = "; ".join(f"import {m}" for m in modules)
    res = subprocess.run([PYTHON, "-c", code], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, timeout=60)
    return res.returncode == 0, res.stderr.strip().splitlines()[-1:] or [""]


def _gst_elements_missing(names):
    code = ("import gi, sys; gi.require_version('Gst', '1.0'); "
            "from gi.repository import Gst; Gst.init(None); "
            "print(' '.join(n for n in sys.argv[1:] if Gst.ElementFactory.find(n) is None))")
    res = subprocess.run([PYTHON, "-c", code, *names], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=60)
    if res.returncode != 0:
        return "PyGObject cannot load GStreamer"
    return res.stdout.strip()


def missing(peer):
    """Why `peer` (aiortc, chromium, webrtcbin) cannot run here, or None."""
    if peer == "aiortc":
        ok, err = _python_can_import("aiortc", "av", "numpy")
        return None if ok else f"{PYTHON} cannot import aiortc/av/numpy ({err[0]}): " \
                               "apt-get install python3-aiortc python3-numpy"
    if peer == "chromium":
        if not os.access(CHROMIUM, os.X_OK):
            return f"{CHROMIUM} is missing: apt-get install chromium"
        if shutil.which("node") is None:
            return "node is missing: apt-get install nodejs"
        if not os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")):
            return "npm package playwright-core is not installed at the source root (npm ci)"
        return None
    if peer == "webrtcbin":
        ok, err = _python_can_import("gi")
        if not ok:
            return f"{PYTHON} cannot import gi ({err[0]}): apt-get install python3-gst-1.0"
        gone = _gst_elements_missing(["webrtcbin", "x264enc", "rtph264pay", "opusenc",
                                      "rtpopuspay", "videotestsrc", "audiotestsrc", "nicesink"])
        if gone:
            return (f"GStreamer elements missing: {gone} (apt-get install "
                    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice "
                    "gstreamer1.0-plugins-good gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1)")
        return None
    raise ValueError(peer)


def publisher_command(peer, url, duration, extra=()):
    """argv of a publisher that publishes for `duration` seconds to url;
    extra: more options of that publisher (e.g. --no-prefer-h264)."""
    if peer == "aiortc":
        return [PYTHON, os.path.join(PEERS, "aiortc_offer.py"), "--loopback",
                "--duration", str(duration), *extra, url]
    if peer == "chromium":
        return ["node", os.path.join(PEERS, "chromium_offer.mjs"), "--duration",
                str(duration), *extra, url]
    if peer == "webrtcbin":
        return [PYTHON, os.path.join(PEERS, "gst_offer.py"), "--duration", str(duration),
                *extra, url]
    raise ValueError(peer)


class Publisher(PeerProc):
    """One publisher process; stdout and stderr are collected in memory."""

    tail = (4000, 8000)

    def __init__(self, peer, url, duration, extra=()):
        super().__init__(peer, publisher_command(peer, url, duration, extra))


def poll_stream(cg, stream, pub, interval=0.5):
    """Snapshots of GET /api/v1/streams/{stream} taken while pub runs:
    a list of (status, body dict or None)."""
    snaps = []
    path = "/api/v1/streams/" + urllib.parse.quote(stream)
    while pub.running():
        try:
            r = http_request("GET", cg.url(path), timeout=5)
            snaps.append((r.status, r.json() if r.status == 200 else None))
        except (OSError, ValueError):
            snaps.append((None, None))
        time.sleep(interval)
    return snaps


def session_from_location(location):
    """The session id: the last segment of /whip/{stream}/{session}."""
    return urllib.parse.urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]


def ffmpeg_decode_errors(path, timeout=120):
    """Decodes every stream of path; returns (exit status, stderr text).

    -enc_time_base -1 keeps the input's time base on the null output. By
    default FFmpeg 5.1 times video output in 1/frame-rate steps, guessed
    from the file (20 fps for Chromium's fake camera), and a real camera's
    capture jitter then puts two frames into one step: the null muxer
    reports "non monotonically increasing dts" although every frame
    decoded. With the input's time base it still reports that when the
    file's own timestamps repeat or go back."""
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-enc_time_base", "-1",
                          "-f", "null", "-"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=timeout)
    return res.returncode, res.stderr


def ffprobe_streams(path, timeout=120):
    """ffprobe -count_frames: one dict per stream with codec_type,
    codec_name, width, height, nb_read_frames and nb_read_packets as ints
    where numeric."""
    res = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-count_packets",
                          "-show_entries",
                          "stream=index,codec_type,codec_name,profile,width,height,"
                          "sample_rate,channels,nb_read_frames,nb_read_packets",
                          "-of", "json", path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, check=True)
    streams = json.loads(res.stdout).get("streams", [])
    for s in streams:
        for k in ("nb_read_frames", "nb_read_packets", "width", "height", "sample_rate"):
            if k in s:
                s[k] = int(s[k])
    return streams
