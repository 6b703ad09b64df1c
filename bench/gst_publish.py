#!/usr/bin/python3
"""GStreamer webrtcbin WHIP publisher at a set video bitrate, for the
benchmarks: tests/e2e/peers/gst_offer.py with its pipeline swapped for one
whose x264enc runs at --kbps (default 2500, zerolatency, a keyframe every
--gop frames) on a noise pattern, so the encoder really spends the bitrate
(a plain test pattern compresses to a fraction of it).

Usage: gst_publish.py [--kbps N] [--gop N] [--width W --height H]
                      [--duration S] [--token T] WHIP_URL

Prints gst_offer.py's JSON line (frames sent) when done. With --send-log
FILE it also writes, as JSON, the wall-clock time (time.time()) at which the
last RTP packet of each video frame reached nicesink, keyed by the frame's
RTP timestamp: {"<rtp ts>": seconds, ...}.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "e2e", "peers"))
import gst_offer  # noqa: E402


class SendLog(gst_offer.WireCounter):
    """gst_offer's wire counter that also notes when each video frame's
    last packet left (the latest packet seen with that RTP timestamp)."""

    instances = []

    def __init__(self, pad):
        self.sent_at = {}
        SendLog.instances.append(self)
        super().__init__(pad)

    def count(self, buf):
        head = buf.extract_dup(0, 8) if buf.get_size() >= 12 else b""
        if len(head) == 8 and head[0] >> 6 == 2 and (head[1] & 0x7f) == gst_offer.VIDEO_PT:
            self.sent_at[int.from_bytes(head[4:8], "big")] = time.time()
        super().count(buf)


def pipeline(kbps, gop, width, height):
    return (
        "webrtcbin name=wb bundle-policy=max-bundle "
        f"videotestsrc is-live=true pattern=snow ! video/x-raw,width={width},height={height},"
        "framerate=30/1 "
        f"! x264enc name=venc bitrate={kbps} tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={gop} bframes=0 "
        "! rtph264pay config-interval=-1 aggregate-mode=zero-latency "
        "! application/x-rtp,media=video,encoding-name=H264,payload=96 ! wb. "
        "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc name=aenc "
        "! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=97 ! wb."
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--kbps", type=int, default=2500)
    ap.add_argument("--gop", type=int, default=60)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--token")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--send-log")
    args = ap.parse_args()
    gst_offer.PIPELINE = pipeline(args.kbps, args.gop, args.width, args.height)
    args.offer_only = False
    args.answer_cmd = None
    gst_offer.WireCounter = SendLog
    gst_offer.Gst.init(None)
    try:
        gst_offer.Publisher(args).run()
    finally:
        if args.send_log and SendLog.instances:
            with open(args.send_log, "w") as f:
                json.dump({str(k): v for k, v in SendLog.instances[0].sent_at.items()}, f)


if __name__ == "__main__":
    main()
