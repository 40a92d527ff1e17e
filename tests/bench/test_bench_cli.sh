#!/bin/sh
# ferry bench and ferry doctor through the command: bench against a real `ferry
# serve` on a free loopback port (counted run, dataset bodies, JSON, 4xx errors,
# exit codes), bench --model in-process, and doctor's exit codes and JSON with a
# package, a failing manifest, a broken manifest and a fake /proc root.
# Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
PY=/usr/bin/python3
EX=examples/fashion-mnist
DS="idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

check() { # NAME CONDITION-COMMAND...
  name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -8; fi
}
exit_is() { # WANT COMMAND...
  want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: exit $got, want $want: $*"; tail -n 5 "$T/err" "$T/out"; fi
}
json_is() { # FILE PYTHON-EXPRESSION-ON-j
  $PY -c "import json,sys; j=json.load(open('$1')); sys.exit(0 if ($2) else 1)"
}

"$FERRY" pack "$EX" -o "$T/fashion.ferry" >/dev/null || { echo "pack failed"; exit 1; }

"$FERRY" serve "$T/fashion.ferry" --port 0 --quiet --log "$T/log.jsonl" 2>"$T/stderr" &
PID=$!
PORT=""
for i in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/stderr" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start"; cat "$T/stderr"; exit 1; }
URL="http://127.0.0.1:$PORT"

exit_is 0 "$FERRY" bench "$URL/predict/fashion-cnn" --dataset "$DS" -c 4 -n 300 --warmup 0.2 --json
cp "$T/out" "$T/bench.json"
check "bench counted 300 ok" json_is "$T/bench.json" "j['requests'] == 300 and j['ok'] == 300 and j['error_total'] == 0"
check "bench percentiles ordered" json_is "$T/bench.json" \
  "0 < j['latency_ms']['min'] <= j['latency_ms']['p50'] <= j['latency_ms']['p99'] <= j['latency_ms']['max']"
check "bench kept connections alive" json_is "$T/bench.json" "j['connects'] == 4"

exit_is 0 "$FERRY" bench "$URL/predict/fashion-cnn" --dataset "$DS" -c 2 --rate 200 -d 1
check "open loop output" grep -q "open loop at 200 requests/s" "$T/out"

exit_is 1 "$FERRY" bench "$URL/predict/missing" --dataset "$DS" -n 5 --json
check "404s counted" json_is "$T/out" "j['errors']['status_4xx'] == 5"
exit_is 0 "$FERRY" bench "$URL/v2/health/ready" -n 20 -c 2
printf '{"image": [1, 2' >"$T/bad.json"
exit_is 1 "$FERRY" bench "$URL/predict/fashion-cnn" --body "$T/bad.json" -n 3 --json
check "400s counted" json_is "$T/out" "j['errors']['status_4xx'] == 3"
kill -TERM "$PID"; wait "$PID"; PID=""

exit_is 1 "$FERRY" bench "$URL/" -n 3 --json
check "connect errors after stop" json_is "$T/out" "j['errors']['connect'] == 3"
exit_is 3 "$FERRY" bench "https://127.0.0.1:$PORT/" -n 1
exit_is 2 "$FERRY" bench
exit_is 2 "$FERRY" bench "$URL/" --rate -5
exit_is 5 "$FERRY" bench "$URL/" --body "$T/does-not-exist"
exit_is 0 "$FERRY" bench --model "$T/fashion.ferry" -n 50 -c 2 --json
check "in-process model" json_is "$T/out" "j['ok'] == 50"

# doctor
exit_is 0 "$FERRY" doctor
check "doctor names the CPU" grep -q "^cpu:" "$T/out"
exit_is 0 "$FERRY" doctor "$T/fashion.ferry" --json
check "doctor JSON passes" json_is "$T/out" "j['requirements']['passed'] and len(j['requirements']['checks']) == 5"
sed -e 's/arch: \[x86_64, aarch64\]/arch: [s390x]/' -e 's/min_memory_mb: 64/min_memory_mb: 1073741824/' \
  "$EX/ferry.yaml" >"$T/ferry.yaml"
exit_is 1 "$FERRY" doctor "$T/ferry.yaml" --json
check "doctor reports failures" json_is "$T/out" \
  "[c['name'] for c in j['requirements']['checks'] if c['status'] == 'fail'] == ['arch', 'memory']"
exit_is 1 "$FERRY" doctor "$T/ferry.yaml"
check "doctor says why" grep -q "FAIL arch" "$T/out"
printf 'apiVersion: ferry/v1\nname: Bad Name\n' >"$T/broken.yaml"
exit_is 3 "$FERRY" doctor "$T/broken.yaml"
exit_is 5 "$FERRY" doctor "$T/nothing-here.yaml"
exit_is 2 "$FERRY" doctor --bogus
mkdir -p "$T/root/proc/self" "$T/root/sys/fs/cgroup"
printf '0::/\n' >"$T/root/proc/self/cgroup"
printf 'cpu memory\n' >"$T/root/sys/fs/cgroup/cgroup.controllers"
printf '50000 100000\n' >"$T/root/sys/fs/cgroup/cpu.max"
printf '33554432\n' >"$T/root/sys/fs/cgroup/memory.max"
printf 'MemTotal: 8388608 kB\nMemAvailable: 8000000 kB\n' >"$T/root/proc/meminfo"
exit_is 1 "$FERRY" doctor "$EX/ferry.yaml" --root "$T/root" --json
check "doctor sees the fake cgroup" json_is "$T/out" \
  "j['cpu']['quota_cpus'] == 0.5 and j['memory']['cgroup_limit_bytes'] == 33554432 and [c['name'] for c in j['requirements']['checks'] if c['status'] == 'fail'] == ['memory']"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
