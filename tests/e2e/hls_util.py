"""Helpers for the HLS end-to-end suites (test_hls*.py): real publishers,
playlist parsing, the recordings API, FFmpeg's tools on what clipgate
serves, and hls.js in Chromium (hls_play.mjs).

Publishers are the scripts in tests/e2e/peers: each takes
`--duration S WHIP_URL`, publishes H.264 + Opus for S seconds once
connected, DELETEs its session and prints one JSON line with what it sent.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse

from harness import SOURCE_DIR, http_request
from harness import metric, metrics  # noqa: F401 (hls_util.metric(s) in the suites)
from peer_proc import PeerProc

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
NODE_MODULES = os.path.join(SOURCE_DIR, "node_modules")
HLSJS = os.path.join(NODE_MODULES, "hls.js", "dist", "hls.min.js")
PYTHON = "/usr/bin/python3"  # Debian's, which sees aiortc and PyGObject
CHROMIUM = os.environ.get("CG_CHROMIUM", "/usr/bin/chromium")
PLAYLIST_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl")


# ---------------------------------------------------------------- peers

def _run_python(code, *args):
    return subprocess.run([PYTHON, "-c", code, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def missing(peer):
    """Why `peer` (aiortc, webrtcbin, chromium, ffmpeg) cannot run here, or
    None."""
    if peer == "aiortc":
        res = _run_python("import aiortc, av, numpy")
        if res.returncode:
            return (f"{PYTHON} cannot import aiortc/av/numpy: apt-get install "
                    "python3-aiortc python3-numpy")
        return None
    if peer == "webrtcbin":
        code = ("import gi, sys; gi.require_version('Gst', '1.0'); "
                "from gi.repository import Gst; Gst.init(None); "
                "print(' '.join(n for n in sys.argv[1:] if Gst.ElementFactory.find(n) is None))")
        res = _run_python(code, "webrtcbin", "x264enc", "rtph264pay", "opusenc", "rtpopuspay",
                          "videotestsrc", "audiotestsrc", "nicesink")
        if res.returncode or res.stdout.strip():
            return ("GStreamer webrtcbin publisher cannot run (missing: "
                    f"{res.stdout.strip() or 'PyGObject'}); apt-get install gstreamer1.0-plugins-bad "
                    "gstreamer1.0-plugins-ugly gstreamer1.0-nice python3-gst-1.0 "
                    "gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1")
        return None
    if peer == "chromium":
        if not os.access(CHROMIUM, os.X_OK):
            return f"{CHROMIUM} is missing: apt-get install chromium"
        if shutil.which("node") is None:
            return "node is missing: apt-get install nodejs"
        for pkg in ("playwright-core", "hls.js"):
            if not os.path.isdir(os.path.join(NODE_MODULES, pkg)):
                return f"npm package {pkg} is not installed at the source root (npm ci)"
        return None
    if peer == "ffmpeg":
        if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
            return "ffmpeg/ffprobe are missing: apt-get install ffmpeg"
        return None
    raise ValueError(peer)


def publisher_command(peer, url, duration):
    if peer == "aiortc":
        # aiortc_offer.py with its H.264 encoder honouring PLI (see there).
        return [PYTHON, os.path.join(HERE, "hls_aiortc.py"), "--loopback",
                "--duration", str(duration), url]
    if peer == "webrtcbin":
        return [PYTHON, os.path.join(PEERS, "gst_offer.py"), "--duration", str(duration), url]
    raise ValueError(peer)


class Publisher(PeerProc):
    """One publisher process, started now; stdout and stderr are collected
    in memory. launched_at is the wall clock (time.time()) of the start."""

    def __init__(self, peer, url, duration):
        argv = publisher_command(peer, url, duration)
        self.launched_at = time.time()
        super().__init__(peer, argv)


class StreamWatch:
    """Polls GET /api/v1/streams/{stream} every `interval` seconds on a
    thread and keeps (wall clock, status, body) snapshots, so a test knows
    when the first keyframe showed up as seen from outside."""

    def __init__(self, cg, stream, interval=0.1):
        self.cg = cg
        self.path = "/api/v1/streams/" + urllib.parse.quote(stream)
        self.interval = interval
        self.snaps = []  # (wall clock when the request was sent, status, body)
        self.ends = []   # wall clock when each answer was in
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.time()
            try:
                r = http_request("GET", self.cg.url(self.path), timeout=5)
                doc = r.json() if r.status == 200 else None
                self.snaps.append((t, r.status, doc))
                self.ends.append(time.time())
            except (OSError, ValueError):
                self.snaps.append((t, None, None))
                self.ends.append(time.time())
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    @staticmethod
    def keyframes(doc):
        return ((doc or {}).get("video") or {}).get("keyframes", 0) or 0

    @staticmethod
    def frames(doc, kind="video"):
        return ((doc or {}).get(kind) or {}).get("frames", 0) or 0

    def first_keyframe_window(self):
        """When the first keyframe reached clipgate, as seen from outside:
        (when the last request answered without a keyframe was sent, when
        the first answer with one was in), or None if none was seen. An
        answer reflects the state at some moment between its request and
        its arrival, so the keyframe arrived inside this window."""
        before = None
        for (t, status, doc), end in zip(self.snaps, self.ends):
            if status == 200 and self.keyframes(doc) > 0:
                return (before if before is not None else t, end)
            before = t
        return None

    def live_docs(self):
        return [doc for _, status, doc in self.snaps if status == 200 and doc]


# ------------------------------------------------------------ HTTP helpers

def get(cg, path, timeout=15.0):
    return http_request("GET", cg.url(path), timeout=timeout)


def get_json(cg, path):
    r = get(cg, path)
    if r.status != 200:
        raise AssertionError(f"GET {path}: {r.status} {r.text()[:500]}")
    return r.json()


def wait_for(fn, timeout, interval=0.25, what="condition"):
    """Calls fn until it returns something truthy; returns that. Raises
    AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except (OSError, ValueError, KeyError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


# --------------------------------------------------------- recordings API

def timeline(doc):
    """The segments of GET /api/v1/recordings/{id} as dicts: seq, start,
    duration (seconds since the broadcast started, as the API gives them,
    to the millisecond), wall (its wall_clock in epoch seconds), keys
    (keyframe times, seconds), bytes, disc, period."""
    return [{
        "seq": int(s["seq"]),
        "start": float(s["start"]),
        "duration": float(s["duration"]),
        "wall": parse_pdt(s["wall_clock"]),
        "keys": [float(k) for k in s["keyframes"]],
        "bytes": s["bytes"],
        "disc": bool(s["discontinuity"]),
        "period": s["period"],
    } for s in doc["segments"]]


def recording(cg, bid):
    return get_json(cg, "/api/v1/recordings/" + urllib.parse.quote(bid))


def recordings(cg):
    """The list of GET /api/v1/recordings (summaries, newest first)."""
    return get_json(cg, "/api/v1/recordings")["recordings"]


def recording_state(doc):
    return doc.get("state")


def broadcast_of_stream(doc):
    """The id of the current broadcast in GET /api/v1/streams/{stream}
    (its "broadcast" object), or None."""
    b = (doc or {}).get("broadcast")
    return b.get("id") if isinstance(b, dict) else None


def wait_ended(cg, bid, timeout=40):
    return wait_for(lambda: (lambda d: d if recording_state(d) == "ended" else None)(
        recording(cg, bid)), timeout, what=f"broadcast {bid} to end")


# ------------------------------------------------------------- playlists

def parse_pdt(s):
    """EXT-X-PROGRAM-DATE-TIME (ISO 8601) in seconds since the epoch."""
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


class Playlist:
    """A parsed media playlist: tags (name -> list of values, in order),
    segments (dicts: uri, duration, pdt, disc, map), endlist."""

    def __init__(self, text):
        self.text = text
        self.lines = text.splitlines()
        self.tags = {}
        self.segments = []
        self.endlist = False
        self.maps = []
        cur = {}
        current_map = None
        if not self.lines or self.lines[0] != "#EXTM3U":
            raise ValueError(f"not a playlist: {text[:200]!r}")
        for line in self.lines[1:]:
            if not line.strip():
                continue
            if line.startswith("#EXT"):
                name, _, value = line.partition(":")
                self.tags.setdefault(name, []).append(value)
                if name == "#EXT-X-MAP":
                    m = re.search(r'URI="([^"]*)"', value)
                    current_map = m.group(1) if m else None
                    self.maps.append(current_map)
                elif name == "#EXTINF":
                    cur["duration"] = float(value.split(",")[0])
                elif name == "#EXT-X-PROGRAM-DATE-TIME":
                    cur["pdt"] = parse_pdt(value)
                elif name == "#EXT-X-DISCONTINUITY":
                    cur["disc"] = True
                elif name == "#EXT-X-ENDLIST":
                    self.endlist = True
            elif line.startswith("#"):
                continue
            else:
                cur["uri"] = line.strip()
                cur["map"] = current_map
                cur.setdefault("disc", False)
                cur.setdefault("pdt", None)
                cur.setdefault("duration", None)
                self.segments.append(cur)
                cur = {}

    def tag(self, name, default=None):
        v = self.tags.get(name)
        return v[0] if v else default

    def seqs(self):
        """Sequence numbers from the segment names (seg-<n>.m4s)."""
        out = []
        for s in self.segments:
            m = re.search(r"seg-(\d+)\.m4s$", s["uri"])
            out.append(int(m.group(1)) if m else None)
        return out


def fetch_playlist(cg, path):
    """(Response, Playlist or None)."""
    r = get(cg, path)
    pl = Playlist(r.text()) if r.status == 200 else None
    return r, pl


def download(url, dest, timeout=30):
    r = http_request("GET", url, timeout=timeout)
    if r.status != 200:
        raise AssertionError(f"GET {url}: {r.status} {r.text()[:300]}")
    with open(dest, "wb") as f:
        f.write(r.body)
    return r


def fetch_segment_files(playlist_url, pl, directory):
    """Downloads every init and media segment of pl (URIs resolved against
    the playlist's URL, as a player does). Gives one local file per media
    segment holding its init segment followed by the segment itself, ready
    for ffprobe, in playlist order."""
    inits = {}
    files = []
    for i, seg in enumerate(pl.segments):
        if seg["map"] not in inits:
            p = os.path.join(directory, f"init-{len(inits)}.mp4")
            download(urllib.parse.urljoin(playlist_url, seg["map"]), p)
            with open(p, "rb") as f:
                inits[seg["map"]] = f.read()
        r = http_request("GET", urllib.parse.urljoin(playlist_url, seg["uri"]), timeout=30)
        if r.status != 200:
            raise AssertionError(f"GET {seg['uri']} from {playlist_url}: {r.status}")
        p = os.path.join(directory, f"part-{i:04d}.mp4")
        with open(p, "wb") as f:
            f.write(inits[seg["map"]])
            f.write(r.body)
        files.append(p)
    return files


def top_boxes(data):
    """Names of the top-level ISO BMFF boxes in data."""
    names, off = [], 0
    while off + 8 <= len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        name = data[off + 4:off + 8].decode("latin-1")
        if size == 1 and off + 16 <= len(data):
            size = int.from_bytes(data[off + 8:off + 16], "big")
        if size < 8:
            break
        names.append(name)
        off += size
    return names


# ------------------------------------------------------------- FFmpeg

def ffmpeg_decode_errors(src, timeout=120):
    """Decodes every stream of src (file or URL); returns (status, stderr)."""
    res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", src, "-map", "0",
                          "-f", "null", "-"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=timeout)
    return res.returncode, res.stderr


