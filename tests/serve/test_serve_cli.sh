#!/bin/sh
# ferry serve end to end, through the command and real clients: curl for every
# protocol, promtool on /metrics, wrk for load during a reload (SIGHUP) and a
# drain (SIGTERM). Loopback only, free ports, bounded waits. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

ok() { # NAME COMMAND...
  name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -8; fi
}
# http METHOD PATH [BODY] -> prints "STATUS BODY"
http() {
  if [ -n "${3:-}" ]; then
    curl -s -m 10 -o "$T/body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
      --data-binary "$3" "http://127.0.0.1:$PORT$2" >"$T/code"
  else
    curl -s -m 10 -o "$T/body" -w '%{http_code}' -X "$1" "http://127.0.0.1:$PORT$2" >"$T/code"
  fi
  printf '%s %s' "$(cat "$T/code")" "$(cat "$T/body")"
}
expect_http() { # STATUS TEXT METHOD PATH [BODY]
  want=$1; text=$2; shift 2
  got=$(http "$@")
  case "$got" in "$want "*"$text"*) pass=$((pass + 1));;
    *) fail=$((fail + 1)); echo "FAIL: $* -> $(printf '%s' "$got" | head -c 300) (want $want, '$text')";;
  esac
}
start() { # start the server on a free port with ARGS; sets PID and PORT
  # the previous server's stderr goes first: the new one truncates the file only
  # once it runs, and its old "listening on" line would name a dead port
  rm -f "$T/stderr"
  "$FERRY" serve "$@" --port 0 --quiet --log "$T/log.jsonl" 2>"$T/stderr" &
  PID=$!
  PORT=""
  for i in $(seq 100); do
    PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/stderr" 2>/dev/null | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "server did not start:"; cat "$T/stderr"; }
}

"$FERRY" pack "$EX" -o "$T/fashion.ferry" >/dev/null
IMG=$(/usr/bin/python3 -c "print([[0.5]*28]*28)" | tr -d ' ')
V2='{"inputs":[{"name":"image","shape":[1,1,28,28],"datatype":"FP32","data":'$(/usr/bin/python3 -c "print([0.5]*784)" | tr -d ' ')'}]}'
TF='{"instances":['$(/usr/bin/python3 -c "print([[[0.5]*28]*28])" | tr -d ' ')']}'

start "$T/fashion.ferry"
expect_http 200 "live" GET /healthz/live
expect_http 200 "" GET /healthz/ready
expect_http 200 '"predictions"' POST /predict "{\"image\": [$IMG]}"
expect_http 200 '"label"' POST /predict "{\"image\": [$IMG]}"
expect_http 200 '"outputs"' POST /v2/models/fashion-cnn/infer "$V2"
expect_http 200 '"name":"fashion-cnn"' GET /v2/models/fashion-cnn
expect_http 200 '' GET /v2/models/fashion-cnn/ready
expect_http 200 '"extensions"' GET /v2
expect_http 200 '"predictions"' POST /v1/models/fashion-cnn:predict "$TF"
expect_http 200 '"model_version_status"' GET /v1/models/fashion-cnn
expect_http 400 '"error"' POST /predict '{"image": [1, 2'
expect_http 400 '"error"' POST /v2/models/fashion-cnn/infer '{"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]}'
expect_http 404 '"error"' POST /v2/models/no-such-model/infer "$V2"
expect_http 404 '"error"' GET /no/such/route
curl -s -m 10 "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
# promtool parses the exposition and lints it; its only complaints may be about
# Triton's own metric names (nv_inference_*), which ferry offers unchanged so that
# existing dashboards keep working
promtool_ok() {
  promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 && return 0
  ! grep -v '^nv_inference_' "$T/promtool" | grep -q .
}
ok "promtool accepts /metrics (parse, and lint but for Triton's names)" promtool_ok
ok "metrics count the requests" grep -q '^ferry_requests_total{' "$T/metrics"
ok "Triton names are offered" grep -q '^nv_inference_request_success{' "$T/metrics"

# load with a reload in the middle: no request may fail
cat >"$T/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"image": [$IMG]}'
LUA
wrk -t 2 -c 16 -d 4s -s "$T/post.lua" "http://127.0.0.1:$PORT/predict" >"$T/wrk1" 2>&1 &
WRK=$!
sleep 1.5
kill -HUP "$PID"
wait "$WRK"
ok "wrk ran requests" grep -q "requests in" "$T/wrk1"
ok "no failed request during a reload" sh -c "! grep -qE 'Non-2xx|Socket errors' '$T/wrk1'"
ok "the reload is in the event log" grep -q reload "$T/log.jsonl"

# SIGTERM under load: the server drains and exits 0
wrk -t 2 -c 16 -d 3s -s "$T/post.lua" "http://127.0.0.1:$PORT/predict" >"$T/wrk2" 2>&1 &
WRK=$!
sleep 1
kill -TERM "$PID"
wait "$PID"; rc=$?
PID=""
wait "$WRK"
ok "SIGTERM: exit 0 after draining" [ "$rc" -eq 0 ]
ok "SIGTERM: no request got an error status" sh -c "! grep -q 'Non-2xx' '$T/wrk2'"

# API keys: inference needs a key, management needs admin
INFER=$("$FERRY" serve --hash-key infer-secret)
ADMIN=$("$FERRY" serve --hash-key admin-secret)
printf 'infer %s alice\nadmin %s ops\n' "$INFER" "$ADMIN" >"$T/keys"
start "$T/fashion.ferry" --keys "$T/keys"
expect_http 401 '"error"' POST /predict "{\"image\": [$IMG]}"
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer infer-secret' -H 'Content-Type: application/json' --data-binary "{\"image\": [$IMG]}" "http://127.0.0.1:$PORT/predict")
ok "an infer key may infer" [ "$code" = 200 ]
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer infer-secret' "http://127.0.0.1:$PORT/v2/repository/models/fashion-cnn/unload")
ok "an infer key may not manage (403)" [ "$code" = 403 ]
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer admin-secret' "http://127.0.0.1:$PORT/v2/repository/index")
ok "an admin key may manage" [ "$code" = 200 ]
ok "management calls are audited" grep -q '"event":"audit"' "$T/log.jsonl"
kill -TERM "$PID"; wait "$PID"; PID=""

# signature policy: with --trusted-key only packages signed by that key are served
"$FERRY" keygen -o "$T/release" >/dev/null
"$FERRY" pack "$EX" -o "$T/signed.ferry" --key "$T/release.key" >/dev/null
start "$T/fashion.ferry" --trusted-key "$T/release.pub"
expect_http 503 "" GET /healthz/ready
expect_http 200 "signature policy" POST /v2/repository/index
kill -TERM "$PID"; wait "$PID"; PID=""
start "$T/signed.ferry" --trusted-key "$T/release.pub"
expect_http 200 "" GET /healthz/ready
expect_http 200 '"predictions"' POST /predict "{\"image\": [$IMG]}"
kill -TERM "$PID"; wait "$PID"; PID=""

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
