#!/usr/bin/python3
"""WHEP benchmark: what forwarding costs per packet per viewer, and how
soon a viewer sees a picture with and without the GOP cache.

    whep_forward.py [--viewers 1,5,10] [--window S] [--ttff-runs N]
                    [--output FILE] [--only cpu|ttff]

(a) Forwarding cost. One aiortc publisher (tests/e2e/hls_aiortc.py:
    640x480 30 fps H.264 + Opus) publishes to a fresh server; then, one
    after the other, N light viewers (bench/whep_viewers.py: aiortc peers
    that do ICE, DTLS and SRTP but never decode) watch for --window
    seconds. Over that window:

        forwarding CPU = server CPU (utime+stime, /proc/<pid>/stat)
                         - the server's CPU rate with the publisher and no
                           viewer, measured the same way just before
        cost per packet per viewer = forwarding CPU / RTP packets the
                         viewers received (all of them together)

    So ingest, depacketizing and HLS packaging (clipgate) or receiving
    (aiortc) are taken out, and what is left is per-viewer work:
    rewriting, SRTP, sending, RTCP. Side by side, in the same run, the same
    publisher and viewers use bench/aiortc_whep_relay.py, a WHIP + WHEP
    relay made of aiortc that forwards the publisher's encoded frames
    (MediaRelay, no decoding or encoding). aiortc is the reference here
    because it needs no signalling of its own: Janus 1.1 in Debian speaks
    neither WHIP nor WHEP, so comparing it needs its VideoRoom API driven
    by hand, which this benchmark does not do yet.

(b) Time to first frame. A GStreamer webrtcbin publisher
    (tests/e2e/peers/gst_offer.py --key-int 300 --ignore-keyframe-requests:
    a keyframe every 10 s and keyframe requests ignored, as OBS does)
    publishes to clipgate with the GOP cache on (default) and off
    (--gop-cache=false). --ttff-runs Chromium viewers
    (tests/e2e/peers/chromium_whep.mjs) join one after another at unrelated
    points of the GOP; for each: from the page seeing the connection up to
    getStats showing the first decoded frame, and clipgate's own ttff_ms
    (connected to the first keyframe's last packet sent). Medians over the
    runs.

With --only, the other half's subsection of the earlier results is kept.

Figures are printed and written as a section of --output (default
bench/results.md), replacing this benchmark's earlier section and keeping
the rest. Needs a network namespace holding only loopback (bench/run.sh
provides one). Nothing is asserted.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import (Server, clipgate_argv, cpu_model, free_port, kill_group,  # noqa: E402
                    loopback_only, sanitized, write_section)

PYTHON = "/usr/bin/python3"
E2E = os.path.join(SOURCE, "tests", "e2e")
SRTP_NAMES = {"gcm": "AEAD_AES_128_GCM", "cm": "AES128_CM_SHA1_80"}
HEADING = "# WHEP forwarding: CPU per packet per viewer, time to first frame"
SETTLE_S = 2.0
TTFF_VIEW_S = 12.0  # past the next keyframe of a 10 s GOP


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


class Target:
    """A forwarding server under test: clipgate or the aiortc relay."""

    def __init__(self, name, logdir, cg_bin, extra=()):
        self.name = name
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        if name == "clipgate":
            argv = clipgate_argv(cg_bin, port, os.path.join(logdir, "data"), extra,
                                 events=False)
        else:
            argv = [PYTHON, os.path.join(HERE, "aiortc_whep_relay.py"), "--port", str(port)]
        self.server = Server(argv, os.path.join(logdir, name.replace(" ", "_") + ".log"))
        self.server.wait_http(self.base + ("/healthz" if name == "clipgate" else "/stats"))
        self.pid = self.server.proc.pid
        # clipgate's first thread (with the events server off) is the media
        # thread, which owns every WebRTC session: forwarding happens there,
        # packaging and thumbnails do not. Its CPU time has ns resolution.
        self.media_tid = None
        if name == "clipgate":
            tids = sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
            self.media_tid = next((t for t in tids if t != self.pid), None)

    def media_s(self):
        """CPU seconds of clipgate's media thread (None for the relay)."""
        if self.media_tid is None:
            return None
        with open(f"/proc/{self.pid}/task/{self.media_tid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9

    def live(self, stream):
        if self.name == "clipgate":
            doc = get_json(f"{self.base}/api/v1/streams/{stream}")
            return doc if doc and (doc.get("video") or {}).get("frames", 0) > 0 else None
        doc = get_json(self.base + "/stats")
        return doc if doc and stream in doc.get("streams", []) else None

    def whep_sent(self, stream):
        """Packets the server says it sent to viewers (clipgate only)."""
        if self.name != "clipgate":
            return None
        doc = get_json(f"{self.base}/api/v1/streams/{stream}") or {}
        return (doc.get("whep") or {}).get("packets_sent")

    def stop(self):
        self.server.stop()


def start_process(argv, log_path):
    log = open(log_path, "wb")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=log, start_new_session=True), log


