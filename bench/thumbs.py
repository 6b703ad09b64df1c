#!/usr/bin/python3
"""Thumbnail benchmark: what one segment thumbnail costs.

    thumbs.py [--runs N] [--output FILE] [--bin THUMBS_BENCH]

For each picture size (640x480, 1280x720, 1920x1080) the ffmpeg CLI encodes
4 s of testsrc2 at 30 fps with libx264 (veryfast, a keyframe every 2 s)
into fMP4 segments as clipgate stores them (init.mp4, seg-0.m4s). Then:

  clipgate     thumbs_bench (bench/thumbs_bench.c, a Release build) runs the
               thumbnailer's work on seg-0 N times in one process: read the
               init and media segment through the storage interface, decode
               the keyframe, scale to 320 wide, encode the JPEG (q 5);
               time per thumbnail, p50/p90/mean.
  ffmpeg CLI   the same picture the usual way, one process per thumbnail:
                   ffmpeg -i init+seg-0 -frames:v 1 -vf scale=320:-2 -q:v 5 x.jpg
               wall time per run, process start included.

Figures are printed and written as a section of --output (default
bench/results.md), replacing an earlier section of this benchmark and
keeping the rest of the file. Nothing is asserted.
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

from common import cpu_model, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
HEADING = "# Thumbnails: time per segment thumbnail"
SIZES = ["640x480", "1280x720", "1920x1080"]
KBPS = {"640x480": 1500, "1280x720": 3000, "1920x1080": 6000}


def make_segment(workdir, size):
    """Encodes the test media into workdir/b/{init.mp4,seg-*.m4s}."""
    out = os.path.join(workdir, "b")
    os.makedirs(out, exist_ok=True)
    kbps = KBPS[size]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size={size}:rate=30", "-t", "4",
                    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
                    "-pix_fmt", "yuv420p", "-b:v", f"{kbps}k", "-g", "60", "-keyint_min", "60",
                    "-sc_threshold", "0", "-f", "hls", "-hls_time", "2",
                    "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
                    "-hls_segment_filename", os.path.join(out, "seg-%d.m4s"),
                    os.path.join(out, "index.m3u8")], check=True)
    seg = os.path.join(out, "seg-0.m4s")
    return os.path.join(out, "init.mp4"), seg, os.path.getsize(seg)


def run_clipgate(binary, workdir, runs):
    res = subprocess.run([binary, workdir, "b/init.mp4", "b/seg-0.m4s", str(runs),
                          os.path.join(workdir, "clipgate.jpg")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_ffmpeg(init, seg, workdir, runs):
    cat = os.path.join(workdir, "cat.mp4")
    with open(cat, "wb") as f:
        for p in (init, seg):
            with open(p, "rb") as g:
                f.write(g.read())
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", cat, "-frames:v", "1",
                        "-vf", "scale=320:-2", "-q:v", "5", os.path.join(workdir, "ffmpeg.jpg")],
                       check=True)
        times.append((time.monotonic() - t0) * 1000)
    times.sort()
    return {"p50_ms": times[len(times) // 2], "p90_ms": times[len(times) * 9 // 10],
            "mean_ms": statistics.mean(times), "bytes": os.path.getsize(
                os.path.join(workdir, "ffmpeg.jpg"))}


def section(rows, args, started):
    lines = [HEADING, "",
             f"Measured {started:%Y-%m-%d %H:%M} UTC by `bench/run.sh thumbs` (`bench/thumbs.py "
             f"--runs {args.runs}`) on {cpu_model()} ({platform.machine()}, {os.cpu_count()} "
             "cores); clipgate's thumbnailer built without sanitizers.",
             "",
             "Input: 4 s of `testsrc2` at 30 fps, libx264 veryfast High profile, a keyframe every "
             "2 s, cut into fMP4 segments (`init.mp4`, `seg-0.m4s`); the thumbnail is seg-0's "
             "keyframe scaled to 320 px wide, JPEG q 5.",
             "",
             "- **clipgate**: `cg_thumbs_make` (what the thumbnail worker does per segment: "
             "storage reads, demux, one decode, libswscale, mjpeg), repeated in one process "
             "(`bench/thumbs_bench.c`).",
             "- **ffmpeg CLI**: `ffmpeg -i init+seg -frames:v 1 -vf scale=320:-2 -q:v 5 x.jpg`, "
             "one process per thumbnail, wall time including the process start.",
             "",
             "| source | segment (KiB) | clipgate p50 (ms) | p90 | mean | JPEG (bytes) "
             "| ffmpeg CLI p50 (ms) | p90 | JPEG (bytes) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, seg_bytes, cg, ff in rows:
        lines.append(f"| {size} | {seg_bytes / 1024:.0f} | {cg['p50_ms']:.1f} | "
                     f"{cg['p90_ms']:.1f} | {cg['mean_ms']:.1f} | {cg['bytes']} | "
                     f"{ff['p50_ms']:.1f} | {ff['p90_ms']:.1f} | {ff['bytes']} |")
    share = [cg["mean_ms"] / 2000 * 100 for _, _, cg, _ in rows]
    lines += ["",
              f"One thumbnail per 2 s segment costs {min(share):.2f}-{max(share):.2f} % of one "
              "core per stream at these figures. Timings are from a shared machine and vary "
              "from run to run; compare rows of the same run.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--output", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--bin", default=os.path.join(SOURCE, "build", "release", "thumbs_bench"))
    args = ap.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("thumbs.py: ffmpeg is missing (apt-get install ffmpeg)")
    started = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for size in SIZES:
        work = tempfile.mkdtemp(prefix="cg-thumbs-bench-")
        try:
            init, seg, seg_bytes = make_segment(work, size)
            cg = run_clipgate(args.bin, work, args.runs)
            ff = run_ffmpeg(init, seg, work, max(5, args.runs // 5))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{size}: clipgate p50 {cg['p50_ms']:.1f} ms (p90 {cg['p90_ms']:.1f}, "
              f"{cg['width']}x{cg['height']}, {cg['bytes']} bytes); ffmpeg CLI p50 "
              f"{ff['p50_ms']:.1f} ms", flush=True)
        rows.append((size, seg_bytes, cg, ff))
    write_section(args.output, section(rows, args, started), HEADING)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
