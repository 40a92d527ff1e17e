#!/bin/sh
# Runs the cases tests/ops/gen_extra_cases.py generates (opset-18 Reduce, Einsum,
# ConvInteger forms missing from ONNX 1.12's data): every one must pass.
# Usage: sh THIS BUILD
set -eu
BUILD=${1:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 tests/ops/gen_extra_cases.py "$T/extra"
"$BUILD/ferry" conformance "$T/extra" --max-fail extra=0 --min-pass extra=71
