#!/bin/sh
# ONNX's backend tests (Debian's libonnx-testdata): the pass counts may only go up
# (floors in conformance_floor.txt) and the pytorch and simple suites have no
# failures. Under ASan this also proves no case crashes. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
DATA=${ONNX_TESTDATA:-/usr/include/onnx/backend/test/data}
gates=""
while read -r suite min maxfail; do
  case "$suite" in ''|'#'*) continue;; esac
  gates="$gates --min-pass $suite=$min --max-fail $suite=$maxfail"
done < tests/engine/conformance_floor.txt
# shellcheck disable=SC2086
"$BUILD/ferry" conformance "$DATA" $gates --timeout 120
