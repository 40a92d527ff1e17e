#!/bin/sh
# ferry deploy end to end on this machine: a blue-green deploy of the example under
# a load that must see no failed request; a bad version (shuffled weights, below
# the accuracy gate) rolled back with the old one serving; a worker killed with
# SIGKILL restarted and counted; concurrent deploys serialized; a deployer killed
# mid-deploy recorded as interrupted; rollback; history and audit entries; stop.
# Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$(cd "$BUILD" && pwd)/ferry"
EX=examples/fashion-mnist
T=$(mktemp -d /tmp/fydeploy.XXXXXX)
ST="$T/st"
PY=/usr/bin/python3
LOADPIDS=""
cleanup() {
  touch "$T/stop-load"
  for p in $LOADPIDS; do kill "$p" 2>/dev/null; done
  "$FERRY" stop fashion --state-dir "$ST" >/dev/null 2>&1
  # a supervisor that would not stop: by its pid file, never by name
  if [ -f "$ST/services/fashion/supervisor.pid" ]; then
    kill -9 "$(cat "$ST/services/fashion/supervisor.pid")" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
pass=0; fail=0
check() { # NAME COMMAND...
  name=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}
json_get() { # FILE PYTHON-EXPR over j
  $PY -c "import json,sys; j=json.load(open('$1')); print($2)"
}

# a free loopback port for the service
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"

# the example, copied so versions can be made beside it
mkdir -p "$T/v1" && cp "$EX/fashion_cnn.onnx" "$EX/ferry.yaml" "$EX/labels.txt" \
  "$EX/smoke-ankle-boot.json" "$T/v1/"
mkspec() { # DIR: a deploy.yaml for the version in DIR
  cat >"$1/deploy.yaml" <<EOF
apiVersion: ferry/v1
service: fashion
model:
  path: .
serving:
  port: $PORT
  replicas: 2
strategy:
  type: blue-green
  start_timeout_s: 30
verify:
  min_accuracy: 0.85
  limit: 500
  smoke:
    - name: ankle-boot
      body_file: smoke-ankle-boot.json
      expect_label: Ankle boot
  load:
    seconds: 1
    concurrency: 2
    max_p99_ms: 2000
    min_throughput: 5
EOF
}
newversion() { # NAME VERSION [shuffle]
  mkdir -p "$T/$1" && cp "$T/v1/"* "$T/$1/"
  sed -i "s/^version: .*/version: $2/" "$T/$1/ferry.yaml"
  if [ "${3:-}" = shuffle ]; then
    $PY - "$T/$1/fashion_cnn.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
rng = np.random.default_rng(7)
for i, t in enumerate(m.graph.initializer):
    a = numpy_helper.to_array(t)
    if a.dtype == np.float32 and a.size > 1:
        b = rng.permutation(a.reshape(-1)).reshape(a.shape)
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(b, t.name))
onnx.save(m, sys.argv[1])
PY
  fi
  mkspec "$T/$1"
}
mkspec "$T/v1"

deploy() { # DIR [args]: runs ferry deploy, output in $T/out, exit in $rc
  d=$1; shift
  "$FERRY" deploy "$d/deploy.yaml" --state-dir "$ST" "$@" >"$T/out" 2>&1
  rc=$?
}

# --- first deploy -------------------------------------------------------------
deploy "$T/v1"
check "first deploy promoted (exit $rc)" test "$rc" -eq 0
check "prints the URL" grep -q "is live on $URL" "$T/out"
check "prints a curl command" grep -q "curl -s" "$T/out"
[ "$rc" -eq 0 ] || cat "$T/out"
check "predictions through the public port" sh -c "curl -s -m 10 -H 'Content-Type: application/json' \
  --data-binary @$T/v1/smoke-ankle-boot.json $URL/predict | grep -q 'Ankle boot'"

