#!/usr/bin/env bash
# Runs the benchmarks in a fresh network namespace holding only loopback
# (needs root, like the end-to-end suites) and writes bench/results.md.
#
#   bench/run.sh [whip_connect.py options]     both benchmarks, e.g. bench/run.sh --runs 10
#   bench/run.sh whip [whip_connect.py options]
#   bench/run.sh hls [hls_latency.py options]  e.g. bench/run.sh hls --seconds 60
#   bench/run.sh thumbs [thumbs.py options]    e.g. bench/run.sh thumbs --runs 100
#   bench/run.sh events [--events N]           cost of publishing a live event
#   bench/run.sh whep [whep_forward.py options] e.g. bench/run.sh whep --viewers 1,5,10,20
#
# whip_connect.py rewrites bench/results.md; hls_latency.py, thumbs.py and
# whep_forward.py then replace only their own sections of it, so running all
# keeps all.
#
# Benchmarks a Release build without sanitizers in build/release (the one
# scripts/run.sh makes); set CG_BIN to measure another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CG_BIN:-}" ]; then
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build/release -j2 --target clipgate >/dev/null
    CG_BIN=$PWD/build/release/clipgate
fi
export CG_BIN
in_netns() {
    /usr/bin/python3 tests/e2e/netns_run.py --timeout 1800 /usr/bin/python3 "$@"
}
thumbs_bin() {
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build/release -j2 --target thumbs_bench >/dev/null
    echo "$PWD/build/release/thumbs_bench"
}
events_section() {
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build/release -j2 --target events_bench >/dev/null
    # Replaces its section of bench/results.md with the benchmarks' writer.
    build/release/events_bench "$@" | /usr/bin/python3 -c 'import sys
sys.path.insert(0, "bench")
import common
text = sys.stdin.read()
sys.stdout.write(text)
common.write_section("bench/results.md", text, "# Live events: publishing cost")'
}
case "${1:-}" in
    whip) shift; in_netns bench/whip_connect.py "$@" ;;
    hls) shift; in_netns bench/hls_latency.py "$@" ;;
    thumbs) shift; /usr/bin/python3 bench/thumbs.py --bin "$(thumbs_bin)" "$@" ;;
    events) shift; events_section "$@" ;;
    whep) shift; in_netns bench/whep_forward.py "$@" ;;
    *) in_netns bench/whip_connect.py "$@"; in_netns bench/hls_latency.py
       /usr/bin/python3 bench/thumbs.py --bin "$(thumbs_bin)"
       events_section
       in_netns bench/whep_forward.py ;;
esac
