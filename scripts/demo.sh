#!/bin/sh
# The main job at this stage: evaluate the Fashion-MNIST example with ferry, compare
# with PyTorch's outputs, then pack it into a signed package and hold the package to
# its own test standards.
# Usage: scripts/demo.sh [BUILD_DIR]
set -eu
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
DATA=/usr/share/datasets/fashion-mnist
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "== ferry inspect $EX/fashion_cnn.onnx"
"$FERRY" inspect "$EX/fashion_cnn.onnx"
echo
echo "== ferry eval on the 10,000 Fashion-MNIST test images"
"$FERRY" eval "$EX/fashion_cnn.onnx" \
  --dataset "idx:$DATA/t10k-images-idx3-ubyte.gz,$DATA/t10k-labels-idx1-ubyte.gz" \
  --save-outputs "$OUT/ferry_probs.npy"
echo
echo "== ferry against PyTorch (per-image outputs and accuracy)"
/usr/bin/python3 "$EX/compare.py" "$OUT/ferry_probs.npy"
echo
echo "== ferry pack: the example as one signed, content-addressed package (OCI layout)"
"$FERRY" keygen -o "$OUT/demo"
"$FERRY" pack "$EX" -o "$OUT/fashion-cnn-1.0.0.ferry" --key "$OUT/demo.key"
"$FERRY" check "$OUT/fashion-cnn-1.0.0.ferry" --trusted-key "$OUT/demo.pub"
echo
echo "== ferry eval on the package: its own test standards (dataset, minimum accuracy)"
"$FERRY" eval "$OUT/fashion-cnn-1.0.0.ferry"
echo
echo "== ferry serve: the package over HTTP (a free port here; 8080 by default)"
"$FERRY" serve "$OUT/fashion-cnn-1.0.0.ferry" --port 0 --quiet --log "$OUT/serve.log" 2>"$OUT/serve.err" &
SERVER=$!
PORT=""
for i in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$OUT/serve.err" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
if [ -z "$PORT" ]; then cat "$OUT/serve.err"; kill "$SERVER" 2>/dev/null; exit 1; fi
echo "listening on port $PORT"
# the first test image, raw pixels 0..255: /predict applies the package's scaling
/usr/bin/python3 - "$DATA/t10k-images-idx3-ubyte.gz" >"$OUT/request.json" <<'PY'
import gzip, json, sys
with gzip.open(sys.argv[1]) as f:
    px = f.read(16 + 784)[16:]
print(json.dumps({"image": [[[px[r * 28 + c] for c in range(28)] for r in range(28)]]}))
PY
echo "POST /predict (first test image; its label is 9, Ankle boot):"
curl -s -m 10 -H 'Content-Type: application/json' --data-binary @"$OUT/request.json" \
  "http://127.0.0.1:$PORT/predict" | cut -c1-200
echo
curl -s -m 10 "http://127.0.0.1:$PORT/metrics" | grep '^ferry_requests_total' | head -3
kill -TERM "$SERVER"
wait "$SERVER" && echo "server drained and stopped (exit 0)"