# the front relays every protocol, status and body as the workers answer them
check "front: readiness" sh -c "curl -s -m 5 $URL/healthz/ready | grep -q ready"
check "front: KServe V2 metadata" sh -c "curl -s -m 5 $URL/v2/models/fashion-cnn | grep -q '\"name\"'"
check "front: a worker's 404 passes through" sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' -m 5 $URL/nope)\" = 404"
check "front: a worker's 400 passes through" sh -c "test \"\$(curl -s -o /dev/null -w '%{http_code}' -m 5 -d '{' $URL/predict)\" = 400"
check "front: supervisor metrics appended" sh -c "curl -s -m 5 $URL/metrics | grep -q '^ferry_supervisor_traffic_percent{service=\"fashion\",version=\"1.0.0\"} 100'"
curl -s -m 10 "$URL/metrics" >"$T/front-metrics.txt"
check "front: metrics of both workers, labelled" sh -c "grep -q 'ferry_worker=\"1.0.0/0\"' $T/front-metrics.txt && grep -q 'ferry_worker=\"1.0.0/1\"' $T/front-metrics.txt"
# promtool parses and lints the merged exposition: only Triton's own names
# (nv_inference_*, offered unchanged for existing dashboards) may draw lint remarks
check "front: merged metrics pass promtool" sh -c "promtool check metrics <$T/front-metrics.txt >$T/promtool.txt 2>&1 || ! grep -v '^nv_inference_' $T/promtool.txt | grep -q ."

