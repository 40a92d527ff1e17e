#!/bin/sh
# Benchmark: ferry vs PyTorch (the peer a user would otherwise pick for this model)
# evaluating the Fashion-MNIST example, interleaved in one run, 1 thread, batch 64.
# Prints the median images/s of each and the ferry/PyTorch ratio.
# Usage: bench/fashion_eval.sh [BUILD] [ROUNDS]
set -eu
BUILD=${1:-build}
ROUNDS=${2:-5}
MODEL=examples/fashion-mnist/fashion_cnn.onnx
DATA=/usr/share/datasets/fashion-mnist
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "bench: installing python3-torch (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp >/dev/null
fi
make --no-print-directory "$BUILD/ferry" >/dev/null
f_all=""; t_all=""
for i in $(seq "$ROUNDS"); do
  f=$("$BUILD/ferry" eval "$MODEL" --json --batch 64 \
      --dataset "idx:$DATA/t10k-images-idx3-ubyte.gz,$DATA/t10k-labels-idx1-ubyte.gz" |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')
  t=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/fashion_torch.py "$MODEL" --threads 1 |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')
  echo "round $i: ferry $f images/s, pytorch $t images/s"
  f_all="$f_all $f"; t_all="$t_all $t"
done
/usr/bin/python3 - "$f_all" "$t_all" <<'PY'
import statistics, sys
f = statistics.median(map(float, sys.argv[1].split()))
t = statistics.median(map(float, sys.argv[2].split()))
print(f"median: ferry {f:.0f} images/s, pytorch {t:.0f} images/s, ratio ferry/pytorch {f/t:.2f}")
PY
