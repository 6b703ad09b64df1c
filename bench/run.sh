#!/usr/bin/env bash
# Runs the benchmarks in a fresh network namespace holding only loopback
# (needs root, like the end-to-end suites) and writes bench/results.md.
#
#   bench/run.sh [whip_connect.py options]     e.g. bench/run.sh --runs 10
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
exec /usr/bin/python3 tests/e2e/netns_run.py --timeout 1800 \
    /usr/bin/python3 bench/whip_connect.py "$@"
