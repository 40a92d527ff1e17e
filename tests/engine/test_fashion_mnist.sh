#!/bin/sh
# The running example: ferry's accuracy on the 10,000 Fashion-MNIST test images
# matches PyTorch's to 0.1 point and every output to 1e-4. Usage: sh THIS BUILD
set -eu
BUILD=${1:-build}
DATA=/usr/share/datasets/fashion-mnist
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BUILD/ferry" eval examples/fashion-mnist/fashion_cnn.onnx --json --min-accuracy 0.89 \
  --dataset "idx:$DATA/t10k-images-idx3-ubyte.gz,$DATA/t10k-labels-idx1-ubyte.gz" \
  --save-outputs "$OUT/probs.npy" | tee "$OUT/eval.json"
grep -q '"count": 10000' "$OUT/eval.json"
/usr/bin/python3 examples/fashion-mnist/compare.py "$OUT/probs.npy"
echo "1 passed, 0 failed"
