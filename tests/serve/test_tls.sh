#!/bin/sh
# ferry serve over TLS (--tls-cert, --tls-key), end to end with curl: a self-signed
# certificate made at test time with openssl, HTTPS health and inference, plain
# HTTP refused on the TLS port, Origin with https, SIGHUP renewal (new connections
# get the new certificate; a mismatched pair is refused and the old one serves), and
# the refusals of bad files (permissions, missing, garbage, mismatched, encrypted).
# Loopback only, free ports, bounded waits. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
umask 077

ok() { # NAME COMMAND...
  name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -8; fi
}
start() { # start the server on a free port with ARGS; sets PID and PORT
  : >"$T/stderr" # not the last server's line: the child truncates it only later
  "$FERRY" serve "$@" --port 0 --quiet --log "$T/log.jsonl" 2>"$T/stderr" &
  PID=$!
  PORT=""
  for i in $(seq 100); do
    PORT=$(sed -n 's/.*listening on https:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/stderr" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "server did not start:"; cat "$T/stderr"; }
}
# https [CURL ARGS...] PATH -> prints the status code; the body is in $T/body.
# localhost is pinned to 127.0.0.1 (the bound address) so that no ::1 is tried.
https() {
  path=$1; shift
  curl -s -m 10 --cacert "$T/cert.pem" --resolve "localhost:$PORT:127.0.0.1" \
    -o "$T/body" -w '%{http_code}' "$@" "https://localhost:$PORT$path"
}
# refused NAME WANT_TEXT ARGS...: the server must exit non-zero at start-up with
# WANT_TEXT in its error, without listening.
refused() {
  name=$1; want=$2; shift 2
  "$FERRY" serve "$T/fashion.ferry" --port 0 "$@" >"$T/out" 2>"$T/err" &
  rpid=$!
  i=0
  while kill -0 "$rpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$rpid" 2>/dev/null; then
    kill -9 "$rpid"; wait "$rpid" 2>/dev/null
    fail=$((fail + 1)); echo "FAIL: $name: the server started"; return
  fi
  wait "$rpid"; rc=$?
  if [ "$rc" -ne 0 ] && grep -qF -- "$want" "$T/err" && ! grep -q "listening" "$T/err"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: $name: exit $rc, want an error with '$want', got:"
    sed 's/^/  | /' "$T/err" | tail -5
  fi
}

# A self-signed certificate for localhost, and a second key that is not its own.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$T/key.pem" -out "$T/cert.pem" >"$T/openssl.log" 2>&1 ||
  { echo "openssl failed:"; cat "$T/openssl.log"; echo "0 passed, 1 failed"; exit 1; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/other.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass pass:secret \
  -out "$T/encrypted.pem" 2>/dev/null
chmod 600 "$T/key.pem" "$T/other.pem" "$T/encrypted.pem"
"$FERRY" pack "$EX" -o "$T/fashion.ferry" >/dev/null
IMG=$(/usr/bin/python3 -c "print([[0.5]*28]*28)" | tr -d ' ')
V2='{"inputs":[{"name":"image","shape":[1,1,28,28],"datatype":"FP32","data":'$(/usr/bin/python3 -c "print([0.5]*784)" | tr -d ' ')'}]}'

start "$T/fashion.ferry" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
ok "the start line says https" grep -q "listening on https://127.0.0.1:" "$T/stderr"
ok "KServe liveness over TLS: 200" [ "$(https /v2/health/live)" = 200 ]
ok "readiness over TLS: 200" [ "$(https /healthz/ready)" = 200 ]
code=$(https /predict -H 'Content-Type: application/json' --data-binary "{\"image\": [$IMG]}")
ok "POST /predict over TLS: 200" [ "$code" = 200 ]
ok "POST /predict over TLS answers predictions" grep -q '"predictions"' "$T/body"
code=$(https /v2/models/fashion-cnn/infer -H 'Content-Type: application/json' --data-binary "$V2")
ok "V2 infer over TLS: 200 with outputs" sh -c "[ '$code' = 200 ] && grep -q '\"outputs\"' '$T/body'"
# by address too: the certificate names 127.0.0.1
code=$(curl -s -m 10 --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/healthz/live")
ok "https://127.0.0.1 verifies: 200" [ "$code" = 200 ]
# without the CA the client refuses the self-signed certificate (the server is not lenient
# about anything; this checks the test really verifies)
ok "a client without the CA refuses the certificate" sh -c "! curl -s -m 10 -o /dev/null 'https://127.0.0.1:$PORT/healthz/live'"
# plain HTTP to the TLS port gets no HTTP answer
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/live"); crc=$?
ok "plain HTTP to the TLS port fails (curl exit $crc, status $code)" sh -c "[ $crc -ne 0 ] && [ '$code' = 000 ]"
ok "the server still serves TLS after a plain-HTTP client" [ "$(https /v2/health/live)" = 200 ]
# Origin: the server's own https origin is accepted, its http origin refused
ok "Origin https://HOST is accepted" [ "$(https /v2/health/ready -H "Origin: https://localhost:$PORT")" = 200 ]
ok "Origin http://HOST is refused on TLS (403)" [ "$(https /v2/health/ready -H "Origin: http://localhost:$PORT")" = 403 ]
ok "the listening event says tls" grep -q '"event":"listening".*"tls":true' "$T/log.jsonl"
# SIGHUP with a renewed certificate: new handshakes get it at once, the log says
# so with its expiry, and the old one no longer verifies for new connections
cp "$T/cert.pem" "$T/cert.old"
sleep 0.05
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$T/key.new" -out "$T/cert.new" >/dev/null 2>&1
cat "$T/cert.new" >"$T/cert.pem"; cat "$T/key.new" >"$T/key.pem"
kill -HUP "$PID"
for i in $(seq 50); do grep -q '"event":"reload"' "$T/log.jsonl" && break; sleep 0.1; done
ok "SIGHUP with changed TLS files loads them (reload_tls, with the expiry)" \
  grep -q '"event":"reload_tls","tls_not_after":"' "$T/log.jsonl"
with_ca() { curl -s -m 10 --cacert "$1" --resolve "localhost:$PORT:127.0.0.1" -o /dev/null \
  -w '%{http_code}' "https://localhost:$PORT/v2/health/live"; }
ok "after SIGHUP new connections get the new certificate" [ "$(with_ca "$T/cert.new")" = 200 ]
ok "after SIGHUP the old certificate no longer verifies" [ "$(with_ca "$T/cert.old")" != 200 ]
# a renewal whose key does not belong to its certificate: refused, logged with the
# reason, and the certificate loaded before keeps serving
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$T/key.other" -out "$T/cert.other" >/dev/null 2>&1
sleep 0.05
cat "$T/cert.other" >"$T/cert.pem"
n_reloads=$(grep -c '"event":"reload"' "$T/log.jsonl")
kill -HUP "$PID"
for i in $(seq 50); do [ "$(grep -c '"event":"reload"' "$T/log.jsonl")" -gt "$n_reloads" ] && break; sleep 0.1; done
ok "SIGHUP with a mismatched pair logs reload_tls_failed naming the key" \
  grep -q '"event":"reload_tls_failed","reason":"TLS key .*does not belong' "$T/log.jsonl"
ok "after a refused renewal the certificate loaded before still serves" [ "$(with_ca "$T/cert.new")" = 200 ]
cat "$T/cert.new" >"$T/cert.pem"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
ok "SIGTERM: exit 0" [ "$rc" -eq 0 ]
# restarted, it serves the new certificate
start "$T/fashion.ferry" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
ok "after a restart the new certificate serves" [ "$(https /v2/health/live)" = 200 ]
kill -TERM "$PID"; wait "$PID"; PID=""

# Refusals, each at start-up with a message naming the file
chmod 640 "$T/key.pem"
refused "a group-readable key is refused (chmod 600 hint)" "chmod 600" \
  --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
chmod 604 "$T/key.pem"
refused "an other-readable key is refused" "accessible by group or others" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
chmod 600 "$T/key.pem"
refused "a missing key file is refused, named" "$T/no-such-key.pem" \
  --tls-cert "$T/cert.pem" --tls-key "$T/no-such-key.pem"
refused "a missing certificate file is refused, named" "$T/no-such-cert.pem" \
  --tls-cert "$T/no-such-cert.pem" --tls-key "$T/key.pem"
printf 'this is not a certificate\n' >"$T/garbage.pem"
refused "a garbage certificate is refused, named" "TLS certificate $T/garbage.pem" \
  --tls-cert "$T/garbage.pem" --tls-key "$T/key.pem"
printf -- '-----BEGIN CERTIFICATE-----\nbm90IERFUg==\n-----END CERTIFICATE-----\n' >"$T/baddcert.pem"
refused "a PEM certificate with bad contents is refused, named" "TLS certificate $T/baddcert.pem" \
  --tls-cert "$T/baddcert.pem" --tls-key "$T/key.pem"
cp "$T/garbage.pem" "$T/garbage-key.pem"; chmod 600 "$T/garbage-key.pem"
refused "a garbage key is refused, named" "TLS key $T/garbage-key.pem" \
  --tls-cert "$T/cert.pem" --tls-key "$T/garbage-key.pem"
refused "a key of another certificate is refused" "does not belong to the certificate" \
  --tls-cert "$T/cert.pem" --tls-key "$T/other.pem"
refused "an encrypted key is refused" "passphrase" --tls-cert "$T/cert.pem" --tls-key "$T/encrypted.pem"
refused "a directory as certificate is refused" "not a regular file" --tls-cert "$T" --tls-key "$T/key.pem"
head -c 1048577 /dev/zero | tr '\0' 'A' >"$T/huge.pem"
refused "a certificate over 1 MiB is refused" "above the limit" --tls-cert "$T/huge.pem" --tls-key "$T/key.pem"
refused "--tls-cert without --tls-key is a usage error" "--tls-cert needs --tls-key" --tls-cert "$T/cert.pem"
"$FERRY" serve "$T/fashion.ferry" --tls-key "$T/key.pem" >/dev/null 2>&1; rc=$?
ok "--tls-key without --tls-cert exits 2 (usage)" [ "$rc" -eq 2 ]
ok "help lists --tls-cert and --tls-key" sh -c "'$FERRY' serve --help | grep -q -- '--tls-cert FILE' && '$FERRY' serve --help | grep -q -- '--tls-key FILE'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
