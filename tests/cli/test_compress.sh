#!/bin/sh
# ferry compress end to end on the Fashion-MNIST example: every method writes a
# model the engine runs and onnx's checker accepts; the report's JSON keys; the
# --max-drop gate writes nothing; packages in and out; npy: and dir: datasets.
# Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
F=/usr/share/datasets/fashion-mnist
IDX="idx:$F/t10k-images-idx3-ubyte.gz,$F/t10k-labels-idx1-ubyte.gz"
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

expect() { # EXIT TEXT ARGS...: exit code and a text the output must contain
  want=$1; text=$2; shift 2
  out=$(timeout 300 "$FERRY" "$@" 2>&1); got=$?
  if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -qF -- "$text"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: ferry $* -> exit $got (want $want), output lacks '$text':"
    printf '%s\n' "$out" | head -12 | sed 's/^/  | /'
  fi
}
ok() { # NAME COMMAND...: a shell check
  name=$1; shift
  if "$@" >"$T/ok.log" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/ok.log" | head -12; fi
}
checker() { # FILE: onnx's checker with full shape inference
  "$PY" -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$1"
}

FAST="--eval $IDX --eval-limit 200 --runs 1"

# usage
expect 0 "usage: ferry compress" compress --help
expect 2 "no output given" compress "$EX/fashion_cnn.onnx" --prune 0.1
expect 2 "no method given" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx"
expect 2 "needs --eval" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --prune 0.1 --max-drop 1
expect 2 "needs --calibration" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --quantize int8
expect 2 "--quantize wants" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --quantize int4
expect 2 "--prune wants" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --prune 1.5
expect 2 "--share-weights wants" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --share-weights 9
expect 3 "cannot be combined" compress "$EX/fashion_cnn.onnx" -o "$T/x.onnx" --quantize fp16 --share-weights 2
expect 5 "cannot read" compress "$T/none.onnx" -o "$T/x.onnx" --prune 0.1
ok "no output after failures" test ! -e "$T/x.onnx"

# every method: runs in ferry, passes onnx's checker
expect 0 '"methods"' compress "$EX/fashion_cnn.onnx" -o "$T/int8.onnx" --quantize int8 \
  --calibration "$IDX" --calibration-limit 64 --calibrate percentile $FAST --json \
  --report-md "$T/report.md"
ok "int8 passes onnx's checker" checker "$T/int8.onnx"
expect 0 "int8(+relu)" compress "$EX/fashion_cnn.onnx" -o "$T/int8all.onnx" --quantize int8 \
  --int8-min-k 0 --calibration "$IDX" --calibration-limit 64 --runs 1
ok "int8 with QLinearConv passes onnx's checker" checker "$T/int8all.onnx"
# by default the first Conv (K = 9) is int8 too: a MaxPool follows it, which the
# engine runs with it as one direct kernel; --int8-min-k 32 keeps it float
expect 0 "int8(+relu)" compress "$EX/fashion_cnn.onnx" -o "$T/int8def.onnx" --quantize int8 \
  --calibration "$IDX" --calibration-limit 64 --runs 1
expect 0 "float (short dot products)" compress "$EX/fashion_cnn.onnx" -o "$T/int8k32.onnx" \
  --quantize int8 --int8-min-k 32 --calibration "$IDX" --calibration-limit 64 --runs 1
ok "markdown report" grep -q "^# Compression report" "$T/report.md"
expect 0 "accuracy" eval "$T/int8.onnx" --dataset "$IDX" --limit 100
for q in int8-dynamic fp16 bf16; do
  expect 0 "methods: $q" compress "$EX/fashion_cnn.onnx" -o "$T/$q.onnx" --quantize $q $FAST
  ok "$q passes onnx's checker" checker "$T/$q.onnx"
done
expect 0 "methods: int8" compress "$EX/fashion_cnn.onnx" -o "$T/ent.onnx" --quantize int8 \
  --calibrate entropy --calibration "$IDX" --calibration-limit 64 --runs 1
expect 0 "share-weights(4 bits)" compress "$EX/fashion_cnn.onnx" -o "$T/share.onnx" --share-weights 4 $FAST
ok "shared weights pass onnx's checker" checker "$T/share.onnx"
expect 0 "prune-structured" compress "$EX/fashion_cnn.onnx" -o "$T/struct.onnx" --prune-structured 0.25 $FAST
ok "structured pruning passes onnx's checker" checker "$T/struct.onnx"
ok "structured pruning shrinks the Gemm" "$PY" -c "
import onnx, sys
m = onnx.load(sys.argv[1]); d = {i.name: list(i.dims) for i in m.graph.initializer}
assert d['0.weight'] == [24, 1, 3, 3], d['0.weight']
assert d['4.weight'] == [96, 4056], d['4.weight']
assert d['6.weight'] == [10, 96], d['6.weight']" "$T/struct.onnx"
expect 0 "excluded" compress "$EX/fashion_cnn.onnx" -o "$T/ex.onnx" --prune 0.2 --exclude /0/Conv,6.weight --runs 1

