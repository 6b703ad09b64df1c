#!/usr/bin/env bash
# Installs what is missing, builds once (ASan + UBSan, warnings as errors)
# and runs every test: unit tests, fuzz-corpus replay and the end-to-end
# suites. The last line is the summary: "ctest: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || exit 1
build=build/test
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCG_SANITIZE=ON -DCG_WERROR=ON >/dev/null || exit 1
if ! cmake --build "$build" -j"$(nproc)" > "$build/build.log" 2>&1; then
  grep -vE '^\[ *[0-9]+%\]' "$build/build.log" | tail -60
  echo "build failed"
  echo "ctest: 0 passed, 1 failed"
  exit 1
fi
# Leaks in the libraries we link (OpenSSL, FFmpeg) are not ours; LeakSanitizer
# stays on for the unit tests, which free everything they allocate.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
junit="$PWD/$build/results.xml"
rm -f "$junit"
ctest --test-dir "$build" --output-on-failure --timeout 600 -j2 --output-junit "$junit" "$@"
rc=$?
/usr/bin/python3 scripts/test_summary.py "$junit" "$rc"
