#!/bin/sh
# End-to-end cases for the ferry command: arguments, expected exit code and a text
# the output (stdout and stderr together) must contain. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
FASHION=examples/fashion-mnist/fashion_cnn.onnx
NODE=/usr/include/onnx/backend/test/data/node
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

# expect EXIT TEXT ARGS...
expect() {
  want=$1; text=$2; shift 2
  out=$(timeout 120 "$FERRY" "$@" 2>&1); got=$?
  if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -qF -- "$text"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: ferry $* -> exit $got (want $want), output lacks '$text':"
    printf '%s\n' "$out" | head -8 | sed 's/^/  | /'
  fi
}

# inputs made here so the repository holds no generated data
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
img = [[[[0.5] * 28 for _ in range(28)]]]
json.dump(img, open(f"{t}/image.json", "w"))
json.dump([[[0.5] * 28 for _ in range(28)]], open(f"{t}/rank3.json", "w"))
json.dump([[[[0.5] * 28 for _ in range(27)] + [[0.5] * 3]]], open(f"{t}/ragged.json", "w"))
open(f"{t}/broken.json", "w").write("[[1, 2,")
open(f"{t}/garbage.onnx", "wb").write(b"\x0a\xff\xff\xff\xff\x0fnot a model")
open(f"{t}/empty.onnx", "wb").write(b"")
PY

expect 0 "ferry 0.1.0" --version
expect 0 "exit codes" help
expect 0 "usage: ferry inspect" help inspect
expect 2 "unknown command" frobnicate
for c in inspect run eval perf conformance; do expect 0 "usage: ferry $c" "$c" --help; done
expect 2 "missing MODEL" inspect
expect 2 "unknown option" inspect --bogus "$FASHION"
expect 5 "cannot open" inspect /nonexistent/model.onnx
expect 3 "not a regular file" inspect /tmp
expect 3 "invalid model" inspect "$T/garbage.onnx"
expect 3 "empty" inspect "$T/empty.onnx"
expect 0 "[N,1,28,28]" inspect "$FASHION"
expect 0 '"parameters": 693962' inspect --json "$FASHION"
expect 0 "probabilities float32[1,10]" run "$FASHION" --input "image=$T/image.json"
expect 0 '"shape": [1, 10]' run "$FASHION" --input "$T/image.json" --json
expect 0 "\"file\": \"$T/y.npy\"" run "$NODE/test_abs/model.onnx" --input "x=$NODE/test_abs/test_data_set_0/input_0.pb" --output-dir "$T" --json
expect 0 "y float32[3,4,5]" run "$NODE/test_abs/model.onnx" --input "x=$NODE/test_abs/test_data_set_0/input_0.pb"
expect 0 "-> $T/y.npy" run "$NODE/test_abs/model.onnx" --input "x=$NODE/test_abs/test_data_set_0/input_0.pb" --output-dir "$T"
expect 0 "y float32[3,4,5]" run "$NODE/test_abs/model.onnx" --input "x=$T/y.npy"
expect 0 '"latency_ms": {"median"' perf "$FASHION" --json --iterations 3 --warmup 1 --batch 2
expect 0 '"shape": [2, 1, 28, 28]' perf "$FASHION" --json --iterations 2 --batch 2 --threads 2
expect 0 "throughput" perf "$FASHION" --iterations 2 --input "image=$T/image.json"
expect 0 '"peak_rss_bytes"' perf "$NODE/test_abs/model.onnx" --json --iterations 2 --output-dir "$T"
expect 2 "wants a number" perf "$FASHION" --batch 0
expect 2 "wants a number" perf "$FASHION" --iterations x
expect 2 "missing MODEL" perf
expect 2 "no input named 'nope'" perf "$FASHION" --input "nope=$T/image.json"
expect 3 "ragged" perf "$FASHION" --input "image=$T/ragged.json"
expect 2 "no input named 'nope'" run "$FASHION" --input "nope=$T/image.json"
expect 2 "input 'image' is not given" run "$FASHION"
expect 3 "ragged" run "$FASHION" --input "image=$T/ragged.json"
expect 3 "expected rank 4" run "$FASHION" --input "image=$T/rank3.json"
expect 3 "invalid JSON" run "$FASHION" --input "image=$T/broken.json"
expect 3 "unknown tensor file type" run "$FASHION" --input "image=$T/garbage.onnx"
expect 3 "unknown kind" eval "$FASHION" --dataset csv:a,b
expect 3 "idx:IMAGES,LABELS" eval "$FASHION" --dataset idx:onlyone
expect 5 "cannot open" eval "$FASHION" --dataset idx:/nonexistent/a,/nonexistent/b
expect 2 "missing --dataset" eval "$FASHION"
expect 2 "--batch wants" eval "$FASHION" --batch 0 --dataset idx:a,b
expect 0 '"count": 100' eval "$FASHION" --limit 100 --json --dataset idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
expect 1 "below the minimum" eval "$FASHION" --limit 50 --min-accuracy 1.0 --dataset idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
expect 0 "1 passed, 0 failed, 0 skipped" conformance "$NODE/test_abs"
expect 0 "[Abs]" conformance "$NODE" --filter test_abs --verbose
expect 1 "gates: FAILED" conformance "$NODE" --filter test_abs --min-pass node=5
expect 0 '"passed": 1' conformance "$NODE/test_abs" --json
expect 2 "--timeout wants" conformance --timeout 0 "$NODE"
expect 2 "bad gate" conformance --min-pass node "$NODE"
expect 5 "cannot read" conformance /nonexistent

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
