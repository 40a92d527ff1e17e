#!/bin/bash
# Engine benchmark (issue 3): ferry against ONNX Runtime (onnxruntime-node) side by
# side, in one run, on the models bench/engine/export_models.py writes (Fashion-MNIST
# CNN, ResNet-18, 6-layer BERT-style encoder, 50M-parameter MLP). Per model and per
# thread count (1 and 2), ferry and ORT run alternately on the same .onnx file and
# the same .npy inputs: `ferry perf --json` and bench/engine/ort_perf.js, each a fresh
# process. Prints one Markdown table: median and p90 latency at batch 1, throughput
# at batch 32, ferry/ORT ratios, the largest output difference relative to the
# output's scale (max|ferry-ORT| / max|ORT|, batch 1 and 32), peak RSS, ready time
# (load start to session ready) and process start to first result.
#
# Usage: bench/engine/run.sh [BUILD]
# Environment: ENGINE_MODELS ("fashion_cnn resnet18 bert6 mlp50m"), ENGINE_THREADS
#   ("1 2"), ENGINE_ITER_SCALE (1; multiplies every iteration count),
#   ENGINE_ROUNDS (1; with more, each cell is the median over rounds).
# Network: the npm registry once, for onnxruntime-node (into bench/node_modules).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${1:-build}
MODELS=${ENGINE_MODELS:-"fashion_cnn resnet18 bert6 mlp50m"}
THREADS=${ENGINE_THREADS:-"1 2"}
SCALE=${ENGINE_ITER_SCALE:-1}
ROUNDS=${ENGINE_ROUNDS:-1}
ORT_VERSION=1.30.0
PY=/usr/bin/python3
MD=bench/models

log() { echo "bench-engine: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
TMP=$(mktemp -d /tmp/ferry-bench-engine.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$PY" -c 'import numpy, onnx, torch' 2>/dev/null ||
  die "needs Debian's python3-numpy python3-onnx python3-torch (scripts/deps.sh)"
command -v node >/dev/null || die "needs node and npm"
if ! [ -f bench/node_modules/onnxruntime-node/package.json ] ||
  ! grep -q "\"version\": \"$ORT_VERSION\"" bench/node_modules/onnxruntime-node/package.json; then
  log "installing onnxruntime-node@$ORT_VERSION into bench/node_modules (npm)"
  # The CPU binaries ship inside the package; its install script only fetches GPU ones.
  ONNXRUNTIME_NODE_INSTALL=skip timeout 300 npm install --prefix bench --no-save \
    --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error \
    "onnxruntime-node@$ORT_VERSION" >"$TMP/npm.log" 2>&1 || {
    tail -20 "$TMP/npm.log" >&2
    die "npm install onnxruntime-node failed"
  }
fi
make --no-print-directory -j2 "$BUILD/ferry" >"$TMP/make.log" 2>&1 || {
  tail -30 "$TMP/make.log" >&2
  die "make $BUILD/ferry failed"
}
cp "$BUILD/ferry" "$TMP/ferry"
log "exporting models into $MD"
"$PY" bench/engine/export_models.py "$MD" >"$TMP/export.log" 2>&1 || {
  tail -20 "$TMP/export.log" >&2
  die "export_models.py failed"
}

# iterations per model: "b1_warmup b1_iters b32_warmup b32_iters" (ENGINE_ITER_SCALE scales)
iters() {
  case $1 in
  fashion_cnn) echo "20 500 3 50" ;;
  resnet18) echo "2 20 1 4" ;;
  bert6) echo "2 20 1 4" ;;
  mlp50m) echo "3 50 1 10" ;;
  *) echo "2 20 1 4" ;;
  esac
}
input_of() {
  case $1 in
  fashion_cnn) echo image ;; resnet18) echo image ;; bert6) echo ids ;; mlp50m) echo x ;;
  esac
}

for round in $(seq "$ROUNDS"); do
  for m in $MODELS; do
    [ -f "$MD/$m.onnx" ] || die "no model $MD/$m.onnx"
    read -r w1 n1 w32 n32 <<<"$(iters "$m")"
    n1=$((n1 * SCALE)) n32=$((n32 * SCALE))
    in=$(input_of "$m")
    for t in $THREADS; do
      for b in 1 32; do
        if [ "$b" = 1 ]; then w=$w1 n=$n1; else w=$w32 n=$n32; fi
        for eng in ferry ort; do
          key="$m.t$t.b$b.$eng.r$round"
          mkdir -p "$TMP/$key"
          log "$m threads=$t batch=$b $eng ($n runs)"
          if [ "$eng" = ferry ]; then
            "$TMP/ferry" perf "$MD/$m.onnx" --json --batch "$b" --threads "$t" \
              --iterations "$n" --warmup "$w" --input "$in=$MD/$m.b$b.$in.npy" \
              --output-dir "$TMP/$key" >"$TMP/$key.json" || die "ferry perf failed on $m"
          else
            node bench/engine/ort_perf.js "$MD/$m.onnx" --batch "$b" --threads "$t" \
              --iterations "$n" --warmup "$w" --input "$in=$MD/$m.b$b.$in.npy" \
              --output-dir "$TMP/$key" >"$TMP/$key.json" || die "ort_perf.js failed on $m"
          fi
        done
      done
    done
  done
