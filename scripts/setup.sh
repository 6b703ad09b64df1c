#!/usr/bin/env bash
# Installs every build and test dependency of clipgate on Debian 12.
# Idempotent: packages already present are skipped, so a second run is quick.
# Usage: scripts/setup.sh [--build-only]
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(
  build-essential cmake pkg-config git ca-certificates openssl
  clang libclang-rt-14-dev
  libsrtp2-dev libssl-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libswscale-dev
  libmicrohttpd-dev libwebsockets-dev libjansson-dev
)
TEST_PKGS=(
  ffmpeg nftables iproute2 curl procps
  python3 python3-aiortc python3-aiohttp
  chromium
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-tools
  python3-gst-1.0 gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1 gir1.2-gstreamer-1.0
)

pkgs=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then
  pkgs+=("${TEST_PKGS[@]}")
fi

missing=()
# npm fetches hls.js, which the build embeds in the web UI (and
# playwright-core for the tests). Node.js may come from another packaging
# that bundles npm (and conflicts with Debian's npm package): only ask apt
# for what the commands lack.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# hls.js is embedded in the binary and served to the web UI's pages;
# playwright-core drives Debian's Chromium in the tests. Versions are pinned
# in package.json. A build without hls.js still works (its pages say to run
# this script), so only the test setup insists on npm succeeding.
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/hls.js ] ||
   [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm install"
  if [ "${1:-}" = "--build-only" ]; then
    npm install --no-audit --no-fund --loglevel=error ||
      echo "setup: npm install failed: the web UI will have no HLS player until it succeeds"
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
fi
