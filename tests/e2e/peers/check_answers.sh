#!/usr/bin/env bash
# Proves that real WebRTC stacks accept clipgate's SDP answers: aiortc,
# Chromium and GStreamer webrtcbin each create a fresh WHIP offer, the
# answer comes from rtc/sdp_answer.c (the unit-test binary's --answer mode), and
# the peer must take it with setRemoteDescription (signaling state
# "stable", the negotiated codecs printed as JSON). Broken answers (wrong
# m= count, missing fingerprint...) make the peers fail, and this script
# with them.
#
# Each peer then also gets the committed golden answer for its captured
# offer (tests/fixtures/sdp/answers/, compared byte for byte by
# tests/rtc/sdp_test.c): a fresh offer from the same peer version has the
# same mids and payload types, so that answer must fit it as well.
#
# Usage: tests/e2e/peers/check_answers.sh BUILD_DIR
# Needs root: it runs itself inside a loopback-only network namespace
# (tests/e2e/netns_run.py), where the peers gather 127.0.0.1 candidates.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:?usage: check_answers.sh BUILD_DIR}" && pwd)"
tool="$build/tests/test_rtc_sdp_test"
if [ ! -x "$tool" ]; then
  echo "check_answers: build the test_rtc_sdp_test target in $build first" >&2
  exit 2
fi
if [ -z "${CG_CHECK_IN_NETNS:-}" ]; then
  exec /usr/bin/python3 "$here/../netns_run.py" \
    env CG_CHECK_IN_NETNS=1 bash "$here/check_answers.sh" "$build"
fi

url=http://127.0.0.1:9/whip/check # never contacted with --answer-cmd
cmd="$tool --answer"
failed=0
run() {
  local name=$1
  shift
  if "$@" 2> >(grep -v -e CRITICAL -e '^$' >&2); then
    echo "check_answers: $name accepted the answer"
  else
    echo "check_answers: $name REFUSED the answer" >&2
    failed=1
  fi
}
answers="$here/../../fixtures/sdp/answers"
run aiortc /usr/bin/python3 "$here/aiortc_offer.py" --loopback --answer-cmd "$cmd" "$url"
run chromium node "$here/chromium_offer.mjs" --answer-cmd "$cmd" "$url"
run webrtcbin /usr/bin/python3 "$here/gst_offer.py" --answer-cmd "$cmd" "$url"
run "aiortc (golden)" /usr/bin/python3 "$here/aiortc_offer.py" --loopback \
  --answer-cmd "cat '$answers/aiortc_answer.sdp'" "$url"
run "chromium (golden)" node "$here/chromium_offer.mjs" \
  --answer-cmd "cat '$answers/chromium_answer.sdp'" "$url"
run "webrtcbin (golden)" /usr/bin/python3 "$here/gst_offer.py" \
  --answer-cmd "cat '$answers/gst_answer.sdp'" "$url"
exit $failed
