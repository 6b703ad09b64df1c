#!/usr/bin/python3
"""HLS packaging benchmark: how soon a finished segment is listed, and what
ingest + packaging of one 2.5 Mbit/s stream costs in CPU.

    hls_latency.py [--seconds S] [--kbps N] [--output FILE] [--bin CLIPGATE]

A GStreamer webrtcbin publisher (bench/gst_publish.py: x264enc at --kbps,
zerolatency, a keyframe every 2 s, Opus audio) publishes for --seconds to a
fresh clipgate, twice:

  cpu run      nothing else talks to clipgate; its utime+stime
               (/proc/<pid>/stat) from the publisher's start to 1 s after it
               exits, minus the idle rate measured just before.
  latency run  the live playlist is polled every 10 ms over one kept-alive
               HTTP connection; for each new segment,
                   delay = first time it is listed - (PDT + duration),
               i.e. from the wall-clock end of its media to being listed.
               clipgate also writes its diagnostics dump (--dump-dir).
               clipgate's CPU is reported for this run too (it serves
               ~100 playlist requests a second here).

Side by side, the ffmpeg CLI packages the latency run's dump (the same
broadcast's H.264 and Opus, as clipgate received them) in real time:
    ffmpeg -re -i dump.mkv -c:v copy -c:a aac -b:a 128k -f hls -hls_time 2
           -hls_segment_type fmp4 out.m3u8
and its CPU (rusage of the process) is reported the same way. The
publisher's CPU is reported apart; it is not in clipgate's figures.

Figures are printed and written as a section of --output (default
bench/results.md), replacing an earlier section of this benchmark and keeping
the rest of the file. Needs a network namespace holding only loopback
(bench/run.sh provides one). Nothing is asserted.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import common
from common import (clipgate_argv, cpu_model, free_port, require_netns_and_bin,
                    sanitized, write_section)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"
TICK = os.sysconf("SC_CLK_TCK")
HEADING = "# HLS packaging: segment listing delay and CPU per stream"
POLL_S = 0.010
IDLE_S = 3.0


def cpu_s(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def parse_pdt(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


def segments(text):
    """[(uri, pdt, duration)] of a media playlist."""
    out, pdt, dur = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            dur = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#"):
            out.append((line, pdt, dur))
            pdt, dur = None, None
    return out


def tracks(doc):
    """Every dict in an API document that has a codec (the track objects)."""
    if isinstance(doc, dict):
        if "codec" in doc:
            yield doc
        for v in doc.values():
            yield from tracks(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from tracks(v)


class Clipgate(common.Server):
    def __init__(self, binary, workdir, dump_dir=None):
        self.port = free_port()
        # libnice (webrtcbin) sends no ICE consent checks clipgate counts,
        # so the default 30 s would end a 30 s publish early.
        extra = ["--log-level", "warn", "--consent-timeout", "300s"]
        if dump_dir:
            extra += ["--dump-dir", dump_dir]
        super().__init__(clipgate_argv(binary, self.port, os.path.join(workdir, "data"), extra),
                         os.path.join(workdir, "clipgate.log"), stop_timeout=30)
        self.base = f"http://127.0.0.1:{self.port}"
        self.wait_http(self.base + "/healthz")

    def api(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as r:
                return json.loads(r.read().decode())
        except (OSError, ValueError):
            return None


def reap(proc, block):
    """(done, cpu seconds of the child from its rusage)."""
    pid, status, ru = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return False, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return True, ru.ru_utime + ru.ru_stime


def publish(cg, stream, args, logdir, poll_playlist):
    """One publish of --seconds; returns a dict of figures."""
    idle0 = cpu_s(cg.proc.pid)
    time.sleep(IDLE_S)
    idle_rate = (cpu_s(cg.proc.pid) - idle0) / IDLE_S
    log = open(os.path.join(logdir, f"pub-{stream}.log"), "wb")
    c0, t0 = cpu_s(cg.proc.pid), time.monotonic()
    send_log = os.path.join(logdir, f"sent-{stream}.json")
    pub = subprocess.Popen([PYTHON, os.path.join(HERE, "gst_publish.py"), "--kbps",
                            str(args.kbps), "--duration", str(args.seconds),
                            "--send-log", send_log,
                            f"{cg.base}/whip/{stream}"],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    seen = {}  # uri -> (first listed, pdt, duration)
    conn = None
    video_kbps = None
    next_api = time.monotonic() + 5
    pub_cpu = None
    deadline = time.monotonic() + args.seconds + 60
    while True:
        done, cpu = reap(pub, block=False)
        if done:
            pub_cpu = cpu
            break
        if time.monotonic() > deadline:
            os.killpg(pub.pid, signal.SIGKILL)
            _, pub_cpu = reap(pub, block=True)
            break
        now = time.monotonic()
        if now >= next_api:
            doc = cg.api(f"/api/v1/streams/{stream}")
            for t in tracks(doc):
                if t.get("codec") == "H264" and t.get("bitrate_kbps"):
                    video_kbps = t["bitrate_kbps"]
            next_api = now + 5
        if not poll_playlist:
            time.sleep(0.2)
            continue
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", cg.port, timeout=5)
            conn.request("GET", f"/live/{stream}/index.m3u8")
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
            listed = time.time()
            if resp.status == 200:
                for uri, pdt, dur in segments(body):
                    if uri not in seen:
                        seen[uri] = (listed, pdt, dur)
        except (OSError, http.client.HTTPException):
            conn = None
        time.sleep(POLL_S)
    # The last segment is closed by the end of the broadcast, not by a
    # keyframe: wait for it to be written before reading the CPU.
    time.sleep(1.0)
    c1, t1 = cpu_s(cg.proc.pid), time.monotonic()
    log.close()
    if conn is not None:
        conn.close()
    wall = t1 - t0
    cpu = c1 - c0 - idle_rate * wall
    with open(os.path.join(logdir, f"pub-{stream}.log"), "rb") as f:
        out = f.read().decode("utf-8", "replace")
    sent = None
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                sent = json.loads(line)
            except ValueError:
                pass
    if pub.returncode != 0 or sent is None:
        raise SystemExit(f"publisher failed ({pub.returncode}): {out[-800:]}")
    # Segments in order of their media; the last one ends with the broadcast.
    segs = sorted((v for v in seen.values() if v[1] is not None and v[2] is not None),
                  key=lambda v: v[1])
    delays = [(listed - (pdt + dur)) * 1000 for listed, pdt, dur in segs[:-1]]
    after_last, after_key, unmatched = sent_delays(segs, send_log)
    return {"cpu_s": cpu, "wall_s": wall, "idle_pct": idle_rate * 100,
            "pub_cpu_s": pub_cpu, "video_kbps": video_kbps, "sent": sent,
            "delays_ms": delays, "segments": len(segs), "after_last_ms": after_last,
            "after_key_ms": after_key, "unmatched": unmatched}


def sent_delays(segs, send_log):
    """Listing delays measured from the publisher's send times.

    clipgate's video pts are the RTP timestamps counted from the first video
    frame, and the broadcast's first segment starts with that frame (the
    publisher's first frame is its first IDR), so segment i starts at RTP
    timestamp R0 + (PDT_i - PDT_0) * 90 kHz. For each segment but the last:
    listed - send time of the last packet of its last frame, and listed -
    send time of the last packet of the next segment's first keyframe (the
    frame whose arrival closes the segment). Boundaries that match no sent
    timestamp (within half a frame) are counted as unmatched and skipped."""
    try:
        with open(send_log) as f:
            sent = {int(k): v for k, v in json.load(f).items()}
    except (OSError, ValueError):
        return [], [], len(segs)
    if not sent or len(segs) < 2:
        return [], [], 0
    r0 = min(sent, key=lambda r: sent[r])
    rel = sorted(((r - r0) % (1 << 32), t) for r, t in sent.items())
    after_last, after_key, unmatched = [], [], 0
    pdt0 = segs[0][1]
    for i in range(len(segs) - 1):
        want = round((segs[i + 1][1] - pdt0) * 90000)
        j = min(range(len(rel)), key=lambda k: abs(rel[k][0] - want))
        if abs(rel[j][0] - want) > 1500 or j == 0:
            unmatched += 1
            continue
        listed = segs[i][0]
        after_last.append((listed - rel[j - 1][1]) * 1000)
        after_key.append((listed - rel[j][1]) * 1000)
    return after_last, after_key, unmatched


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run_ffmpeg(src, workdir, seconds):
    out = os.path.join(workdir, "ffmpeg-hls")
    os.makedirs(out, exist_ok=True)
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", src,
            "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-f", "hls", "-hls_time", "2",
            "-hls_segment_type", "fmp4", os.path.join(out, "out.m3u8")]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, cpu = reap(proc, block=True)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"ffmpeg failed ({proc.returncode}): {err[-800:]}")
    nseg = len([n for n in os.listdir(out) if n.endswith(".m4s")])
    return {"cpu_s": cpu, "wall_s": wall, "segments": nseg}


def media_seconds(path):
    res = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", path], stdout=subprocess.PIPE, text=True)
    try:
        return float(res.stdout.strip())
    except ValueError:
        return None


def delay_row(name, d):
    if not d:
        return f"| {name} | 0 | – | – | – | – |"
    return (f"| {name} | {len(d)} | {percentile(d, 50):.1f} | {percentile(d, 99):.1f} | "
            f"{max(d):.1f} | {min(d):.1f} |")


def cpu_cells(cpu, wall, media_s):
    return f"{cpu:.2f} | {cpu / wall * 100:.1f} | {cpu / media_s * 60:.2f}"


def section(res, args, started):
    lat, cpu, ff = res["latency"], res["cpu"], res["ffmpeg"]
    d = lat["delays_ms"]
    media = args.seconds
    kbps = cpu["video_kbps"] or lat["video_kbps"]
    lines = [
        HEADING,
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run.sh` (`bench/hls_latency.py "
        f"--seconds {args.seconds:g} --kbps {args.kbps}`) on {cpu_model()} "
        f"({platform.machine()}, {os.cpu_count()} cores), in a network namespace holding only "
        "loopback; clipgate built "
        + ("with ASan (slower)." if sanitized(args.bin) else "without sanitizers,")
        + " default settings (2 s segments, Opus → AAC).",
        "",
        f"Publisher: GStreamer webrtcbin (`bench/gst_publish.py`), H.264 640x360 30 fps "
        f"x264enc bitrate={args.kbps} tune=zerolatency key-int-max=60 (noise pattern, so the "
        f"bitrate is really spent; clipgate measured {kbps:.0f} kbit/s of video) + Opus, "
        f"{media:g} s per run.",
        "",
        "## Segment listing delay",
        "",
        "Live playlist polled every 10 ms; delay = first time a segment is listed − "
        "(its `EXT-X-PROGRAM-DATE-TIME` + its duration), i.e. from the wall-clock end of the "
        "segment's media to the segment being listed. A segment is closed by the next "
        "keyframe, so the delay includes one frame interval (33 ms) and the publisher's "
        "capture → encode → send delay, plus the 10 ms polling granularity. The last "
        "segment of the broadcast (closed by the publisher leaving) is left out.",
        "",
        "| delay measured from | segments | p50 (ms) | p99 (ms) | max (ms) | min (ms) |",
        "|---|---|---|---|---|---|",
        delay_row("segment's PDT + duration", d),
        delay_row("last packet of the segment sent", lat["after_last_ms"]),
        delay_row("last packet of the next keyframe sent", lat["after_key_ms"]),
        "",
        "The first row is the measure as defined above. The other two use the "
        "publisher's own record of when each video frame's last RTP packet left "
        "(`gst_publish.py --send-log`, a probe on webrtcbin's nicesink, same machine "
        "and clock), with segment boundaries found from the PDTs: *last packet of the "
        "segment* leaves out the publisher's capture → send delay; *next keyframe* is "
        "what clipgate itself adds, since a segment can only be closed once the keyframe "
        "starting the next one has arrived."
        + (f" {lat['unmatched']} boundaries matched no sent frame and were skipped."
           if lat["unmatched"] else ""),
        "",
        "clipgate anchors PDT at the wall-clock arrival of the broadcast's first frame "
        "(or the RTCP sender report's time when one came first). This publisher sends its "
        "first frame only once DTLS is up, after it waited in webrtcbin, so every PDT is "
        "late by that wait and the first row can come out low, even negative; the rows "
        "from the send log do not depend on the anchor.",
        "",
        "## CPU per stream",
        "",
        "utime + stime of each process; % is of one core over the measured wall time, and "
        "CPU s per minute of stream divides by the media's duration. clipgate's figures are "
        "from its `/proc/<pid>/stat` from the publisher's start to 1 s after it left, minus "
        f"clipgate's idle rate measured just before ({cpu['idle_pct']:.2f} % of a core). "
        "ffmpeg packages the dump of the latency run's broadcast (the H.264 and Opus "
        "clipgate received) from a file in real time (`-re`): "
        "`ffmpeg -re -i dump.mkv -c:v copy -c:a aac -b:a 128k -f hls -hls_time 2 "
        "-hls_segment_type fmp4 out.m3u8`, so it has no WebRTC ingest (ICE, DTLS, SRTP, "
        "RTP reordering, depacketizing) to do. The publisher encodes; its CPU is shown "
        "apart and counted nowhere else.",
        "",
        "| process | job | CPU (s) | % of one core | CPU s per stream-minute |",
        "|---|---|---|---|---|",
        f"| clipgate | WHIP ingest + HLS packaging (cpu run) | "
        f"{cpu_cells(cpu['cpu_s'], cpu['wall_s'], media)} |",
        f"| clipgate | same + 10 ms playlist polling + dump (latency run) | "
        f"{cpu_cells(lat['cpu_s'], lat['wall_s'], media)} |",
        f"| ffmpeg CLI | HLS fMP4 packaging of the dump ({ff['media_s']:.1f} s) | "
        f"{cpu_cells(ff['cpu_s'], ff['wall_s'], ff['media_s'])} |",
        f"| publisher (not counted) | webrtcbin + x264enc + opusenc (cpu run) | "
        f"{cpu_cells(cpu['pub_cpu_s'], cpu['wall_s'], media)} |",
        "",
        "Timings are from a shared machine and vary from run to run; compare rows of the "
        "same run, not runs of different days.",
        "",
    ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--kbps", type=int, default=2500)
    ap.add_argument("--output", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--bin", default=os.environ.get("CG_BIN")
                    or os.path.join(SOURCE, "build", "clipgate"))
    args = ap.parse_args()
    require_netns_and_bin("hls_latency.py", args.bin)
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise SystemExit(f"hls_latency.py: {tool} is not installed")
    started = datetime.datetime.now(datetime.timezone.utc)
    work = tempfile.mkdtemp(prefix="cg-bench-hls-")
    res = {}
    try:
        for name, poll in (("cpu", False), ("latency", True)):
            wd = os.path.join(work, name)
            os.makedirs(wd)
            dump = os.path.join(wd, "dump") if poll else None
            if dump:
                os.makedirs(dump)
            cg = Clipgate(args.bin, wd, dump)
            try:
                r = publish(cg, f"bench-{name}", args, wd, poll)
            finally:
                cg.stop()
            r["dump"] = dump
            res[name] = r
            print(f"{name} run: clipgate {r['cpu_s']:.2f} s CPU over {r['wall_s']:.1f} s, "
                  f"publisher {r['pub_cpu_s']:.2f} s, video {r['video_kbps']} kbit/s, "
                  f"{r['segments']} segments, sent {r['sent']}", flush=True)
        d = res["latency"]["delays_ms"]
        print("listing delays (ms), in media order:", " ".join(f"{x:.0f}" for x in d))
        print("after the segment's last packet:",
              " ".join(f"{x:.0f}" for x in res["latency"]["after_last_ms"]),
              "| after the next keyframe:",
              " ".join(f"{x:.0f}" for x in res["latency"]["after_key_ms"]),
              f"| unmatched {res['latency']['unmatched']}")
        print(f"listing delay over {len(d)} segments: p50 {percentile(d, 50):.1f} ms, "
              f"p99 {percentile(d, 99):.1f} ms, max {max(d) if d else float('nan'):.1f} ms",
              flush=True)
        dumps = [os.path.join(res["latency"]["dump"], n)
                 for n in sorted(os.listdir(res["latency"]["dump"])) if n.endswith(".mkv")]
        if not dumps:
            raise SystemExit("no dump written by the latency run")
        ff = run_ffmpeg(dumps[0], work, args.seconds)
        ff["media_s"] = media_seconds(dumps[0]) or args.seconds
        res["ffmpeg"] = ff
        print(f"ffmpeg: {ff['cpu_s']:.2f} s CPU over {ff['wall_s']:.1f} s "
              f"({ff['media_s']:.1f} s of media, {ff['segments']} segments)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_section(args.output, section(res, args, started), HEADING)
    print(f"results written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