done

"$PY" - "$TMP" "$ROUNDS" "$MODELS" "$THREADS" <<'PY'
import glob, json, os, statistics, sys
import numpy as np
tmp, rounds, models, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()

def get(m, t, b, eng, f):
    vals = [f(json.load(open(f"{tmp}/{m}.t{t}.b{b}.{eng}.r{r}.json"))) for r in range(1, rounds + 1)]
    return statistics.median(vals)

def maxrel(m, t, b):
    worst = 0.0
    for r in range(1, rounds + 1):
        for fo in glob.glob(f"{tmp}/{m}.t{t}.b{b}.ort.r{r}/*.npy"):
            a = np.load(fo).astype(np.float64)
            fe = os.path.join(f"{tmp}/{m}.t{t}.b{b}.ferry.r{r}", os.path.basename(fo))
            f = np.load(fe).astype(np.float64)
            if a.shape != f.shape:
                return float("inf")
            scale = max(np.abs(a).max(), 1e-30)
            worst = max(worst, float(np.abs(a - f).max() / scale))
    return worst

mib = lambda v: v / 1048576.0
print("| model | thr | b1 p50 ms ferry / ORT | ratio | b1 p90 ms ferry / ORT | ratio "
      "| b32 items/s ferry / ORT | ratio | max rel diff | peak RSS MiB ferry / ORT "
      "| ready ms ferry / ORT | start→first result ms ferry / ORT |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
unmet = []
for m in models:
    for t in threads:
        p50 = [get(m, t, 1, e, lambda j: j["latency_ms"]["median"]) for e in ("ferry", "ort")]
        p90 = [get(m, t, 1, e, lambda j: j["latency_ms"]["p90"]) for e in ("ferry", "ort")]
        tp = [get(m, t, 32, e, lambda j: j["throughput_per_s"]) for e in ("ferry", "ort")]
        rss = [get(m, t, 1, e, lambda j: j["peak_rss_bytes"]) for e in ("ferry", "ort")]
        rdy = [get(m, t, 1, e, lambda j: j["ready_ms"]) for e in ("ferry", "ort")]
        fst = [get(m, t, 1, e, lambda j: j["process_first_result_ms"]) for e in ("ferry", "ort")]
        diff = max(maxrel(m, t, 1), maxrel(m, t, 32))
        r50, r90, rtp = p50[0] / p50[1], p90[0] / p90[1], tp[0] / tp[1]
        print(f"| {m} | {t} | {p50[0]:.3f} / {p50[1]:.3f} | {r50:.2f} | {p90[0]:.3f} / {p90[1]:.3f} "
              f"| {r90:.2f} | {tp[0]:.1f} / {tp[1]:.1f} | {rtp:.2f} | {diff:.1e} "
              f"| {mib(rss[0]):.0f} / {mib(rss[1]):.0f} | {rdy[0]:.1f} / {rdy[1]:.1f} "
              f"| {fst[0]:.0f} / {fst[1]:.0f} |")
        goal = 0.5 if m == "fashion_cnn" else 1.0
        if r50 > goal: unmet.append(f"{m} t{t}: batch-1 latency ratio {r50:.2f} > {goal}")
        if rtp < 1.0: unmet.append(f"{m} t{t}: batch-32 throughput ratio {rtp:.2f} < 1")
        if rss[0] > rss[1]: unmet.append(f"{m} t{t}: peak RSS {mib(rss[0]):.0f} > {mib(rss[1]):.0f} MiB")
        if rdy[0] > rdy[1]: unmet.append(f"{m} t{t}: ready {rdy[0]:.1f} > {rdy[1]:.1f} ms")
        if diff > 1e-4: unmet.append(f"{m} t{t}: output difference {diff:.1e} > 1e-4")
print()
print("ratios are ferry/ORT (latency: lower is better; throughput: higher is better).")
print("goals not met:" if unmet else "all goals met.")
for u in unmet:
    print(f"- {u}")
PY
