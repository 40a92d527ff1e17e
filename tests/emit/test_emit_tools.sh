#!/bin/sh
# The emitted files checked by the tools that consume them: kubectl decodes the
# Kubernetes objects offline (`set resources --local` decodes the Deployment into
# its typed struct, so a wrong field type fails; `label --local` reads every
# object), promtool checks the alerting rules, systemd-analyze verifies the unit,
# the dashboard is JSON, and every ferry_* metric the rules and dashboard use is one
# a running `ferry serve` exports (or the supervisor's ferry_worker_restarts_total).
# Also `ferry emit` exit codes. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
PY=/usr/bin/python3
EX=examples/fashion-mnist
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
ok() { # NAME COMMAND...
  name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -12; fi
}
exit_is() { # WANT COMMAND...
  want=$1; shift
  "$@" >"$T/out" 2>"$T/err"; got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: exit $got, want $want: $*"; cat "$T/err"; fi
}
for tool in kubectl promtool systemd-analyze; do
  command -v $tool >/dev/null || { echo "FAIL: $tool is missing: run make deps"; echo "0 passed, 1 failed"; exit 1; }
done

"$FERRY" pack "$EX" -o "$T/fashion.ferry" >/dev/null || { echo "pack failed"; exit 1; }
OUT="$T/out-files"
exit_is 0 "$FERRY" emit all "$T/fashion.ferry" -o "$OUT" --registry registry.example/ml \
  --auth-secret fashion-keys --namespace ml --replicas 3 --max-replicas 6 --cpu-limit 2000
for f in deployment service hpa pdb; do
  ok "$f.yaml read by kubectl" kubectl label --local -f "$OUT/$f.yaml" checked=yes -o name
done
ok "inferenceservice read by kubectl" kubectl label --local -f "$OUT/kserve/inferenceservice.yaml" checked=yes -o name
ok "deployment decodes into apps/v1" kubectl set resources --local -f "$OUT/deployment.yaml" --requests=cpu=500m -o yaml
# the typed decode is strict about types: a broken copy must fail
sed 's/replicas: 3/replicas: "three"/' "$OUT/deployment.yaml" >"$T/broken.yaml"
ok "kubectl refuses a broken deployment" sh -c "! kubectl set resources --local -f '$T/broken.yaml' --requests=cpu=1 -o yaml"
ok "kubectl apply set" sh -c "kubectl label --local -f '$OUT' x=y -o name 2>/dev/null | sort | tr '\n' ' ' | grep -q 'deployment.apps/fashion-cnn horizontalpodautoscaler.autoscaling/fashion-cnn poddisruptionbudget.policy/fashion-cnn service/fashion-cnn'"
ok "image from the registry" grep -q 'image: "registry.example/ml/fashion-cnn:1.0.0"' "$OUT/deployment.yaml"

ok "promtool check rules" promtool check rules "$OUT/fashion-cnn-alerts.yaml"
ok "dashboard is JSON" $PY -c "import json; d=json.load(open('$OUT/fashion-cnn-dashboard.json')); assert len(d['panels']) == 10"
# systemd-analyze needs the binary and the environment file to exist
sed -e "s#^ExecStart=/usr/local/bin/ferry#ExecStart=$(readlink -f "$FERRY")#" \
    -e "s#^EnvironmentFile=.*#EnvironmentFile=$OUT/fashion-cnn.env#" \
    "$OUT/fashion-cnn.service" >"$T/fashion-cnn.service"
ok "systemd-analyze verify" sh -c "systemd-analyze verify '$T/fashion-cnn.service' >'$T/sa' 2>&1; cat '$T/sa'; ! grep -v 'resolve user' '$T/sa' | grep -q ."

# every metric used exists on a live server
"$FERRY" serve "$T/fashion.ferry" --port 0 --quiet --log "$T/log.jsonl" 2>"$T/stderr" &
PID=$!
PORT=""
for i in $(seq 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/stderr" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not start"; cat "$T/stderr"; exit 1; }
"$FERRY" bench "http://127.0.0.1:$PORT/predict/fashion-cnn" --dataset \
  "idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz" \
  -n 5 >/dev/null
curl -s -m 10 "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
kill -TERM "$PID"; wait "$PID"; PID=""
grep -oh 'ferry_[a-z_]*\|process_[a-z_]*' "$OUT/fashion-cnn-alerts.yaml" "$OUT/fashion-cnn-dashboard.json" | sort -u >"$T/used"
ok "metrics used were found" test -s "$T/used"
while read -r m; do
  [ "$m" = ferry_worker_restarts_total ] && continue
  base=$(echo "$m" | sed 's/_bucket$//; s/_sum$//; s/_count$//')
  ok "metric $m exported" grep -q "^# TYPE $base " "$T/metrics"
done <"$T/used"

# exit codes
exit_is 2 "$FERRY" emit kubernetes "$T/fashion.ferry" -o "$T/x"
exit_is 2 "$FERRY" emit nonsense "$T/fashion.ferry" -o "$T/x"
exit_is 3 "$FERRY" emit kubernetes "$T/fashion.ferry" -o "$T/x" --image 'bad image'
exit_is 3 "$FERRY" emit monitoring "$EX/ferry.yaml" -o "$T/x" --alert-selector 'job="a"}'
exit_is 0 "$FERRY" emit monitoring "$EX/ferry.yaml" -o "$T/mon"
ok "p99 alert from the manifest's test standard" grep -q '> 0.1$' "$T/mon/fashion-cnn-alerts.yaml"
touch "$T/file"
exit_is 5 "$FERRY" emit systemd "$EX/ferry.yaml" -o "$T/file"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