def ffprobe(src, *args, timeout=60):
    res = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, src],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout)
    if res.returncode:
        raise AssertionError(f"ffprobe {' '.join(args)} {src}: {res.stderr[-2000:]}")
    return json.loads(res.stdout)


def streams(src):
    """ffprobe -show_streams: one dict per stream (codec_type, codec_name,
    start_time as float where present)."""
    out = ffprobe(src, "-show_streams").get("streams", [])
    for s in out:
        if "start_time" in s:
            s["start_time"] = float(s["start_time"])
    return out


def start_times(src):
    """{codec_type: start_time} of src."""
    return {s["codec_type"]: s.get("start_time") for s in streams(src)}


def first_video_frame(path):
    """key_frame and pict_type of the first decoded video frame."""
    doc = ffprobe(path, "-select_streams", "v:0", "-read_intervals", "%+#1",
                  "-show_entries", "frame=key_frame,pict_type")
    frames = doc.get("frames", [])
    return frames[0] if frames else None


def video_packets(path):
    """(pts seconds, duration seconds, keyframe) of every video packet."""
    doc = ffprobe(path, "-select_streams", "v:0", "-show_entries",
                  "packet=pts_time,duration_time,flags")
    out = []
    for p in doc.get("packets", []):
        out.append((float(p["pts_time"]), float(p.get("duration_time") or 0),
                    "K" in p.get("flags", "")))
    return out


# ------------------------------------------------------------ Chromium

def play_in_chromium(url, seconds, preview=None, timeout=120):
    """Runs hls_play.mjs; returns (its JSON dict or None, CompletedProcess)."""
    argv = ["node", os.path.join(HERE, "hls_play.mjs"), "--url", url, "--seconds", str(seconds),
            "--hlsjs", HLSJS]
    if preview:
        argv += ["--preview", preview]
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=timeout, cwd=HERE)
    doc = None
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("{"):
            try:
                doc = json.loads(line)
                break
            except ValueError:
                pass
    return doc, res
