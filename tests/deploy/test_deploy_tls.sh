#!/bin/sh
# ferry deploy with HTTPS on the public port (serving.tls_cert / serving.tls_key):
# the front speaks TLS with the given certificate (curl checks it against the
# certificate itself), plain HTTP is refused there, merged /metrics come over
# HTTPS, SIGHUP to the supervisor loads a renewed certificate (and refuses a
# mismatched pair), a spec with only one of the two files is refused with its
# line, a change of the TLS settings while the service runs is refused until
# 'ferry stop', and after a stop the service comes back as plain HTTP. Loopback only, a free port,
# bounded waits. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$(cd "$BUILD" && pwd)/ferry"
EX=examples/fashion-mnist
T=$(mktemp -d /tmp/fydeploytls.XXXXXX)
ST="$T/st"
PY=/usr/bin/python3
cleanup() {
  "$FERRY" stop fashion --state-dir "$ST" >/dev/null 2>&1
  if [ -f "$ST/services/fashion/supervisor.pid" ]; then
    kill -9 "$(cat "$ST/services/fashion/supervisor.pid")" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
umask 077
pass=0; fail=0
check() { # NAME COMMAND...
  name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -6; fi
}

PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/v1" && cp "$EX/fashion_cnn.onnx" "$EX/ferry.yaml" "$EX/labels.txt" \
  "$EX/smoke-ankle-boot.json" "$T/v1/"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$T/v1/key.pem" -out "$T/v1/cert.pem" >"$T/openssl.log" 2>&1 ||
  { echo "openssl failed:"; cat "$T/openssl.log"; echo "0 passed, 1 failed"; exit 1; }
mkspec() { # EXTRA-SERVING-LINES
  {
    printf 'apiVersion: ferry/v1\nservice: fashion\nmodel:\n  path: .\n'
    printf 'serving:\n  port: %s\n  replicas: 1\n' "$PORT"
    [ -n "$1" ] && printf '%s\n' "$1"
    printf 'strategy:\n  type: blue-green\n  start_timeout_s: 30\nverify:\n  limit: 200\n'
  } >"$T/v1/deploy.yaml"
}
deploy() {
  "$FERRY" deploy "$T/v1/deploy.yaml" --state-dir "$ST" >"$T/out" 2>&1
  rc=$?
}
https() { # PATH [CURL ARGS] -> status; body in $T/body
  p=$1; shift
  curl -s -m 10 --cacert "$T/v1/cert.pem" --resolve "localhost:$PORT:127.0.0.1" \
    -o "$T/body" -w '%{http_code}' "$@" "https://localhost:$PORT$p"
}

# one of the two files only: refused, naming the field and the line
mkspec "  tls_cert: cert.pem"
deploy
check "tls_cert alone is refused (exit $rc)" test "$rc" -ne 0
check "the refusal names tls_key and the line" grep -q "deploy.yaml:[0-9]*: serving.tls_key: serving.tls_cert and serving.tls_key go together" "$T/out"

# HTTPS on the front
mkspec "  tls_cert: cert.pem
  tls_key: key.pem"
deploy
check "deploy with TLS promoted (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$T/out"
check "prints an https URL" grep -q "is live on https://127.0.0.1:$PORT" "$T/out"
code=$(https /healthz/ready)
check "HTTPS readiness through the front ($code)" test "$code" = 200
code=$(https /predict -H 'Content-Type: application/json' --data-binary @"$T/v1/smoke-ankle-boot.json")
check "HTTPS prediction through the front ($code)" sh -c "test '$code' = 200 && grep -q 'Ankle boot' '$T/body'"
code=$(https /metrics)
check "merged /metrics over HTTPS ($code)" sh -c "test '$code' = 200 && grep -q 'ferry_worker=\"1.0.0/0\"' '$T/body'"
check "plain HTTP gets no answer on the HTTPS port" sh -c "! curl -s -f -m 5 -o /dev/null http://127.0.0.1:$PORT/healthz/live"
check "an unknown certificate authority is refused" sh -c "! curl -s -m 5 -o /dev/null --resolve localhost:$PORT:127.0.0.1 https://localhost:$PORT/healthz/live"
check "the service folder holds the TLS settings" grep -q '"cert"' "$ST/services/fashion/front-tls.json"

# SIGHUP to the supervisor after a renewal (same files, new contents): new
# connections get the new certificate; then a key that does not belong to its
# certificate is refused, and the renewed certificate keeps serving
SUP=$(cat "$ST/services/fashion/supervisor.pid")
SLOG="$ST/services/fashion/supervisor.log"
newcert() { openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$1" -out "$2" >/dev/null 2>&1; }
with_ca() { curl -s -m 10 --cacert "$1" --resolve "localhost:$PORT:127.0.0.1" -o /dev/null \
  -w '%{http_code}' "https://localhost:$PORT/healthz/live"; }
wait_log() { for _ in $(seq 50); do grep -q "$1" "$SLOG" && return 0; sleep 0.1; done; return 1; }
cp "$T/v1/cert.pem" "$T/cert.old"
newcert "$T/key.new" "$T/cert.new"
cat "$T/cert.new" >"$T/v1/cert.pem"; cat "$T/key.new" >"$T/v1/key.pem"
kill -HUP "$SUP"
check "SIGHUP: the front loads the renewed certificate" wait_log "reload: the front serves the renewed certificate"
check "new connections get the renewed certificate" test "$(with_ca "$T/cert.new")" = 200
check "the old certificate no longer verifies" test "$(with_ca "$T/cert.old")" != 200
newcert "$T/key.other" "$T/cert.other"
cat "$T/cert.other" >"$T/v1/cert.pem"
kill -HUP "$SUP"
check "SIGHUP: a mismatched pair is refused, naming the key" wait_log "reload: the front keeps its certificate: TLS key .*does not belong"
check "the renewed certificate still serves" test "$(with_ca "$T/cert.new")" = 200
cat "$T/cert.new" >"$T/v1/cert.pem"

# plain HTTP asked while it runs with HTTPS: refused, the service untouched
mkspec ""
deploy
check "a TLS change while serving is refused (exit $rc)" test "$rc" -ne 0
check "the refusal says to stop first" grep -q "ferry stop fashion" "$T/out"
code=$(https /healthz/live)
check "still HTTPS after the refusal ($code)" test "$code" = 200

# after a stop, the plain spec deploys as HTTP
"$FERRY" stop fashion --state-dir "$ST" >/dev/null 2>&1
deploy
check "plain deploy after stop (exit $rc)" test "$rc" -eq 0
check "plain HTTP now" sh -c "curl -s -m 10 http://127.0.0.1:$PORT/healthz/ready | grep -q ready"
check "the TLS settings file is gone" test ! -e "$ST/services/fashion/front-tls.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
