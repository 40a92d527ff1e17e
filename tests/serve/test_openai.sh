#!/bin/sh
# The OpenAI endpoints of `ferry serve MODEL.gguf` end to end with curl: models list,
# completions and chat completions (JSON and Server-Sent Events with usage), the
# reference greedy text from F32 and Q8_0 (also with requests decoded together),
# OpenAI error shapes, limits (max_tokens, context overflow, queue full -> 429),
# client disconnect stopping generation, API keys, metrics, drain on SIGTERM.
# Loopback, free ports, bounded waits. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
PY=/usr/bin/python3
M=""
for d in "${FERRY_MODELS:-}" shared/models ../shared/models ../../shared/models /work/shared/models; do
  [ -n "$d" ] && [ -f "$d/stories260K.gguf" ] && { M=$d; break; }
done
[ -n "$M" ] || { echo "FAIL: stories260K fixtures not found (set FERRY_MODELS)"; echo "0 passed, 1 failed"; exit 1; }
T=$(mktemp -d)
pass=0; fail=0; PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
good() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# post PATH BODY [curl args] -> STATUS in $T/code, body in $T/body
post() {
  p=$1; b=$2; shift 2
  curl -s -m 30 -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' "$@" \
    --data-binary "$b" "http://127.0.0.1:$PORT$p" >"$T/code"
}
expect() { # STATUS TEXT PATH BODY [curl args]
  want=$1; text=$2; shift 2
  post "$@"
  got=$(cat "$T/code")
  if [ "$got" = "$want" ] && grep -qF -- "$text" "$T/body"; then good
  else bad "POST $1 $2 -> $got $(head -c 300 "$T/body") (want $want, '$text')"; fi
}
start() { # ARGS...: sets PID and PORT
  # the previous server's stderr goes first: the background child truncates the file
  # only when it runs, and on a busy machine the loop below could read the old port
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
stop() {
  kill -TERM "$PID" 2>/dev/null
  for i in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  PID=""
}
metric() { curl -s -m 5 "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }

REF=$($PY -c 'import json; print(json.dumps(", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily'"'"'s mom said"))')
cp "$M/stories260K.gguf" "$T/f32.gguf"
cp "$M/stories260K_q8_0.gguf" "$T/q8.gguf"

start "$T/f32.gguf" "$T/q8.gguf" --parallel 4
curl -s -m 5 "http://127.0.0.1:$PORT/v1/models" >"$T/models"
$PY - "$T/models" <<'PY' && good || bad "GET /v1/models: $(cat "$T/models")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["object"] == "list" and [m["id"] for m in j["data"]] == ["f32", "q8"], j
assert all(m["object"] == "model" for m in j["data"])
PY
[ "$(curl -s -m 5 "http://127.0.0.1:$PORT/healthz/ready")" = "ready" ] && good || bad "not ready"

# the reference text from both files, non-streaming
for m in f32 q8; do
  expect 200 "\"text\":$REF" /v1/completions "{\"model\":\"$m\",\"prompt\":\"Once upon a time\",\"max_tokens\":64,\"temperature\":0}"
  grep -qF '"usage":{"prompt_tokens":5,"completion_tokens":64,"total_tokens":69}' "$T/body" && good || bad "usage: $(cat "$T/body")"
done
# eight at once share the model (continuous batching) and each still gets the reference
PIDS=""
for i in 1 2 3 4 5 6 7 8; do
  m=f32; [ $((i % 2)) -eq 0 ] && m=q8
  curl -s -m 30 -o "$T/par$i" -H 'Content-Type: application/json' --data-binary \
    "{\"model\":\"$m\",\"prompt\":\"Once upon a time\",\"max_tokens\":64,\"temperature\":0}" \
    "http://127.0.0.1:$PORT/v1/completions" &
  PIDS="$PIDS $!"
done
wait $PIDS
for i in 1 2 3 4 5 6 7 8; do grep -qF "\"text\":$REF" "$T/par$i" && good || bad "concurrent $i: $(head -c 300 "$T/par$i")"; done

# streaming completions: the deltas add up to the reference; usage last; [DONE]
post /v1/completions '{"model":"f32","prompt":"Once upon a time","max_tokens":64,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' -N
$PY - "$T/body" "$REF" <<'PY' && good || bad "stream: $(head -c 400 "$T/body")"
import json, sys
raw = open(sys.argv[1]).read()
events = [e[len("data: "):] for e in raw.split("\n\n") if e.strip()]
assert events[-1] == "[DONE]", events[-1]
chunks = [json.loads(e) for e in events[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
assert text == json.loads(sys.argv[2]), text
assert chunks[-2]["choices"][0]["finish_reason"] == "length"
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 64
assert all(c["object"] == "text_completion" for c in chunks)
PY
curl -s -m 10 -D "$T/hdr" -o /dev/null -H 'Content-Type: application/json' --data-binary '{"prompt":"x","model":"f32","stream":true,"max_tokens":2}' "http://127.0.0.1:$PORT/v1/completions"
grep -qi '^content-type: text/event-stream' "$T/hdr" && good || bad "stream content type: $(cat "$T/hdr")"

# chat: JSON and stream shapes, stop sequences
expect 200 '"object":"chat.completion"' /v1/chat/completions '{"model":"q8","messages":[{"role":"system","content":"Tell a story."},{"role":"user","content":[{"type":"text","text":"Once upon a time"}]}],"max_tokens":8}'
$PY -c 'import json,sys; j=json.load(open(sys.argv[1])); c=j["choices"][0]; assert c["message"]["role"]=="assistant" and isinstance(c["message"]["content"], str) and c["finish_reason"] in ("stop","length") and j["usage"]["completion_tokens"]<=8' "$T/body" && good || bad "chat body: $(cat "$T/body")"
post /v1/chat/completions '{"model":"f32","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":true}' -N
$PY - "$T/body" <<'PY' && good || bad "chat stream: $(head -c 400 "$T/body")"
import json, sys
ev = [e[6:] for e in open(sys.argv[1]).read().split("\n\n") if e.strip()]
assert ev[-1] == "[DONE]"
ch = [json.loads(e) for e in ev[:-1]]
assert ch[0]["choices"][0]["delta"]["role"] == "assistant"
assert all(c["object"] == "chat.completion.chunk" for c in ch)
assert ch[-1]["choices"][0]["finish_reason"] in ("stop", "length") and "usage" not in ch[-1]
PY
expect 200 '"text":", there was a little girl","logprobs":null,"finish_reason":"stop"' /v1/completions '{"model":"f32","prompt":"Once upon a time","max_tokens":64,"temperature":0,"stop":[" named","zzz"]}'
# sampling with a seed is reproducible
post /v1/completions '{"model":"f32","prompt":"Once upon a time","max_tokens":30,"temperature":0.9,"top_k":40,"seed":5}'; cp "$T/body" "$T/s1"
post /v1/completions '{"model":"f32","prompt":"Once upon a time","max_tokens":30,"temperature":0.9,"top_k":40,"seed":5}'
[ "$(sed 's/"id":"[^"]*","object":"text_completion","created":[0-9]*//' "$T/s1")" = "$(sed 's/"id":"[^"]*","object":"text_completion","created":[0-9]*//' "$T/body")" ] && good || bad "seeded sampling differs"

# errors, in OpenAI's shape
expect 400 '"type":"invalid_request_error"' /v1/completions '{"model":"f32","prompt":'
expect 404 '"code":"model_not_found"' /v1/completions '{"model":"nope","prompt":"x"}'
expect 400 '"param":"model"' /v1/completions '{"prompt":"x"}'
expect 400 '"param":"temperature"' /v1/completions '{"model":"f32","prompt":"x","temperature":3}'
expect 400 '"param":"max_tokens"' /v1/completions '{"model":"f32","prompt":"x","max_tokens":100000}'
expect 400 '"param":"n"' /v1/completions '{"model":"f32","prompt":"x","n":2}'
expect 400 '"param":"stop"' /v1/completions '{"model":"f32","prompt":"x","stop":["a","b","c","d","e"]}'
expect 400 '"param":"messages"' /v1/chat/completions '{"model":"f32","messages":[]}'
expect 400 '"param":"messages"' /v1/chat/completions '{"model":"f32","messages":[{"role":"wizard","content":"x"}]}'
LONG=$($PY -c 'print("Once upon a time " * 200)')
expect 400 '"code":"context_length_exceeded"' /v1/completions "{\"model\":\"f32\",\"prompt\":\"$LONG\"}"
expect 400 '"code":"context_length_exceeded"' /v1/completions '{"model":"f32","prompt":"Once upon a time","max_tokens":510}'
curl -s -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" >"$T/code"
[ "$(cat "$T/code")" = 405 ] && grep -q '"error":{"message"' "$T/body" && good || bad "GET completions: $(cat "$T/code") $(cat "$T/body")"
[ "$(metric 'ferry_llm_requests_total{model="f32",outcome="client_error"}')" -ge 8 ] && good || bad "client_error count"
[ "$(metric 'ferry_llm_generated_tokens_total{model="f32"}')" -ge 256 ] && good || bad "generated tokens metric"
curl -s -m 5 "http://127.0.0.1:$PORT/metrics" | grep -q '^ferry_llm_time_to_first_token_seconds_count{model="q8"} [1-9]' && good || bad "ttft histogram"
curl -s -m 5 "http://127.0.0.1:$PORT/metrics" | grep -q '^ferry_llm_inter_token_latency_seconds_bucket{model="f32",le="+Inf"} [1-9]' && good || bad "itl histogram"
stop

# a slower model (random weights, ~19M parameters) to cut streams and fill the queue
$PY bench/llm/make_gguf.py "$T/slow.gguf" --type q8_0 --dim 512 --layers 8 --ffn 1024 --heads 8 --kv-heads 4 --vocab 512 --ctx 1024
start "$T/slow.gguf" --parallel 1 --llm-queue 1
LONGREQ='{"prompt":"hello","max_tokens":900,"temperature":0,"stream":true}'
# the client leaves after 0.5 s: generation stops well before 900 tokens
curl -s -N -m 0.5 -o /dev/null -H 'Content-Type: application/json' --data-binary "$LONGREQ" "http://127.0.0.1:$PORT/v1/completions"
n=""; for i in $(seq 50); do
  [ "$(metric 'ferry_llm_requests_running{model="slow"}')" = 0 ] && { n=$(metric 'ferry_llm_generated_tokens_total{model="slow"}'); break; }; sleep 0.1; done
[ -n "$n" ] && [ "$n" -lt 900 ] && good || bad "stream disconnect did not stop generation (generated $n)"
[ "$(metric 'ferry_llm_requests_total{model="slow",outcome="cancelled"}')" = 1 ] && good || bad "cancelled count"
# the same for a non-streaming request
before=$(metric 'ferry_llm_generated_tokens_total{model="slow"}')
curl -s -m 0.5 -o /dev/null -H 'Content-Type: application/json' --data-binary '{"prompt":"hello","max_tokens":900,"temperature":0}' "http://127.0.0.1:$PORT/v1/completions"
n=""; for i in $(seq 50); do
  [ "$(metric 'ferry_llm_requests_running{model="slow"}')" = 0 ] && { n=$(metric 'ferry_llm_generated_tokens_total{model="slow"}'); break; }; sleep 0.1; done
[ -n "$n" ] && [ $((n - before)) -lt 900 ] && good || bad "disconnect (JSON) did not stop generation ($before -> $n)"
# one running, one waiting, the third is refused with 429 and Retry-After
curl -s -m 20 -o "$T/q1" -H 'Content-Type: application/json' --data-binary '{"prompt":"hello","max_tokens":300,"temperature":0}' "http://127.0.0.1:$PORT/v1/completions" &
Q1=$!
for i in $(seq 50); do [ "$(metric 'ferry_llm_requests_running{model="slow"}')" = 1 ] && break; sleep 0.05; done
curl -s -m 20 -o "$T/q2" -H 'Content-Type: application/json' --data-binary '{"prompt":"hello","max_tokens":5,"temperature":0}' "http://127.0.0.1:$PORT/v1/completions" &
Q2=$!
for i in $(seq 50); do [ "$(metric 'ferry_llm_requests_waiting{model="slow"}')" = 1 ] && break; sleep 0.05; done
curl -s -m 10 -D "$T/h3" -o "$T/q3" -H 'Content-Type: application/json' --data-binary '{"prompt":"hello","max_tokens":5}' "http://127.0.0.1:$PORT/v1/completions"
grep -q '^HTTP/1.1 429' "$T/h3" && grep -qi '^Retry-After: 1' "$T/h3" && grep -q '"type":"rate_limit_error"' "$T/q3" && good || bad "queue full: $(head -1 "$T/h3") $(cat "$T/q3")"
wait $Q1 $Q2
grep -q '"completion_tokens":300' "$T/q1" && grep -q '"completion_tokens":5' "$T/q2" && good || bad "queued requests: $(head -c 200 "$T/q1") / $(head -c 200 "$T/q2")"
# SIGTERM while a stream runs: the stream finishes ([DONE]) and the server exits 0
curl -s -N -m 20 -o "$T/drain" -H 'Content-Type: application/json' --data-binary '{"prompt":"hello","max_tokens":200,"temperature":0,"stream":true}' "http://127.0.0.1:$PORT/v1/completions" &
C=$!
for i in $(seq 50); do [ "$(metric 'ferry_llm_requests_running{model="slow"}')" = 1 ] && break; sleep 0.05; done
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
wait $C
[ "$rc" = 0 ] && tail -c 20 "$T/drain" | grep -q 'data: \[DONE\]' && good || bad "drain: exit $rc, stream ends $(tail -c 100 "$T/drain")"

# API keys: the OpenAI routes need an infer key like the others
KEY=sk-test-123
printf 'infer %s tester\n' "$("$FERRY" serve --hash-key $KEY)" >"$T/keys"
start "$T/f32.gguf" --keys "$T/keys"
curl -s -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/models" >"$T/code"
[ "$(cat "$T/code")" = 401 ] && grep -q '"type":"authentication_error"' "$T/body" && good || bad "no key: $(cat "$T/code") $(cat "$T/body")"
expect 401 '"authentication_error"' /v1/completions '{"prompt":"x","max_tokens":2}'
expect 200 '"text_completion"' /v1/completions '{"prompt":"x","max_tokens":2}' -H "Authorization: Bearer $KEY"
stop

# a package whose model is GGUF: served from the package's bytes under the manifest name,
# same reference text; ferry inspect describes it; the signature policy applies
mkdir -p "$T/pkg"
cp "$M/stories260K_q8_0.gguf" "$T/pkg/"
printf 'apiVersion: ferry/v1\nname: storypkg\nversion: 1.0.0\nmodel:\n  format: gguf\n  file: stories260K_q8_0.gguf\n' >"$T/pkg/ferry.yaml"
"$FERRY" keygen -o "$T/k" >/dev/null 2>&1 && "$FERRY" keygen -o "$T/other" >/dev/null 2>&1 && good || bad "keygen"
"$FERRY" pack "$T/pkg/ferry.yaml" -o "$T/s.ferry" >/dev/null 2>&1 && good || bad "pack gguf"
"$FERRY" pack "$T/pkg/ferry.yaml" -o "$T/signed.ferry" --key "$T/k.key" >/dev/null 2>&1 && good || bad "pack --key"
"$FERRY" inspect "$T/s.ferry" --json >"$T/insp" 2>&1
$PY - "$T/insp" <<'PY' && good || bad "inspect PKG: $(head -c 300 "$T/insp")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format"] == "gguf" and j["runnable"] is True and j["weight_type"] == "q8_0", j
assert "(in " in j["model"], j
PY
start "$T/s.ferry" "$T/f32.gguf"
curl -s -m 5 "http://127.0.0.1:$PORT/v1/models" >"$T/models"
grep -q '"storypkg"' "$T/models" && grep -q '"f32"' "$T/models" && good || bad "package model not listed: $(cat "$T/models")"
expect 200 "\"text\":$REF" /v1/completions '{"model":"storypkg","prompt":"Once upon a time","max_tokens":64,"temperature":0}'
stop
# --trusted-key: the package signed by that key is served; unsigned, other keys and bare
# .gguf files are refused at startup (exit 3)
start "$T/signed.ferry" --trusted-key "$T/k.pub"
expect 200 '"text_completion"' /v1/completions '{"model":"storypkg","prompt":"x","max_tokens":2}'
stop
for args in "$T/s.ferry --trusted-key $T/k.pub" "$T/signed.ferry --trusted-key $T/other.pub" "$T/f32.gguf --trusted-key $T/k.pub"; do
  # shellcheck disable=SC2086
  timeout 60 "$FERRY" serve $args --port 0 --quiet >/dev/null 2>"$T/err"; rc=$?
  [ "$rc" -eq 3 ] && grep -q "signature" "$T/err" && good || bad "serve $args -> $rc: $(cat "$T/err")"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
