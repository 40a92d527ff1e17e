#!/bin/sh
# Cross-check of ferry compress's output in ONNX Runtime: the example model in
# float32 and compressed (int8 static, int8 with every Conv quantized, int8
# dynamic), and optionally a BERT-style encoder (BERT_MODEL=path/bert6.onnx with
# its bert6.b1.ids.npy and bert6.b32.ids.npy beside it, as the engine benchmark's
# bench/engine/export_models.py writes them), timed by bench/compress/ort_time.js
# on one thread. Needs onnxruntime-node in bench/serve/node_modules (bench/serve/run.sh
# installs it) or in ORT_NODE_MODULES. Prints one JSON line per model. Usage: bench/compress/run.sh [BUILD]
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
FERRY="$BUILD/ferry"
F=${FASHION:-/usr/share/datasets/fashion-mnist}
TRAIN="idx:$F/train-images-idx3-ubyte.gz,$F/train-labels-idx1-ubyte.gz"
RUNS=${BENCH_RUNS:-50}
NM=${ORT_NODE_MODULES:-bench/serve/node_modules}
export ORT_NODE_MODULES="$(cd "$(dirname "$NM")" && pwd)/$(basename "$NM")"
[ -f "$ORT_NODE_MODULES/onnxruntime-node/package.json" ] ||
  { echo "bench/compress: run bench/serve/run.sh once to install onnxruntime-node" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
EX=examples/fashion-mnist/fashion_cnn.onnx
"$FERRY" compress "$EX" -o "$T/int8.onnx" --quantize int8 --calibration "$TRAIN" --no-speed >/dev/null
"$FERRY" compress "$EX" -o "$T/int8-all-convs.onnx" --quantize int8 --int8-min-k 0 \
  --calibration "$TRAIN" --no-speed >/dev/null
"$FERRY" compress "$EX" -o "$T/int8-dynamic.onnx" --quantize int8-dynamic --no-speed >/dev/null
/usr/bin/python3 -c "
import numpy as np, sys
rng = np.random.RandomState(1234)
for b in (1, 32):
    np.save(sys.argv[1] + '/image.b%d.npy' % b, rng.uniform(0, 1, (b, 1, 28, 28)).astype(np.float32))" "$T"
for m in "$EX" "$T/int8.onnx" "$T/int8-all-convs.onnx" "$T/int8-dynamic.onnx"; do
  node bench/compress/ort_time.js "$m" image "$T/image.b1.npy" "$T/image.b32.npy" "$RUNS"
done
if [ -n "${BERT_MODEL:-}" ]; then
  d=$(dirname "$BERT_MODEL")
  "$FERRY" compress "$BERT_MODEL" -o "$T/bert_int8.onnx" --quantize int8-dynamic --no-speed >/dev/null
  for m in "$BERT_MODEL" "$T/bert_int8.onnx"; do
    node bench/compress/ort_time.js "$m" ids "$d/bert6.b1.ids.npy" "$d/bert6.b32.ids.npy" 5
  done
fi