# JSON report keys (accuracy as a fraction)
ok "JSON report keys" "$PY" -c "
import json, subprocess, sys
r = json.loads(subprocess.run([sys.argv[1], 'compress', sys.argv[2], '-o', sys.argv[3], '--prune-global',
    '0.5', '--eval', sys.argv[4], '--eval-limit', '100', '--runs', '1', '--json'],
    capture_output=True, check=True).stdout)
for side in ('before', 'after'):
    for k in ('accuracy', 'size_bytes', 'params', 'nonzero', 'latency_b1_ms', 'throughput_b32'):
        assert k in r[side], (side, k)
    assert 0 <= r[side]['accuracy'] <= 1
assert r['methods'] == ['prune-global'], r['methods']
assert abs(r['after']['nonzero'] / r['before']['nonzero'] - 0.5) < 0.01
assert r['output_diff']['max'] is not None" "$FERRY" "$EX/fashion_cnn.onnx" "$T/g.onnx" "$IDX"

# the gate: too much pruning fails and writes nothing under the final name
expect 1 "nothing written" compress "$EX/fashion_cnn.onnx" -o "$T/gated.onnx" --prune 0.6 --max-drop 0.5 $FAST
ok "gate wrote nothing" test ! -e "$T/gated.onnx"
ok "gate left no temporary file" sh -c "! ls '$T' | grep -q gated"
expect 0 "methods: prune" compress "$EX/fashion_cnn.onnx" -o "$T/gated.onnx" --prune 0.01 --max-drop 5 $FAST
ok "gate passed wrote the model" test -s "$T/gated.onnx"

# packages: a new package with the compression recorded in its manifest
expect 0 "fashion-cnn-1.0.0.ferry" pack "$EX/ferry.yaml" -o "$T/fashion-cnn-1.0.0.ferry"
expect 0 "package written" compress "$T/fashion-cnn-1.0.0.ferry" -o "$T/int8.ferry" --quantize int8-dynamic $FAST
expect 0 "every digest verified" check "$T/int8.ferry"
expect 0 "accuracy" eval "$T/int8.ferry" --limit 100
expect 4 "already compressed" compress "$T/int8.ferry" -o "$T/again.ferry" --prune 0.1 --runs 1

# npy: and dir: datasets give the same accuracy as the same IDX images
ok "write npy and PGM datasets" "$PY" -c "
import gzip, numpy as np, os, sys
t = sys.argv[1]; f = '/usr/share/datasets/fashion-mnist/'
img = np.frombuffer(gzip.open(f + 't10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 28, 28)[:60]
lab = np.frombuffer(gzip.open(f + 't10k-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)[:60]
np.save(t + '/images.npy', img); np.save(t + '/labels.npy', lab.astype(np.int64))
os.mkdir(t + '/pgm')
with open(t + '/pgm/labels.txt', 'w') as L:
    for i in range(60):
        open(t + '/pgm/%03d.pgm' % i, 'wb').write(b'P5\n28 28\n255\n' + img[i].tobytes())
        L.write('%03d.pgm %d\n' % (i, lab[i]))" "$T"
for ds in "$IDX" "npy:$T/images.npy,$T/labels.npy" "dir:$T/pgm"; do
  "$FERRY" compress "$EX/fashion_cnn.onnx" -o "$T/d.onnx" --quantize int8 --calibration "$ds" \
    --eval "$ds" --eval-limit 60 --runs 1 --json > "$T/ds.json" 2>&1
  "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['before']['accuracy'], r['after']['accuracy'])" \
    "$T/ds.json" >> "$T/accs.txt" 2>&1
done
ok "three dataset kinds agree" sh -c "[ \$(sort -u '$T/accs.txt' | wc -l) -eq 1 ] && [ \$(wc -l < '$T/accs.txt') -eq 3 ]"
printf 'a.pgm 1\nbroken line\n' > "$T/pgm/labels.txt"
expect 3 "labels line 2" compress "$EX/fashion_cnn.onnx" -o "$T/d.onnx" --prune 0.1 --eval "dir:$T/pgm"
printf '000.pgm 1\n' > "$T/pgm/labels.txt"
printf 'P5\n28 28\n255\n' > "$T/pgm/000.pgm"
expect 3 "000.pgm" compress "$EX/fashion_cnn.onnx" -o "$T/d.onnx" --prune 0.1 --eval "dir:$T/pgm"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
