#!/usr/bin/python3
"""tests/e2e/peers/aiortc_offer.py with aiortc's H.264 encoder answering
keyframe requests, for the HLS suites. Same arguments and output.

aiortc 1.4 receives PLI and passes force_keyframe to its H.264 encoder,
which drops it: libx264 then makes an IDR only every 250 frames (8.3 s at
30 fps) or when aiortc rebuilds the encoder after a bitrate change. A
gateway cutting 2 s HLS segments asks for a keyframe at each segment
boundary, as Chromium and webrtcbin honour; without this, every aiortc
segment would be 8.3 s long. Here the frame after a PLI is marked as an I
picture, which libavcodec's libx264 wrapper turns into an IDR (closed
GOP), so the keyframes clipgate gets are the ones it asked for.

On exit it prints `hls_aiortc: N keyframes forced by PLI` on stderr.
"""
import asyncio
import os
import sys

import av
import aiortc.codecs.h264 as h264

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import aiortc_offer  # noqa: E402  (after the path is set)

_pending = [False]
_forced = [0]


class _KeyframeContext:
    """Wraps the encoder's CodecContext: the first frame encoded after a
    keyframe request goes in as an I picture."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def encode(self, frame=None):
        if frame is not None and _pending[0]:
            frame.pict_type = av.video.frame.PictureType.I
            _pending[0] = False
            _forced[0] += 1
        return self._ctx.encode(frame)


_create = h264.create_encoder_context


def _create_encoder_context(*args, **kwargs):
    ctx, buffering = _create(*args, **kwargs)
    return _KeyframeContext(ctx), buffering


_encode = h264.H264Encoder.encode


def _encode_with_request(self, frame, force_keyframe=False):
    if force_keyframe:
        _pending[0] = True
    return _encode(self, frame, force_keyframe)


h264.create_encoder_context = _create_encoder_context
h264.H264Encoder.encode = _encode_with_request

if __name__ == "__main__":
    try:
        asyncio.run(aiortc_offer.main())
    finally:
        sys.stderr.write(f"hls_aiortc: {_forced[0]} keyframes forced by PLI\n")
