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