def process_s(pid):
    """CPU seconds of all live threads of pid, from schedstat (ns): the
    tick-based utime + stime of /proc/<pid>/stat is too coarse for the
    few milliseconds one viewer costs. A thread that ends between two
    readings takes its time with it; none does here while measuring."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total / 1e9


def snapshot(t):
    """(process CPU s, media thread CPU s or None, monotonic s)."""
    return process_s(t.pid), t.media_s(), time.monotonic()


def alone(t, window):
    """The server's CPU rates (process, media thread or None) with the
    publisher and no viewer, over window seconds."""
    c0, m0, w0 = snapshot(t)
    time.sleep(window)
    c1, m1, w1 = snapshot(t)
    rates = ((c1 - c0) / (w1 - w0), (m1 - m0) / (w1 - w0) if m0 is not None else None)
    print(f"whep_forward: {t.name}: publisher alone: {rates[0] * 100:.2f} % of a core",
          flush=True)
    return rates


def per_packet(cpu, base_rate, wall, pkts):
    """µs of CPU per packet received by the viewers, above the base rate."""
    if cpu is None or base_rate is None or not pkts:
        return None
    return (cpu - base_rate * wall) / pkts * 1e6


def cpu_run(name, srtp, args, logdir):
    """(a) for one target, with viewers offering the SRTP profile srtp
    (cm or gcm); returns a dict of figures."""
    t = Target(name, logdir, args.bin)
    out = {"target": name, "srtp": srtp, "rows": [], "error": None}
    label = f"{name} {srtp}"
    slug = f"{name.replace(' ', '_')}-{srtp}"
    pub = None
    try:
        duration = SETTLE_S + 2 * args.window + len(args.viewers) * (args.window + 20) + 20
        pub, pub_log = start_process([PYTHON, os.path.join(E2E, "hls_aiortc.py"), "--loopback",
                                      "--duration", str(duration), t.base + "/whip/s"],
                                     os.path.join(logdir, f"publisher-{slug}.log"))
        wait_until(lambda: t.live("s"), 30, f"the publisher to go live on {name}")
        time.sleep(SETTLE_S)
        bases = [alone(t, args.window)]
        for n in args.viewers:
            row = {"viewers": n}
            vp, vlog = start_process([PYTHON, os.path.join(HERE, "whep_viewers.py"), "--viewers",
                                      str(n), "--window", str(args.window), "--srtp", srtp,
                                      t.base + "/whep/s"],
                                     os.path.join(logdir, f"viewers-{slug}-{n}.log"))
            start = end = None
            for line in vp.stdout:
                ev = json.loads(line)
                if ev["event"] in ("start", "end"):
                    snap = (*snapshot(t), ev["packets"], t.whep_sent("s"), process_s(vp.pid))
                    if ev["event"] == "start":
                        start = snap
                    else:
                        end = snap
                        row["per_viewer"] = ev["per_viewer"]
                        row["srtp_selected"] = ev.get("srtp")
                else:
                    row["error"] = ev.get("why")
            vp.wait(timeout=120)
            vlog.close()
            if start and end:
                cpu, wall, pkts = end[0] - start[0], end[2] - start[2], end[3] - start[3]
                media = end[1] - start[1] if start[1] is not None else None
                row.update({
                    "cpu_s": cpu, "media_s": media, "wall_s": wall, "packets": pkts,
                    "pkt_rate": pkts / wall,
                    "pkt_rate_per_viewer": pkts / wall / n,
                    "server_sent": (end[4] - start[4]) if None not in (end[4], start[4]) else None,
                    "core_pct": cpu / wall * 100,
                    "viewers_cpu_pct": (end[5] - start[5]) / wall * 100,
                })
                print(f"whep_forward: {label}: {n} viewers: {pkts} packets received in "
                      f"{wall:.1f} s ({row['pkt_rate_per_viewer']:.0f}/s per viewer; server "
                      f"says {row['server_sent']} sent), server {row['core_pct']:.2f} % of a "
                      "core", flush=True)
            else:
                print(f"whep_forward: {label}: {n} viewers failed: {row.get('error')}",
                      flush=True)
            out["rows"].append(row)
            time.sleep(1.0)
        # The publisher alone again: its rate may drift over the run (the
        # encoder's bitrate), so the baseline is the mean of before and after.
        bases.append(alone(t, args.window))
        out["base_rates"] = [b[0] for b in bases]
        out["base_rate"] = statistics.mean(b[0] for b in bases)
        out["base_media_rate"] = (statistics.mean(b[1] for b in bases)
                                  if bases[0][1] is not None else None)
        for r in out["rows"]:
            if "packets" not in r:
                continue
            r["us_per_pkt"] = per_packet(r["cpu_s"], out["base_rate"], r["wall_s"], r["packets"])
            r["us_per_pkt_media"] = per_packet(r["media_s"], out["base_media_rate"], r["wall_s"],
                                               r["packets"])
            print(f"whep_forward: {label}: {r['viewers']} viewers: forwarding "
                  f"{fmt(r['us_per_pkt'])} µs per packet per viewer (media thread "
                  f"{fmt(r['us_per_pkt_media'])} µs)", flush=True)
        out["marginal"] = marginal(out["rows"], "cpu_s")
        out["marginal_media"] = marginal(out["rows"], "media_s")
    except (RuntimeError, OSError, ValueError) as e:
        out["error"] = str(e)
        print(f"whep_forward: {label}: {e}", flush=True)
    finally:
        if pub is not None:
            kill_group(pub)
            pub_log.close()
        t.stop()
    return out


def marginal(rows, key):
    """µs per extra packet forwarded between the fewest and the most
    viewers measured: the slope of CPU rate over packet rate, which needs
    no baseline."""
    ok = [r for r in rows if r.get(key) is not None and r.get("packets")]
    if len(ok) < 2:
        return None
    lo, hi = ok[0], ok[-1]
    dp = hi["pkt_rate"] - lo["pkt_rate"]
    if dp <= 0:
        return None
    return (hi[key] / hi["wall_s"] - lo[key] / lo["wall_s"]) / dp * 1e6


def ttff_run(gop_cache, args, logdir):
    """(b) for one setting of the GOP cache; returns a dict of figures."""
    mode = "on" if gop_cache else "off"
    tdir = os.path.join(logdir, f"ttff-{mode}")
    os.makedirs(tdir, exist_ok=True)
    t = Target("clipgate", tdir, args.bin, () if gop_cache else ("--gop-cache=false",))
    out = {"gop_cache": mode, "viewer_ms": [], "clipgate_ms": [], "failed": 0}
    pub = None
    try:
        duration = args.ttff_runs * (TTFF_VIEW_S + 6) + 15
        pub, pub_log = start_process(
            [PYTHON, os.path.join(E2E, "peers", "gst_offer.py"), "--duration", str(duration),
             "--key-int", "300", "--ignore-keyframe-requests", t.base + "/whip/s"],
            os.path.join(logdir, f"publisher-ttff-{mode}.log"))
        wait_until(lambda: t.live("s"), 30, "the webrtcbin publisher to go live")
        rng = random.Random(6)
        for i in range(args.ttff_runs):
            time.sleep(rng.uniform(0.5, 4.0))
            res = subprocess.run(["node", os.path.join(E2E, "peers", "chromium_whep.mjs"),
                                  "--duration", str(TTFF_VIEW_S), t.base + "/whep/s"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 timeout=TTFF_VIEW_S + 60)
            line = next((ln for ln in reversed(res.stdout.splitlines()) if ln.startswith("{")),
                        None)
            ms = json.loads(line).get("first_frame_ms") if line else None
            first = ms / 1000 if ms is not None else None
            doc = get_json(f"{t.base}/api/v1/streams/s") or {}
            cg_ms = ((doc.get("whep") or {}).get("ttff_ms") or {}).get("last")
            if first is None:
                out["failed"] += 1
            else:
                out["viewer_ms"].append(first * 1000)
            if cg_ms is not None:
                out["clipgate_ms"].append(cg_ms)
            print(f"whep_forward: GOP cache {mode}: run {i + 1}: first picture "
                  f"{'%.0f ms' % (first * 1000) if first is not None else 'none'} after "
                  f"connected (clipgate ttff_ms {cg_ms})", flush=True)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
        out["error"] = str(e)
        print(f"whep_forward: GOP cache {mode}: {e}", flush=True)
    finally:
        if pub is not None:
            kill_group(pub)
            pub_log.close()
        t.stop()
    return out


def fmt(v, spec=".2f"):
    return "–" if v is None else format(v, spec)


CPU_HEADING = "## Forwarding cost per packet per viewer"
TTFF_HEADING = "## Time to first frame with and without the GOP cache"


def old_subsection(path, heading):
    """The text of a subsection of this benchmark's section in path, to
    keep it when only the other half ran; None if there is none."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return None
    start = old.find(HEADING)
    sub = old.find(heading, start) if start >= 0 else -1
    if sub < 0:
        return None
    m = re.search(r"^#{1,2} ", old[sub + len(heading):], re.M)
    end = sub + len(heading) + m.start() if m else len(old)
    text = old[sub:end].rstrip("\n")
    return re.sub(r"\n+Timings are from a shared machine[^\n]*$", "", text)


