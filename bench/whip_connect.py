#!/usr/bin/python3
"""WHIP startup benchmark: how long a publisher waits before it is live.

    whip_connect.py [--runs N] [--peers aiortc,chromium,webrtcbin]
                    [--publish-s S] [--output FILE] [--bin CLIPGATE]

For each real publisher (tests/e2e/peers: aiortc, Chromium, GStreamer
webrtcbin) and each of N runs, one clipgate is published to on a fresh
stream name and the streams API is polled for the two figures clipgate
records per session:

  connect_ms         WHIP POST (session created while the request is
                     answered) -> ICE + DTLS connected
  first_keyframe_ms  WHIP POST -> first complete keyframe delivered by the
                     depacketizer (what a viewer needs to start)

Side by side, in the same run, the aiortc publisher also connects to an
aiortc answerer (bench/aiortc_whip_server.py) on the same loopback: the
same two figures, measured from the moment that server received the POST,
with "keyframe" meaning the first frame aiortc decoded.

Runs alternate between targets so a busy machine slows all of them alike.
Figures are printed as they come and written as a Markdown table (median,
min, max per publisher and receiver, the machine's core count and the date)
to --output (default bench/results.md).

Needs a network namespace holding only loopback, like the end-to-end
suites: bench/run.sh provides one. Nothing is asserted; a publisher that is
not installed is listed as skipped with the reason.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import (Server, clipgate_argv, cpu_model, free_port, kill_group,
                    require_netns_and_bin, sanitized)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
PEERS = os.path.join(SOURCE, "tests", "e2e", "peers")
PYTHON = "/usr/bin/python3"  # Debian's: aiortc and PyGObject live there
CHROMIUM = "/usr/bin/chromium"
PUBLISHER_TIMEOUT_S = 60


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def python_imports(*mods):
    return subprocess.run([PYTHON, "-c", "; ".join("import " + m for m in mods)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def missing(peer):
    """Why a publisher cannot run here, or None."""
    if peer == "aiortc":
        return None if python_imports("aiortc", "av") else "python3-aiortc is not installed"
    if peer == "chromium":
        if not os.access(CHROMIUM, os.X_OK):
            return "chromium is not installed"
        if shutil.which("node") is None:
            return "node is not installed"
        if not os.path.isdir(os.path.join(SOURCE, "node_modules", "playwright-core")):
            return "npm package playwright-core is missing (npm ci)"
        return None
    if peer == "webrtcbin":
        if not python_imports("gi"):
            return "python3-gst-1.0 is not installed"
        res = subprocess.run([PYTHON, "-c", "import gi; gi.require_version('Gst', '1.0'); "
                              "from gi.repository import Gst; Gst.init(None); "
                              "import sys; sys.exit(Gst.ElementFactory.find('webrtcbin') is None)"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return None if res.returncode == 0 else "GStreamer webrtcbin is not installed"
    raise ValueError(peer)


def publisher_argv(peer, url, seconds):
    if peer == "aiortc":
        return [PYTHON, os.path.join(PEERS, "aiortc_offer.py"), "--loopback",
                "--duration", str(seconds), url]
    if peer == "chromium":
        return ["node", os.path.join(PEERS, "chromium_offer.mjs"), "--duration", str(seconds), url]
    if peer == "webrtcbin":
        return [PYTHON, os.path.join(PEERS, "gst_offer.py"), "--duration", str(seconds), url]
    raise ValueError(peer)


def run_once(peer, whip_url, poll, seconds, logdir):
    """Publishes once; returns (connect_ms, first_keyframe_ms) read through
    poll() while the publisher runs, or an error string."""
    log_path = os.path.join(logdir, f"pub-{peer}-{time.monotonic_ns()}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(publisher_argv(peer, whip_url, seconds), cwd=PEERS,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        got = None
        deadline = time.monotonic() + PUBLISHER_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if got is None:
                got = poll()
            time.sleep(0.1)
        kill_group(proc)
    if got is None:
        with open(log_path, "rb") as f:
            tail = f.read()[-600:].decode("utf-8", "replace")
        return f"no figures (publisher exited {proc.returncode}): {tail}"
    return got


def clipgate_poller(base, stream):
    def poll():
        try:
            doc = get_json(f"{base}/api/v1/streams/{stream}")
        except (OSError, ValueError):
            return None
        if "connect_ms" in doc and "first_keyframe_ms" in doc:
            return doc["connect_ms"], doc["first_keyframe_ms"]
        return None
    return poll


def aiortc_poller(base, stream):
    def poll():
        try:
            for s in get_json(f"{base}/stats"):
                if s["stream"] == stream and s["connect_ms"] is not None \
                        and s["first_keyframe_ms"] is not None:
                    return s["connect_ms"], s["first_keyframe_ms"]
        except (OSError, ValueError, KeyError):
            pass
        return None
    return poll


def summary(values):
    if not values:
        return "–", "–", "–"
    return (f"{statistics.median(values):.1f}", f"{min(values):.1f}", f"{max(values):.1f}")


def write_results(path, rows, skipped, args, started):
    cores = os.cpu_count()
    lines = [
        "# WHIP startup: time from POST to connected and to the first keyframe",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run.sh` (`bench/whip_connect.py "
        f"--runs {args.runs}`) on {cpu_model()} ({platform.machine()}, {cores} cores), "
        "in a network namespace holding only loopback; clipgate built "
        + ("with ASan (slower)." if sanitized(args.bin) else "without sanitizers."),
        "",
        "- **connect**: WHIP POST received → ICE and DTLS connected.",
        "- **first keyframe**: WHIP POST received → first complete keyframe out of the "
        "depacketizer (clipgate) or first frame decoded (aiortc answerer).",
        "- clipgate's figures are its own `connect_ms` and `first_keyframe_ms` "
        "(`GET /api/v1/streams/{stream}`), counted from the session's creation while the "
        "POST is answered; the aiortc answerer (`bench/aiortc_whip_server.py`) counts from "
        "the moment it has read the POST.",
        "- Each publisher sends H.264 + Opus and starts sending once DTLS is up, so both "
        "figures include its own work after the answer (applying it, ICE checks, first encode).",
        "",
        "| publisher | receiver | runs | connect median (ms) | min | max "
        "| first keyframe median (ms) | min | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (peer, target), res in rows.items():
        ok = [r for r in res if isinstance(r, tuple)]
        c = summary([r[0] for r in ok])
        k = summary([r[1] for r in ok])
        lines.append(f"| {peer} | {target} | {len(ok)}/{len(res)} | {c[0]} | {c[1]} | {c[2]} "
                     f"| {k[0]} | {k[1]} | {k[2]} |")
    failures = [(key, r) for key, res in rows.items() for r in res if not isinstance(r, tuple)]
    if skipped or failures:
        lines.append("")
    for peer, why in skipped:
        lines.append(f"- {peer}: skipped ({why}).")
    for (peer, target), r in failures:
        lines.append(f"- {peer} → {target}: a run failed: {r.splitlines()[0][:200]}")
    lines += ["", "Timings are from a shared machine and vary from run to run; compare rows "
              "of the same run, not runs of different days.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--peers", default="aiortc,chromium,webrtcbin")
    ap.add_argument("--publish-s", type=float, default=2.0,
                    help="seconds each publisher sends once connected")
    ap.add_argument("--output", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--bin", default=os.environ.get("CG_BIN")
                    or os.path.join(SOURCE, "build", "clipgate"))
    args = ap.parse_args()
    require_netns_and_bin("whip_connect.py", args.bin)
    started = datetime.datetime.now(datetime.timezone.utc)
    logdir = tempfile.mkdtemp(prefix="cg-bench-")
    peers, skipped = [], []
    for p in args.peers.split(","):
        why = missing(p)
        (skipped.append((p, why)) if why else peers.append(p))
        if why:
            print(f"skip {p}: {why}", flush=True)

    http_port = free_port()
    cg = Server(clipgate_argv(args.bin, http_port, os.path.join(logdir, "data")),
                os.path.join(logdir, "clipgate.log"))
    cg_base = f"http://127.0.0.1:{http_port}"
    ref_port = free_port()
    ref = Server([PYTHON, os.path.join(HERE, "aiortc_whip_server.py"), "--port", str(ref_port)],
                 os.path.join(logdir, "aiortc_whip_server.log")) if "aiortc" in peers else None
    ref_base = f"http://127.0.0.1:{ref_port}"
    rows = {}
    try:
        cg.wait_http(cg_base + "/healthz")
        if ref:
            ref.wait_http(ref_base + "/stats")
        targets = [(p, "clipgate") for p in peers] + ([("aiortc", "aiortc")] if ref else [])
        for key in targets:
            rows[key] = []
        for i in range(args.runs):
            for peer, target in targets:
                stream = f"{peer}-{target}-{i}"
                if target == "clipgate":
                    url, poll = f"{cg_base}/whip/{stream}", clipgate_poller(cg_base, stream)
                else:
                    url, poll = f"{ref_base}/whip/{stream}", aiortc_poller(ref_base, stream)
                r = run_once(peer, url, poll, args.publish_s, logdir)
                rows[(peer, target)].append(r)
                shown = (f"connect {r[0]:.1f} ms, first keyframe {r[1]:.1f} ms"
                         if isinstance(r, tuple) else r.splitlines()[0][:200])
                print(f"run {i + 1}/{args.runs} {peer} -> {target}: {shown}", flush=True)
    finally:
        cg.stop()
        if ref:
            ref.stop()
    write_results(args.output, rows, skipped, args, started)
    print(f"results written to {args.output}")
    shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