# --- load throughout a blue-green deploy: zero failed requests ----------------
rm -f "$T/stop-load"
loop() { # curl per request (new connection each time)
  while [ ! -f "$T/stop-load" ]; do
    curl -s -o /dev/null -m 20 -w '%{http_code}\n' -H 'Content-Type: application/json' \
      --data-binary @"$T/v1/smoke-ankle-boot.json" "$URL/predict"
  done
}
loop >"$T/codes1" 2>&1 & LOADPIDS="$LOADPIDS $!"
loop >"$T/codes2" 2>&1 & LOADPIDS="$LOADPIDS $!"
# and one keep-alive client: its connection must survive the switch
$PY - "$PORT" "$T/v1/smoke-ankle-boot.json" "$T/stop-load" >"$T/codes3" 2>&1 <<'PY' & LOADPIDS="$LOADPIDS $!"
import http.client, os, sys
body = open(sys.argv[2], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
while not os.path.exists(sys.argv[3]):
    try:
        c.request("POST", "/predict", body, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        print(r.status, flush=True)
    except Exception as e:
        print("error", type(e).__name__, e, flush=True)
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
PY
sleep 1
newversion v2 1.1.0
deploy "$T/v2"
check "blue-green deploy of 1.1.0 under load promoted (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$T/out"
sleep 1
touch "$T/stop-load"
for p in $LOADPIDS; do wait "$p" 2>/dev/null; done
LOADPIDS=""
total=$(cat "$T/codes1" "$T/codes2" "$T/codes3" | wc -l)
bad=$(cat "$T/codes1" "$T/codes2" "$T/codes3" | grep -cv '^200$')
echo "load during the blue-green deploy: $total requests, $bad failed"
check "requests ran during the deploy ($total)" test "$total" -gt 20
check "zero failed requests during the deploy ($bad)" test "$bad" -eq 0
[ "$bad" -eq 0 ] || (cat "$T/codes1" "$T/codes2" "$T/codes3" | grep -v '^200$' | sort | uniq -c | head)
"$FERRY" status --json --state-dir "$ST" >"$T/status.json"
check "1.1.0 is live" test "$(json_get "$T/status.json" 'j["services"][0]["live_version"]')" = 1.1.0
check "only 1.1.0 runs" test "$(json_get "$T/status.json" '[v["version"] for v in j["services"][0]["supervisor"]["versions"]]')" = "['1.1.0']"

# --- a bad version: below the accuracy gate, rolled back ----------------------
newversion bad 1.2.0 shuffle
deploy "$T/bad"
check "bad version: exit 1 (rolled back), got $rc" test "$rc" -eq 1
check "says why: accuracy" grep -q "FAIL accuracy" "$T/out"
check "old version still serves" sh -c "curl -s -m 10 -H 'Content-Type: application/json' \
  --data-binary @$T/v1/smoke-ankle-boot.json $URL/predict | grep -q 'Ankle boot'"
"$FERRY" status --json --state-dir "$ST" >"$T/status.json"
check "1.1.0 still live" test "$(json_get "$T/status.json" 'j["services"][0]["live_version"]')" = 1.1.0
check "bad version retired" test "$(json_get "$T/status.json" '[v["version"] for v in j["services"][0]["supervisor"]["versions"]]')" = "['1.1.0']"
"$FERRY" history --json --state-dir "$ST" >"$T/hist.json"
check "history: rolled_back with a failed verify stage" test "$(json_get "$T/hist.json" \
  'j[0]["status"] + " " + [s["outcome"] for s in j[0]["stages"] if s["stage"] == "verify"][0]')" = "rolled_back failed"

# --- a worker killed with SIGKILL is restarted and counted --------------------
pid=$(json_get "$T/status.json" 'j["services"][0]["supervisor"]["versions"][0]["workers"][0]["pid"]')
rm -f "$T/stop-load"
loop >"$T/codes4" 2>&1 & LOADPIDS="$LOADPIDS $!"
loop >"$T/codes5" 2>&1 & LOADPIDS="$LOADPIDS $!"
sleep 0.5
kill -9 "$pid"
restarted=0
for i in $(seq 100); do
  "$FERRY" status --json --state-dir "$ST" >"$T/status.json"
  r=$(json_get "$T/status.json" 'j["services"][0]["supervisor"]["versions"][0]["restarts"]')
  rd=$(json_get "$T/status.json" 'j["services"][0]["supervisor"]["versions"][0]["ready"]')
  if [ "$r" -ge 1 ] && [ "$rd" -eq 2 ]; then restarted=1; break; fi
  sleep 0.1
done
check "killed worker restarted (restarts $r, ready $rd)" test "$restarted" -eq 1
sleep 0.5
touch "$T/stop-load"
for p in $LOADPIDS; do wait "$p" 2>/dev/null; done
LOADPIDS=""
total=$(cat "$T/codes4" "$T/codes5" | wc -l)
bad=$(cat "$T/codes4" "$T/codes5" | grep -cv '^200$')
echo "load while a worker was killed: $total requests, $bad failed"
check "zero failed requests while a worker was killed ($bad of $total)" test "$bad" -eq 0
check "audit: the restart recorded" sh -c "'$FERRY' history --audit --json --state-dir '$ST' | grep -q 'worker_restart'"
check "restart counted in /metrics" sh -c "curl -s -m 10 $URL/metrics | \
  grep -q 'ferry_supervisor_worker_restarts_total{service=\"fashion\",version=\"1.1.0\"} [1-9]'"
check "the supervisor log says so" grep -q "exited (signal 9)" "$ST/services/fashion/supervisor.log"

# --- two deploys at once: the second is refused with a clear message ----------
newversion v3 1.3.0
"$FERRY" deploy "$T/v3/deploy.yaml" --state-dir "$ST" >"$T/out3" 2>&1 &
first=$!
for i in $(seq 50); do grep -q "^stage: start" "$T/out3" 2>/dev/null && break; sleep 0.1; done
deploy "$T/v3"
check "concurrent deploy refused with exit 7 (got $rc)" test "$rc" -eq 7
check "names the other deploy" grep -q "error: another deploy of fashion is running (pid" "$T/out"
wait "$first"; rc1=$?
check "the first deploy finished (exit $rc1)" test "$rc1" -eq 0

# --- a deployer killed mid-deploy: old version serves, history says interrupted
newversion v4 1.4.0
"$FERRY" deploy "$T/v4/deploy.yaml" --state-dir "$ST" >"$T/out4" 2>&1 &
victim=$!
for i in $(seq 100); do grep -q "^verify: start" "$T/out4" 2>/dev/null && break; sleep 0.05; done
kill -9 "$victim"; wait "$victim" 2>/dev/null
check "after the kill the live version still answers" sh -c "curl -s -m 10 -H 'Content-Type: application/json' \
  --data-binary @$T/v1/smoke-ankle-boot.json $URL/predict | grep -q 'Ankle boot'"

# --- rollback to the version before (this also finds the interrupted record) ---
"$FERRY" rollback --state-dir "$ST" >"$T/out" 2>&1; rc=$?
check "rollback exit 0 (got $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$T/out"
"$FERRY" status --json --state-dir "$ST" >"$T/status.json"
check "rollback: 1.1.0 live again" test "$(json_get "$T/status.json" 'j["services"][0]["live_version"]')" = 1.1.0
check "rollback: the stray 1.4.0 is gone" test "$(json_get "$T/status.json" '[v["version"] for v in j["services"][0]["supervisor"]["versions"]]')" = "['1.1.0']"
"$FERRY" history --json --state-dir "$ST" --limit 50 >"$T/hist.json"
check "history: the killed deploy is interrupted" test "$(json_get "$T/hist.json" \
  '[d["status"] for d in j if d["version"] == "1.4.0"][0]')" = interrupted
check "history: the rollback is recorded" test "$(json_get "$T/hist.json" 'j[0]["kind"] + " " + j[0]["status"]')" = "rollback promoted"
"$FERRY" history --audit --json --state-dir "$ST" --limit 50 >"$T/audit.json"
check "audit: deploys, rollback and interruption, each with who" test "$(json_get "$T/audit.json" \
  'sorted(set(a["action"] + ":" + a["outcome"] for a in j if a["who"]))')" = \
  "['deploy:interrupted', 'deploy:locked', 'deploy:promoted', 'deploy:rolled_back', 'rollback:promoted', 'worker_restart:restarted']"
check "history renders" sh -c "'$FERRY' history --state-dir '$ST' | grep -q 'rolled_back'"
check "logs render" sh -c "'$FERRY' logs --all --state-dir '$ST' | grep -q 'supervisor.log'"

# --- a new version that crashes on start: rolled back, exit 8 ---------------
newversion v5 1.5.0
printf 'this is not a keys file\n' >"$T/v5/bad.keys"
sed -i 's/^  replicas: 2$/  replicas: 2\n  keys_file: bad.keys/' "$T/v5/deploy.yaml"
deploy "$T/v5"
check "crashing version: exit 8 (got $rc)" test "$rc" -eq 8
check "crashing version: says it keeps exiting" grep -q "keeps exiting before it is ready" "$T/out"
check "crashing version: the live one still answers" sh -c "curl -s -m 10 -H 'Content-Type: application/json' \
  --data-binary @$T/v1/smoke-ankle-boot.json $URL/predict | grep -q 'Ankle boot'"

# --- an IO failure while storing the package: exit 5, nothing changed -------
newversion v8 1.8.0
mkdir -p "$ST/services/fashion/versions/1.8.0.ferry.tmp"   # the copy's temporary file cannot be made
deploy "$T/v8"
check "storing the package fails: exit 5 (got $rc)" test "$rc" -eq 5
rmdir "$ST/services/fashion/versions/1.8.0.ferry.tmp"
check "IO failure: the live one still answers" sh -c "curl -s -m 10 -H 'Content-Type: application/json' \
  --data-binary @$T/v1/smoke-ankle-boot.json $URL/predict | grep -q 'Ankle boot'"
"$FERRY" history --json --state-dir "$ST" >"$T/hist.json"
check "IO failure recorded as failed" test "$(json_get "$T/hist.json" 'j[0]["version"] + " " + j[0]["status"]')" = "1.8.0 failed"

# --- canary: traffic in steps, then all -----------------------------------------
newversion v6 1.6.0
sed -i 's/^  type: blue-green$/  type: canary\n  steps: [30, 60]\n  step_seconds: 0.3/' "$T/v6/deploy.yaml"
deploy "$T/v6"
check "canary deploy promoted (exit $rc)" test "$rc" -eq 0
check "canary: steps shown" grep -q "canary: 30% of traffic on 1.6.0" "$T/out"
[ "$rc" -eq 0 ] || cat "$T/out"

# --- recreate: the old version stops first ------------------------------------
newversion v7 1.7.0
sed -i 's/^  type: blue-green$/  type: recreate/' "$T/v7/deploy.yaml"
deploy "$T/v7"
check "recreate deploy promoted (exit $rc)" test "$rc" -eq 0
check "recreate: the old version was stopped first" grep -q "recreate: stopping 1.6.0 first" "$T/out"
"$FERRY" status --json --state-dir "$ST" >"$T/status.json"
check "recreate: 1.7.0 live" test "$(json_get "$T/status.json" 'j["services"][0]["live_version"]')" = 1.7.0
check "json events, one per line, with a result" sh -c "'$FERRY' deploy '$T/v7/deploy.yaml' --json \
  --state-dir '$ST' | $PY -c 'import json,sys; e=[json.loads(l) for l in sys.stdin]; assert e[-1][\"event\"]==\"result\" and e[-1][\"exit\"]==0, e[-1]'"

# --- invalid input ---------------------------------------------------------------
printf 'apiVersion: ferry/v1\nservice: Bad_Name\nmodel: {path: .}\n' >"$T/bad.yaml"
"$FERRY" deploy "$T/bad.yaml" --state-dir "$ST" >"$T/out" 2>&1; rc=$?
check "invalid spec: exit 3" test "$rc" -eq 3
check "invalid spec: names file, line and field" grep -q "bad.yaml:2: service:" "$T/out"
check "deploy --help" sh -c "'$FERRY' deploy --help | grep -q 'exit: 0 promoted'"
for c in status history rollback logs stop supervise; do
  check "$c --help" "$FERRY" "$c" --help
done

# --- other targets: files, not processes ------------------------------------
"$FERRY" deploy "$T/v1/deploy.yaml" --target kubernetes --emit "$T/k8s" --image reg.example/fashion-cnn:1.0.0 >"$T/out" 2>&1; rc=$?
check "kubernetes --emit exit 0 (got $rc)" test "$rc" -eq 0
check "kubernetes: deployment with the spec's port" grep -q "containerPort: $PORT" "$T/k8s/deployment.yaml"
check "kubernetes: service, hpa, pdb, kserve" test -s "$T/k8s/service.yaml" -a -s "$T/k8s/hpa.yaml" -a -s "$T/k8s/pdb.yaml" -a -s "$T/k8s/kserve/inferenceservice.yaml"
check "kubernetes: alert rules pass promtool" promtool check rules "$T/k8s/fashion-alerts.yaml"
"$FERRY" deploy "$T/v1/deploy.yaml" --target systemd --emit "$T/sd" >"$T/out" 2>&1; rc=$?
check "systemd --emit exit 0 (got $rc)" test "$rc" -eq 0
check "systemd: the unit serves the service" grep -q "ExecStart=.*serve" "$T/sd/fashion.service"
"$FERRY" deploy "$T/v1/deploy.yaml" --target kubernetes --emit "$T/k8s2" >"$T/out" 2>&1; rc=$?
check "kubernetes without an image: exit 3 (got $rc)" test "$rc" -eq 3

# --- ferry init --deploy writes a starting file that parses -------------------
(cd "$T" && "$FERRY" init --deploy >/dev/null 2>&1)
check "init --deploy writes deploy.yaml" grep -q "^apiVersion: ferry/v1" "$T/deploy.yaml"
check "init --deploy refuses to overwrite" sh -c "cd '$T' && ! '$FERRY' init --deploy"

# --- stop: the port closes, the state stays ----------------------------------
"$FERRY" stop --state-dir "$ST" >"$T/out" 2>&1; rc=$?
check "stop exit 0" test "$rc" -eq 0
check "port closed after stop" sh -c "! curl -s -m 2 $URL/healthz/live"
check "status after stop" sh -c "'$FERRY' status --state-dir '$ST' | grep -q 'supervisor stopped'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
