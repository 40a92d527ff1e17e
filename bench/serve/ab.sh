#!/bin/bash
# A/B of two ferry builds (or two sets of serve options) serving the Fashion-MNIST
# example, for changes smaller than the shared machine's drift: the two sides run
# in alternation, round after round, and the summary gives the median of each
# round's ratio B/A (requests/s, and the server's CPU time per request read from
# /proc), which cancels most of the drift between rounds.
#
# Usage: bench/serve/ab.sh BIN_A BIN_B
#   e.g. bench/serve/ab.sh /tmp/ferry.old build/ferry
#        AB_ARGS_B="--engine-threads 1" bench/serve/ab.sh build/ferry build/ferry
# Environment: AB_ROUNDS (8), AB_SECONDS (3, per wrk run), AB_CONNS (64),
#              AB_ENDPOINT (predict or v2; default predict), AB_ARGS_A and AB_ARGS_B
#              (extra `ferry serve` options per side), AB_WARMUP (1 s per start).
# Needs wrk, curl and python3 (bench/serve/run.sh installs them). Prints a Markdown
# table and one JSON line ("AB {...}"). Exit: 0 done, 1 a server did not start or
# wrk failed, 2 usage.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help)
  usage
  exit 0
  ;;
esac
[ $# -eq 2 ] || {
  usage >&2
  exit 2
}
A=$1
B=$2
ROUNDS=${AB_ROUNDS:-8}
SECS=${AB_SECONDS:-3}
CONNS=${AB_CONNS:-64}
EP=${AB_ENDPOINT:-predict}
WARMUP=${AB_WARMUP:-1}
PY=/usr/bin/python3
case "$EP" in
predict) EP_PATH=/predict ;;
v2) EP_PATH=/v2/models/fashion-cnn/infer ;;
*)
  echo "ab: AB_ENDPOINT must be predict or v2" >&2
  exit 2
  ;;
esac
for x in "$A" "$B"; do
  [ -x "$x" ] || {
    echo "ab: $x is not an executable" >&2
    exit 2
  }
done
for t in wrk curl "$PY"; do
  command -v "$t" >/dev/null || {
    echo "ab: $t is missing (bench/serve/run.sh installs it)" >&2
    exit 1
  }
done

TMP=$(mktemp -d /tmp/ferry-bench-ab.XXXXXX)
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$PY" bench/serve/bodies.py "$TMP"
cp "$A" "$TMP/ferry-a"
cp "$B" "$TMP/ferry-b" # rebuilds during the run do not touch what is measured
TICK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# one_run SIDE -> appends "SIDE REQUESTS SECONDS P50_US P99_US ERRORS CPU_TICKS" to results
one_run() {
  local side=$1 args port
  if [ "$side" = a ]; then args=${AB_ARGS_A:-}; else args=${AB_ARGS_B:-}; fi
  port=$(free_port)
  # shellcheck disable=SC2086
  "$TMP/ferry-$side" serve examples/fashion-mnist --port "$port" --quiet $args \
    >"$TMP/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 900); do
    curl -sf -m 1 "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  curl -sf -m 1 "http://127.0.0.1:$port/v2/health/ready" >/dev/null || {
    echo "ab: server $side did not become ready:" >&2
    tail -5 "$TMP/serve.log" >&2
    exit 1
  }
  BODY_FILE="$TMP/$EP.json" wrk -t1 -c"$CONNS" -d"$WARMUP"s -s bench/serve/post.lua \
    "http://127.0.0.1:$port$EP_PATH" >/dev/null 2>&1 || true
  local c0 c1 line
  c0=$(cpu_ticks "$PID")
  line=$(BODY_FILE="$TMP/$EP.json" timeout $((SECS + 30)) wrk -t1 -c"$CONNS" -d"$SECS"s \
    --timeout 5s -s bench/serve/post.lua "http://127.0.0.1:$port$EP_PATH" | sed -n 's/^BENCH //p') ||
    line=""
  c1=$(cpu_ticks "$PID")
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
  [ -n "$line" ] || {
    echo "ab: wrk gave no result for side $side" >&2
    exit 1
  }
  echo "$side $((c1 - c0)) $line" >>"$TMP/results"
}

echo "ab: $ROUNDS rounds of $SECS s, $CONNS connections, $EP_PATH; A=$A ${AB_ARGS_A:-}, B=$B ${AB_ARGS_B:-}" >&2
for r in $(seq "$ROUNDS"); do
  # alternate which side goes first, so neither always follows the other
  if [ $((r % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
  for side in $order; do one_run "$side"; done
  echo "ab: round $r of $ROUNDS done" >&2
done

"$PY" - "$TMP/results" "$TICK" "$ROUNDS" <<'PY'
import json, statistics as st, sys
tick, rounds = int(sys.argv[2]), int(sys.argv[3])
runs = {"a": [], "b": []}
for line in open(sys.argv[1]):
    side, ticks, js = line.split(" ", 2)
    d = json.loads(js)
    rps = d["requests"] / (d["duration_us"] / 1e6)
    cpu_us = int(ticks) / tick * 1e6 / max(d["requests"], 1)
    runs[side].append({"rps": rps, "p50": d["p50_us"] / 1e3, "p99": d["p99_us"] / 1e3,
                       "cpu_us": cpu_us, "errors": d["errors"]})
a, b = runs["a"], runs["b"]
med = lambda xs: st.median(xs)
ratio = lambda k: med([y[k] / x[k] for x, y in zip(a, b) if x[k] > 0])
print("| side | req/s | p50 ms | p99 ms | server CPU µs/request | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for name, rs in (("A", a), ("B", b)):
    print(f"| {name} | {med([r['rps'] for r in rs]):.0f} | {med([r['p50'] for r in rs]):.2f} | "
          f"{med([r['p99'] for r in rs]):.2f} | {med([r['cpu_us'] for r in rs]):.1f} | "
          f"{sum(r['errors'] for r in rs)} |")
print(f"\nmedians of {rounds} rounds; B/A per round, median: requests/s {ratio('rps'):.3f}, "
      f"CPU per request {ratio('cpu_us'):.3f}, p99 {ratio('p99'):.3f}")
print("AB " + json.dumps({
    "rounds": rounds,
    "a": {k: med([r[k] for r in a]) for k in ("rps", "p50", "p99", "cpu_us")},
    "b": {k: med([r[k] for r in b]) for k in ("rps", "p50", "p99", "cpu_us")},
    "ratio_b_over_a": {k: ratio(k) for k in ("rps", "p99", "cpu_us")},
    "errors": {"a": sum(r["errors"] for r in a), "b": sum(r["errors"] for r in b)}}))
PY
