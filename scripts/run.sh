#!/usr/bin/env bash
# Installs what is missing, builds clipgate and starts it on the default
# ports with ./data as storage. Extra arguments go to clipgate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
mkdir -p data
exec build/release/clipgate --data-dir ./data "$@"
