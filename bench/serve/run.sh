#!/bin/bash
# Benchmark: serving the Fashion-MNIST CNN (issue 5). `ferry serve` on the example
# package, with its defaults, with --max-batch 32 --queue-delay-us 2000 --instances 2
# and with --max-batch 1 (no batching), side by side with the servers a user would
# otherwise write:
# FastAPI + uvicorn + PyTorch (Debian packages) and Node's http + onnxruntime-node
# (npm, installed into bench/serve/node_modules). All four serve the same model on
# loopback and get the same request bodies; wrk measures POST /predict and
# POST /v2/models/fashion-cnn/infer at 1, 16 and 64 connections, the servers
# interleaved. Prints one Markdown table (requests/s, p50, p99, errors, ratios
# ferry/FastAPI and ferry/Node) and whether the issue's goals are met.
#
# Usage: bench/serve/run.sh [BUILD]          (make bench-serve)
# Environment: BENCH_SECONDS (5, per wrk run), BENCH_CONNS ("1 16 64"),
#              BENCH_ROUNDS (1; medians over rounds), BENCH_WARMUP (1 s per server
#              and endpoint), BENCH_THREADS (wrk threads, 1).
# Network: none but the npm registry, once, for onnxruntime-node (and Debian's
# archive for missing packages).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${1:-build}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-"1 16 64"}
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=${BENCH_WARMUP:-1}
WRK_THREADS=${BENCH_THREADS:-1}
ORT_VERSION=1.30.0
PY=/usr/bin/python3
EX=examples/fashion-mnist
T0=$(date +%s)

