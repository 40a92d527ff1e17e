#!/bin/sh
# ferry verify through the command: in-process with the manifest's standards,
# a failing gate, reports in Markdown and JSON, a running `ferry serve` by URL with
# smoke requests and an API key, and the exit codes. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
PY=/usr/bin/python3
EX=examples/fashion-mnist
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
check() { name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -8; fi; }
exit_is() { want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: exit $got, want $want: $*"; tail -n 5 "$T/err" "$T/out"; fi; }
json_is() { $PY -c "import json,sys; j=json.load(open('$1')); sys.exit(0 if ($2) else 1)"; }

"$FERRY" pack "$EX" -o "$T/fashion.ferry" >/dev/null || { echo "pack failed"; exit 1; }

# latency and throughput are measured, not gated: tests never assert timings
exit_is 0 "$FERRY" verify "$T/fashion.ferry" --limit 500 -n 200 -c 4 --warmup 0.1 --max-p99-ms 0 --min-throughput 0 \
  --report-md "$T/r.md" --report-json "$T/r.json"
check "summary passed" grep -q "fashion-cnn 1.0.0: PASSED (4 checks, 0 failed" "$T/out"
check "markdown report" grep -q "^# Verification of fashion-cnn 1.0.0: PASSED" "$T/r.md"
check "json report" json_is "$T/r.json" \
  "j['passed'] and j['accuracy']['count'] == 500 and j['load']['requests'] == 200 and [c['name'] for c in j['checks']] == ['accuracy', 'p99_latency_ms', 'throughput_per_s', 'errors']"

exit_is 1 "$FERRY" verify "$T/fashion.ferry" --limit 200 --min-accuracy 0.99 --max-p99-ms 0 --min-throughput 0 --json
check "failing gate in JSON" json_is "$T/out" "not j['passed'] and j['checks'][0]['name'] == 'accuracy' and not j['checks'][0]['passed']"

# a running server with API keys, by URL
printf 'infer %s ci\n' "$(printf %s s3cret | sha256sum | cut -c1-64)" >"$T/keys"
printf 's3cret\n' >"$T/key"
"$FERRY" serve "$T/fashion.ferry" --port 0 --quiet --keys "$T/keys" --log "$T/log.jsonl" 2>"$T/stderr" &
PID=$!
PORT=""
for i in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/stderr" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start"; cat "$T/stderr"; exit 1; }
IMG=$($PY -c "
import gzip
d = gzip.open('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz').read()[16:16+784]
print('{\"instances\": [' + str(list(d)) + ']}')")
printf '%s' "$IMG" >"$T/boot.json"
exit_is 0 "$FERRY" verify --url "http://127.0.0.1:$PORT" --model-name fashion-cnn --api-key-file "$T/key" \
  --smoke "$T/boot.json" --expect-class 9 --expect-label "Ankle boot"
check "smoke passed" grep -q "pass     smoke: " "$T/out"
exit_is 1 "$FERRY" verify --url "http://127.0.0.1:$PORT" --model-name fashion-cnn \
  --smoke "$T/boot.json" --expect-class 9
check "no key: 401" grep -q "HTTP 401" "$T/out"
exit_is 1 "$FERRY" verify --url "http://127.0.0.1:$PORT" --model-name fashion-cnn --api-key-file "$T/key" \
  --smoke "$T/boot.json" --expect-label "Sneaker"
exit_is 0 "$FERRY" verify "$T/fashion.ferry" --url "http://127.0.0.1:$PORT/" --api-key-file "$T/key" \
  --limit 128 -n 50 --warmup 0.1 --max-p99-ms 0 --min-throughput 0
kill -TERM "$PID"; wait "$PID"; PID=""

exit_is 5 "$FERRY" verify "$T/fashion.ferry" --url "http://127.0.0.1:$PORT" --limit 10
exit_is 2 "$FERRY" verify
exit_is 2 "$FERRY" verify "$T/fashion.ferry" --min-accuracy 7
exit_is 3 "$FERRY" verify "$EX/ferry.yaml"
exit_is 5 "$FERRY" verify "$T/fashion.ferry" --smoke "$T/nothing.json"
exit_is 5 "$FERRY" verify "$T/fashion.ferry" --no-accuracy --max-p99-ms 0 --min-throughput 0 --report-md "$T/no/such/dir/r.md"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
