#!/bin/sh
# Publish a moving test pattern with a 440 Hz tone to a running clipgate
# over WHIP, so you can watch a live stream without OBS.
#
#   samples/publish.sh [URL] [--token T] [--duration S] [--size WxH] [--fps N]
#                      [--keyframe-interval S] [--bframes N]
#
# URL defaults to http://127.0.0.1:8080/whip/demo. Runs until Ctrl-C (which
# ends the session with DELETE) unless --duration is given. Watch it with
# any HLS player at http://127.0.0.1:8080/live/demo/index.m3u8; its state is
# at http://127.0.0.1:8080/api/v1/streams/demo.
#
# Needs aiortc from Debian (apt-get install python3-aiortc); it lives in
# Debian's own Python, so this runs /usr/bin/python3 and not the first
# python3 on PATH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${CG_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import aiortc, av' 2>/dev/null; then
    echo "publish.sh: $py cannot import aiortc; install it with: apt-get install python3-aiortc" >&2
    exit 1
fi
exec "$py" "$here/publish.py" "$@"
