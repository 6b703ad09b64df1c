"""Helpers for the WHEP end-to-end suites (test_whep_*.py): reading a
stream's state from the API, waiting for a publisher to go live, running
the aiortc viewer (peers/aiortc_whep.py) and the Chromium viewer
(peers/chromium_whep.mjs), and hand-made recvonly offers for the refusal
cases.

Viewers print one JSON line on stdout when they end; Viewer.result()
returns it as a dict.
"""
import os
import time
import urllib.parse

from harness import http_request
from peer_proc import PeerProc

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
PYTHON = "/usr/bin/python3"  # Debian's, which sees aiortc and PyGObject

FINGERPRINT = "sha-256 " + ":".join(["AB"] * 32)


def stream_json(cg, name):
    """GET /api/v1/streams/{name} as a dict, or None when not 200."""
    try:
        r = http_request("GET", cg.url("/api/v1/streams/" + urllib.parse.quote(name)), timeout=5)
    except OSError:
        return None
    return r.json() if r.status == 200 else None


def video_frames(doc):
    return ((doc or {}).get("video") or {}).get("frames", 0) or 0


def video_keyframes(doc):
    return ((doc or {}).get("video") or {}).get("keyframes", 0) or 0


def viewers(doc):
    """The stream's viewer count: the "whep" object's when there is one,
    else the top-level "viewers"."""
    doc = doc or {}
    w = doc.get("whep")
    if isinstance(w, dict) and isinstance(w.get("viewers"), int):
        return w["viewers"]
    return doc.get("viewers")


def wait_live(cg, name, pub, timeout=30.0):
    """Waits until the stream carries video; returns its JSON. Raises
    AssertionError with the publisher's output if it never does."""
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline and pub.running():
        doc = stream_json(cg, name)
        if video_frames(doc) > 0:
            return doc
        time.sleep(0.2)
    if pub.running():
        pub.kill()
    pub.wait(5)
    raise AssertionError(f"publisher never went live on {name}:\n{pub.describe()}")


def wait_for(fn, timeout, interval=0.2):
    """Calls fn until it returns something truthy, returns that; None after
    timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def offer(video=("H264/90000", "packetization-mode=1;profile-level-id=42e01f"),
          audio=("opus/48000/2", "minptime=10;useinbandfec=1"), direction="recvonly"):
    """A WebRTC offer of the shape browsers send (BUNDLE, rtcp-mux, ICE
    credentials, a sha-256 fingerprint, actpass) with one video and one
    audio m= section; video or audio None leaves that section out, and
    each is (rtpmap encoding, fmtp or None). Nobody answers its ICE
    checks: good for refusals and for sessions that only need to exist."""
    sections = []
    if video:
        sections.append(("video", 102, video))
    if audio:
        sections.append(("audio", 111, audio))
    mids = " ".join(str(i) for i in range(len(sections)))
    lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             f"a=group:BUNDLE {mids}", "a=msid-semantic: WMS"]
    for mid, (kind, pt, (enc, fmtp)) in enumerate(sections):
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 0.0.0.0",
                  "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:Wq3e",
                  "a=ice-pwd:f8Hk2LrQ0pXz7vYc1mNb4tUs", "a=ice-options:trickle",
                  f"a=fingerprint:{FINGERPRINT}", "a=setup:actpass", f"a=mid:{mid}",
                  f"a={direction}", "a=rtcp-mux", f"a=rtpmap:{pt} {enc}"]
        if fmtp:
            lines.append(f"a=fmtp:{pt} {fmtp}")
        if kind == "video":
            lines += [f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli"]
    return ("\r\n".join(lines) + "\r\n").encode()


def post_offer(cg, stream, body, ctype="application/sdp", headers=None):
    h = {"Content-Type": ctype}
    h.update(headers or {})
    return http_request("POST", cg.url("/whep/" + stream), body, h)


def session_url(cg, r):
    """The absolute session URL of a 201 answer."""
    return urllib.parse.urljoin(cg.url("/"), r.header("Location"))


def viewer_command(peer, url, duration, extra=()):
    if peer == "aiortc":
        return [PYTHON, os.path.join(PEERS, "aiortc_whep.py"), "--loopback", "--duration",
                str(duration), *extra, url]
    if peer == "chromium":
        return ["node", os.path.join(PEERS, "chromium_whep.mjs"), "--duration", str(duration),
                *extra, url]
    raise ValueError(peer)


class Viewer(PeerProc):
    """One viewer process in its own process group; stdout and stderr are
    drained into memory so a chatty peer never blocks."""

    label = " viewer"

    def __init__(self, peer, url, duration, extra=()):
        super().__init__(peer, viewer_command(peer, url, duration, extra))