log() { echo "bench-serve: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---- servers we start are stopped on any exit -------------------------------------
TMP=$(mktemp -d /tmp/ferry-bench-serve.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- what the benchmark needs -----------------------------------------------------
pkgs=""
command -v wrk >/dev/null || pkgs="$pkgs wrk"
command -v curl >/dev/null || pkgs="$pkgs curl"
command -v node >/dev/null || pkgs="$pkgs nodejs"
command -v npm >/dev/null || pkgs="$pkgs npm"
[ -x "$PY" ] || pkgs="$pkgs python3"
"$PY" -c 'import numpy, onnx, torch' 2>/dev/null ||
  pkgs="$pkgs python3-numpy python3-onnx python3-torch libopenblas0-openmp"
"$PY" -c 'import fastapi, uvicorn' 2>/dev/null || pkgs="$pkgs python3-fastapi python3-uvicorn"
# uvicorn's fast event loop and HTTP parser ("uvicorn[standard]"), as deployments use
"$PY" -c 'import uvloop, httptools' 2>/dev/null || pkgs="$pkgs python3-uvloop python3-httptools"
if [ -n "$pkgs" ]; then
  log "installing Debian packages:$pkgs"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! timeout 600 apt-get install -y -qq $pkgs >"$TMP/apt.log" 2>&1; then
    timeout 300 apt-get update -qq >>"$TMP/apt.log" 2>&1 || true
    # shellcheck disable=SC2086
    timeout 600 apt-get install -y -qq $pkgs >>"$TMP/apt.log" 2>&1 || {
      tail -20 "$TMP/apt.log" >&2
      die "apt-get install failed"
    }
  fi
fi
ORT_PKG=bench/serve/node_modules/onnxruntime-node/package.json
if ! [ -f "$ORT_PKG" ] || ! grep -q "\"version\": \"$ORT_VERSION\"" "$ORT_PKG"; then
  log "installing onnxruntime-node@$ORT_VERSION into bench/serve/node_modules (npm)"
  # The CPU binaries ship inside the npm package; its install script only fetches
  # optional GPU binaries from elsewhere, so it is skipped.
  ONNXRUNTIME_NODE_INSTALL=skip timeout 300 npm install --prefix bench/serve --no-save \
    --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error \
    "onnxruntime-node@$ORT_VERSION" >"$TMP/npm.log" 2>&1 || {
    tail -20 "$TMP/npm.log" >&2
    die "npm install onnxruntime-node failed"
  }
fi

log "building $BUILD/ferry and packing $EX"
make --no-print-directory -j2 "$BUILD/ferry" >"$TMP/make.log" 2>&1 || {
  tail -30 "$TMP/make.log" >&2
  die "make $BUILD/ferry failed"
}
cp "$BUILD/ferry" "$TMP/ferry" # a rebuild during the run does not touch the one we serve
"$TMP/ferry" pack "$EX" -o "$TMP/fashion-cnn.ferry" >"$TMP/pack.log" 2>&1 || {
  cat "$TMP/pack.log" >&2
  die "ferry pack failed"
}

# ---- the request bodies: the first Fashion-MNIST test image (bench/serve/bodies.py) --
"$PY" bench/serve/bodies.py "$TMP" || die "cannot write the request bodies"
declare -A EP_PATH=([predict]=/predict [v2]=/v2/models/fashion-cnn/infer)

# ---- start the servers, each on a free loopback port ------------------------------
declare -A PORT PID_OF
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
start() { # NAME COMMAND... (the command's {PORT} is replaced)
  local name=$1 port a
  shift
  port=$(free_port)
  local cmd=()
  for a in "$@"; do cmd+=("${a//\{PORT\}/$port}"); done
  "${cmd[@]}" >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  PID_OF[$name]=$!
  PORT[$name]=$port
}
wait_ready() { # NAME: up to 90 s
  local name=$1
  for _ in $(seq 180); do
    kill -0 "${PID_OF[$name]}" 2>/dev/null || {
      tail -20 "$TMP/$name.log" >&2
      die "$name exited before it was ready"
    }
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:${PORT[$name]}/v2/health/ready" && return 0
    sleep 0.5
  done
  tail -20 "$TMP/$name.log" >&2
  die "$name not ready after 90 s"
}

# ferry three ways: its defaults (the package's serving section: batches of up to 32,
# 2 ms queue delay, 1 instance), tuned (2 instances), and without dynamic batching
# (which shows what the batcher's queue delay costs at low concurrency).
SERVERS=(ferry ferry-tuned ferry-nobatch fastapi node)
start ferry "$TMP/ferry" serve "$TMP/fashion-cnn.ferry" --port '{PORT}' --quiet
start ferry-tuned "$TMP/ferry" serve "$TMP/fashion-cnn.ferry" --port '{PORT}' --quiet \
  --max-batch 32 --queue-delay-us 2000 --instances 2
start ferry-nobatch "$TMP/ferry" serve "$TMP/fashion-cnn.ferry" --port '{PORT}' --quiet \
  --max-batch 1 --queue-delay-us 0
start fastapi env OMP_NUM_THREADS=1 FERRY_BENCH_MODEL="$EX/fashion_cnn.onnx" \
  FERRY_BENCH_LABELS="$EX/labels.txt" "$PY" -m uvicorn fastapi_app:app --app-dir bench/serve \
  --host 127.0.0.1 --port '{PORT}' --log-level warning --no-access-log
start node node bench/serve/node_server.js "$EX/fashion_cnn.onnx" "$EX/labels.txt" '{PORT}'
for s in "${SERVERS[@]}"; do wait_ready "$s"; done
"$PY" - "$TMP/ferry" <<'PY' >&2
import platform, subprocess, sys
def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"
import fastapi, torch, uvicorn
loop = "uvloop" if __import__("importlib").util.find_spec("uvloop") else "asyncio"
http = "httptools" if __import__("importlib").util.find_spec("httptools") else "h11"
ort = out("node", "-p", "require('./bench/serve/node_modules/onnxruntime-node/package.json').version")
wrk = " ".join(out("sh", "-c", "wrk -v 2>&1").split()[:2]) or "wrk ?"
rev = out("git", "rev-parse", "--short", "HEAD")
print(f"bench-serve: ferry {rev} (+ working tree), Python {platform.python_version()}, torch {torch.__version__}, "
      f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__} ({loop}, {http}), "
      f"Node {out('node', '--version')}, onnxruntime-node {ort}, {wrk}")
PY
log "ready: $(for s in "${SERVERS[@]}"; do printf '%s :%s  ' "$s" "${PORT[$s]}"; done)"

# ---- every server answers the same bodies with the same predictions --------------
check_args=()
for s in "${SERVERS[@]}"; do check_args+=("$s=${PORT[$s]}"); done
"$PY" - "$TMP" "${check_args[@]}" <<'PY' || die "the servers disagree (see above)"
import json, sys, urllib.request
tmp = sys.argv[1]
servers = [a.split("=") for a in sys.argv[2:]]
def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
bodies = {p: open(f"{tmp}/{p}.json", "rb").read() for p in ("predict", "v2")}
ref, bad = None, False
for name, port in servers:
    p = post(port, "/predict", bodies["predict"])["predictions"][0]
    v = post(port, "/v2/models/fashion-cnn/infer", bodies["v2"])["outputs"][0]
    got = (p["label"], p["class"], p["scores"], v["shape"], v["data"])
    if ref is None:
        ref = got
        print(f"bench-serve: /predict answers {p['label']!r} (class {p['class']}, "
              f"score {max(p['scores']):.4f})", file=sys.stderr)
        continue
    close = lambda a, b: len(a) == len(b) and all(abs(x - y) <= 1e-4 for x, y in zip(a, b))
    if got[:2] != ref[:2] or not close(got[2], ref[2]) or got[3] != ref[3] or not close(got[4], ref[4]):
        print(f"bench-serve: {name} answers {got[:2]} {got[3]}, ferry {ref[:2]} {ref[3]}", file=sys.stderr)
        bad = True
sys.exit(1 if bad else 0)
PY

# ---- wrk --------------------------------------------------------------------------
bench() { # SERVER ENDPOINT CONNS SECONDS -> the BENCH json line
  local out line threads=$WRK_THREADS
  [ "$threads" -le "$3" ] || threads=$3
  out=$(BODY_FILE="$TMP/$2.json" timeout $(($4 + 30)) wrk -t"$threads" -c"$3" -d"$4"s \
    --timeout 5s -s bench/serve/post.lua "http://127.0.0.1:${PORT[$1]}${EP_PATH[$2]}" 2>&1) ||
    die "wrk against $1 failed: $out"
  line=$(printf '%s\n' "$out" | sed -n 's/^BENCH //p')
  [ -n "$line" ] || die "wrk printed no result: $out"
  kill -0 "${PID_OF[$1]}" 2>/dev/null || {
    tail -20 "$TMP/$1.log" >&2
    die "$1 died during the benchmark"
  }
  printf '%s\n' "$line"
}

log "warming up (${WARMUP} s per server and endpoint, 16 connections)"
for s in "${SERVERS[@]}"; do
  for ep in predict v2; do bench "$s" "$ep" 16 "$WARMUP" >/dev/null; done
done

n=$(($(echo "$CONNS" | wc -w) * 2 * ${#SERVERS[@]} * ROUNDS))
log "measuring: $n wrk runs of $SECS s (${ROUNDS} round(s)), servers interleaved"
: >"$TMP/results"
for r in $(seq "$ROUNDS"); do
  order=("${SERVERS[@]:$(((r - 1) % ${#SERVERS[@]}))}" "${SERVERS[@]:0:$(((r - 1) % ${#SERVERS[@]}))}")
  for c in $CONNS; do
    for ep in predict v2; do
      for s in "${order[@]}"; do
        line=$(bench "$s" "$ep" "$c" "$SECS")
        printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$ep" "$c" "$s" "$line" >>"$TMP/results"
        log "round $r, $ep, $c conn, $s: $line"
      done
    done
  done
done

# ---- the table --------------------------------------------------------------------
"$PY" - "$TMP/results" "$SECS" "$ROUNDS" "$WRK_THREADS" <<'PY'
import collections, json, statistics, sys
path, secs, rounds, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
runs = collections.defaultdict(list)
for line in open(path):
    r, ep, c, s, js = line.rstrip("\n").split("\t")
    d = json.loads(js)
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    runs[(ep, int(c), s)].append(d)
med = {}
for k, v in runs.items():
    med[k] = {"rps": statistics.median(x["rps"] for x in v),
              "p50": statistics.median(x["p50_us"] for x in v) / 1000,
              "p99": statistics.median(x["p99_us"] for x in v) / 1000,
              "errors": sum(x["errors"] for x in v),
              "requests": sum(x["requests"] for x in v)}
eps = ["predict", "v2"]
label = {"predict": "POST /predict", "v2": "POST /v2/models/fashion-cnn/infer"}
names = {"ferry": "ferry (defaults)", "ferry-tuned": "ferry (tuned)",
         "ferry-nobatch": "ferry (no batching)",
         "fastapi": "FastAPI + PyTorch", "node": "Node + onnxruntime"}
conns = sorted({k[1] for k in med})
what = "median of %d rounds" % rounds if rounds > 1 else "one round"
print(f"\nwrk, {threads} thread(s), {secs} s per run, {what}; p50/p99 in ms; "
      "errors = socket errors + non-2xx (summed over rounds)\n")
print("| endpoint | conns | server | req/s | p50 ms | p99 ms | errors | ferry/FastAPI | ferry/Node |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for ep in eps:
    for c in conns:
        for s in ["ferry", "ferry-tuned", "ferry-nobatch", "fastapi", "node"]:
            m = med.get((ep, c, s))
            if not m:
                continue
            rf = rn = "—"
            if s.startswith("ferry"):
                rf = "%.1fx" % (m["rps"] / med[(ep, c, "fastapi")]["rps"])
                rn = "%.1fx" % (m["rps"] / med[(ep, c, "node")]["rps"])
            print(f"| {label[ep]} | {c} | {names[s]} | {m['rps']:.0f} | {m['p50']:.2f} | "
                  f"{m['p99']:.2f} | {m['errors']} | {rf} | {rn} |")
top = max(conns)
print(f"\nGoals (at {top} connections; errors over every run):")
for s in [s for s in ["ferry", "ferry-tuned", "ferry-nobatch"] if (eps[0], top, s) in med]:
    for ep in eps:
        m, f, n = med[(ep, top, s)], med[(ep, top, "fastapi")], med[(ep, top, "node")]
        rf, rn = m["rps"] / f["rps"], m["rps"] / n["rps"]
        print(f"  {names[s]}, {label[ep]}: "
              f"{rf:.1f}x FastAPI ({'met' if rf >= 10 else 'NOT met'}, goal 10x), "
              f"{rn:.1f}x Node ({'met' if rn >= 3 else 'NOT met'}, goal 3x), "
              f"p99 {m['p99']:.2f} ms ({'met' if m['p99'] <= 5 else 'NOT met'}, goal 5 ms)")
    errs = sum(m["errors"] for k, m in med.items() if k[2] == s)
    reqs = sum(m["requests"] for k, m in med.items() if k[2] == s)
    print(f"  {names[s]}: {errs} errors in {reqs} requests ({'met' if errs == 0 else 'NOT met'}, goal 0)")
for s in ["fastapi", "node"]:
    errs = sum(m["errors"] for k, m in med.items() if k[2] == s)
    print(f"  {names[s]}: {errs} errors")
PY

log "done in $(($(date +%s) - T0)) s"