def section(cpu, ttff, args, started):
    measured = (
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run.sh whep` (`bench/whep_forward.py "
        "{options}`) on " f"{cpu_model()} ({platform.machine()}, {os.cpu_count()} cores), "
        "in a network namespace holding only loopback; clipgate built "
        f"{'with' if sanitized(args.bin) else 'without'} sanitizers, default settings.")
    lines = [HEADING, ""]
    if not cpu:
        kept = old_subsection(args.output, CPU_HEADING)
        if kept:
            lines += [kept, ""]
    if cpu:
        lines += [
            CPU_HEADING, "",
            measured.format(options=f"--window {args.window:g} --viewers "
                            f"{','.join(map(str, args.viewers))} --srtp {','.join(args.srtp)}"),
            "",
            "One aiortc publisher (640x480 30 fps H.264 + Opus, `tests/e2e/hls_aiortc.py`); N "
            "light aiortc viewers (`bench/whep_viewers.py`: ICE, DTLS, SRTP, RTCP, no decoding) "
            f"watch for {args.window:g} s each. The reference server is "
            "`bench/aiortc_whep_relay.py`: aiortc forwarding the publisher's encoded frames to "
            "every viewer through MediaRelay (no decoding or encoding, but it depacketizes and "
            "repacketizes); same publisher, same viewers, same run. Janus 1.1 (Debian) speaks "
            "neither WHIP nor WHEP, and driving its VideoRoom API is left for later.", "",
            "The viewers offer one SRTP profile per run: AEAD_AES_128_GCM, which browsers "
            "prefer and clipgate picks (the aiortc viewers and relay are taught it by "
            "`bench/aiortc_srtp.py`), or aiortc's own AES128_CM_SHA1_80. Debian's libsrtp2 is "
            "built on NSS, where AES-CM with HMAC-SHA1 costs several times what GCM does.", "",
            "- *µs/packet/viewer* = (server CPU over the window − its CPU rate with the "
            "publisher alone × the window) / RTP packets received by all viewers together; the "
            "rate with the publisher alone is the mean of one window before the viewers and one "
            "after: "
            "ingest, packaging and thumbnails are taken out, per-viewer work (rewriting, SRTP, "
            "sending, RTCP, replay) is left. *process*: all threads' run time from "
            "`/proc/<pid>/task/*/schedstat` (ns), blurred by clipgate's packager and thumbnail "
            "bursts; *media thread*: clipgate's thread that owns every WebRTC session (its "
            "first thread with the events server off) alone. On loopback the kernel delivers "
            "each datagram to the viewer's socket in the sender's context, so every figure "
            "includes that delivery as well as the send.",
            "- *marginal*: slope of CPU rate over packet rate between the fewest and the most "
            "viewers, which needs no baseline. One viewer's forwarding costs about as much CPU "
            "as the publisher-only rate drifts between its two windows (compare *before* and "
            "*after*), so the 1-viewer rows are mostly that drift; the marginal row is the "
            "figure to quote.", "",
            "| server | SRTP | viewers | packets/s per viewer | server % of a core | "
            "µs/packet/viewer (process) | µs/packet/viewer (media thread) | viewers' own % of a "
            "core |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in cpu:
            head = f"| {run['target']} | {SRTP_NAMES[run['srtp']]} |"
            base = run.get("base_rate")
            if base is not None:
                before, after = run["base_rates"]
                lines.append(f"{head} 0 (publisher only; before, after) | – | "
                             f"{before * 100:.2f}, {after * 100:.2f} | – | – | – |")
            for r in run["rows"]:
                if "us_per_pkt" not in r:
                    lines.append(f"{head} {r['viewers']} | failed: {r.get('error')} | | | | |")
                    continue
                lines.append(f"{head} {r['viewers']} | {r['pkt_rate_per_viewer']:.0f} | "
                             f"{r['core_pct']:.2f} | {fmt(r['us_per_pkt'])} | "
                             f"{fmt(r['us_per_pkt_media'])} | {r['viewers_cpu_pct']:.0f} |")
            if run.get("marginal") is not None:
                lines.append(f"{head} marginal | | | {fmt(run['marginal'])} | "
                             f"{fmt(run.get('marginal_media'))} | |")
            if run.get("error"):
                lines.append(f"{head} error: {run['error']} | | | | | |")
        lines.append("")
    if ttff:
        lines += [
            TTFF_HEADING, "",
            measured.format(options=f"--ttff-runs {args.ttff_runs}"), "",
            "GStreamer webrtcbin publisher with a keyframe every 10 s (x264enc "
            "key-int-max=300, 30 fps) that ignores keyframe requests like OBS "
            "(`gst_offer.py --ignore-keyframe-requests`). Chromium viewers "
            "(`tests/e2e/peers/chromium_whep.mjs`) join one after another at unrelated points "
            "of the GOP. *viewer*: from the page seeing the peer connection connected to "
            "getStats first showing a decoded frame (polled every 20 ms); *clipgate*: its "
            "`ttff_ms` (connected → last packet of the first keyframe sent).", "",
            "| GOP cache | runs | viewer median (ms) | min | max | clipgate ttff_ms median | "
            "min | max |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in ttff:
            v, c = run["viewer_ms"], run["clipgate_ms"]
            lines.append(
                f"| {run['gop_cache']} | {len(v)}/{len(v) + run['failed']} | "
                f"{fmt(statistics.median(v) if v else None, '.0f')} | "
                f"{fmt(min(v) if v else None, '.0f')} | {fmt(max(v) if v else None, '.0f')} | "
                f"{fmt(statistics.median(c) if c else None, '.0f')} | "
                f"{fmt(min(c) if c else None, '.0f')} | {fmt(max(c) if c else None, '.0f')} |")
            if run.get("error"):
                lines.append(f"| {run['gop_cache']} | error: {run['error']} | | | | | | |")
        lines.append("")
    if not ttff:
        kept = old_subsection(args.output, TTFF_HEADING)
        if kept:
            lines += [kept, ""]
    lines += ["Timings are from a shared machine and vary from run to run; compare rows of the "
              "same run, not runs of different days.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", default="1,5,10")
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--srtp", default="gcm,cm",
                    help="SRTP profiles the viewers offer, one run each: gcm (as browsers), cm")
    ap.add_argument("--ttff-runs", type=int, default=5)
    ap.add_argument("--only", choices=("cpu", "ttff"))
    ap.add_argument("--output", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--bin", default=os.environ.get("CG_BIN") or
                    os.path.join(SOURCE, "build", "release", "clipgate"))
    args = ap.parse_args()
    args.viewers = [int(n) for n in args.viewers.split(",") if n]
    args.srtp = [p for p in args.srtp.split(",") if p]
    if not loopback_only():
        raise SystemExit("run inside a network namespace holding only lo (bench/run.sh whep)")
    started = datetime.datetime.now(datetime.timezone.utc)
    logdir = tempfile.mkdtemp(prefix="cg-whep-bench-")
    print(f"whep_forward: logs in {logdir}", flush=True)
    cpu = [] if args.only == "ttff" else [cpu_run(n, srtp, args, logdir) for srtp in args.srtp
                                         for n in ("clipgate", "aiortc relay")]
    ttff = [] if args.only == "cpu" else [ttff_run(on, args, logdir) for on in (True, False)]
    text = section(cpu, ttff, args, started)
    print(text)
    write_section(args.output, text, HEADING)


if __name__ == "__main__":
    main()
