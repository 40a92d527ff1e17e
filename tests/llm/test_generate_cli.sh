#!/bin/sh
# End-to-end cases for `ferry generate` and `ferry inspect` on GGUF files: the reference
# greedy text from the F32 and Q8_0 fixtures, the --json keys, usage errors and
# refusals. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
M=""
for d in "${FERRY_MODELS:-}" shared/models ../shared/models ../../shared/models /work/shared/models; do
  [ -n "$d" ] && [ -f "$d/stories260K.gguf" ] && { M=$d; break; }
done
if [ -z "$M" ]; then echo "FAIL: stories260K fixtures not found (set FERRY_MODELS)"; echo "0 passed, 1 failed"; exit 1; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

expect() {
  want=$1; text=$2; shift 2
  out=$(timeout 120 "$FERRY" "$@" 2>&1); got=$?
  if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -qF -- "$text"; then ok
  else bad "ferry $* -> exit $got (want $want), output lacks '$text'"; printf '%s\n' "$out" | head -5 | sed 's/^/  | /'; fi
}

REF=', there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
Lily'"'"'s mom said'
for f in stories260K.gguf stories260K_q8_0.gguf; do
  for t in 1 2; do
    out=$(timeout 60 "$FERRY" generate "$M/$f" --prompt "Once upon a time" -n 64 --threads $t 2>/dev/null)
    [ "$out" = "$REF" ] && ok || bad "$f threads=$t text: $out"
  done
done

# --json: the issue's keys, the prompt ids and 64 generated ids
"$FERRY" generate "$M/stories260K_q8_0.gguf" --prompt "Once upon a time" -n 64 --json > "$T/g.json" 2>&1
/usr/bin/python3 - "$T/g.json" "$REF" <<'PY' && ok || bad "--json output"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["text"] == sys.argv[2], j["text"]
assert j["prompt_token_ids"] == [1, 403, 407, 261, 378], j["prompt_token_ids"]
assert len(j["token_ids"]) == 64
for k in ("prompt_tokens_per_s", "gen_tokens_per_s"):
    assert j[k] > 0, k
PY

# sampling with a seed is reproducible
a=$("$FERRY" generate "$M/stories260K.gguf" --prompt "Once upon a time" -n 40 --temperature 0.9 --seed 7 2>/dev/null)
b=$("$FERRY" generate "$M/stories260K.gguf" --prompt "Once upon a time" -n 40 --temperature 0.9 --seed 7 2>/dev/null)
c=$("$FERRY" generate "$M/stories260K.gguf" --prompt "Once upon a time" -n 40 --temperature 0.9 --seed 8 2>/dev/null)
[ "$a" = "$b" ] && [ -n "$a" ] && ok || bad "same seed, different text"
[ "$a" != "$c" ] && ok || bad "seeds 7 and 8 gave the same text"

expect 0 ", there was a little girl" generate "$M/stories260K_q4_0.gguf" --prompt "Once upon a time" -n 16
expect 0 "usage: ferry generate" generate --help
expect 2 "--prompt TEXT are required" generate "$M/stories260K.gguf"
expect 2 "needs a number" generate "$M/stories260K.gguf" --prompt x --top-p 2
expect 2 "unknown option" generate "$M/stories260K.gguf" --prompt x --bogus
expect 3 "longer than the model's trained context 512" generate "$M/stories260K.gguf" --prompt x --ctx 1000
expect 3 "the context holds 8" generate "$M/stories260K.gguf" --prompt "Once upon a time there was a dog" --ctx 8
printf 'GGUF\003\000\000\000' > "$T/trunc.gguf"
expect 3 "truncated" generate "$T/trunc.gguf" --prompt x
printf 'GGUF\001\000\000\000' > "$T/v1.gguf"
expect 3 "truncated" generate "$T/v1.gguf" --prompt x
expect 5 "cannot open" generate "$T/none.gguf" --prompt x

expect 0 "arch       llama: dim 64, 5 layers, 8 heads (4 KV)" inspect "$M/stories260K_q8_0.gguf"
expect 0 "q8_0 x" inspect "$M/stories260K_q8_0.gguf"
expect 0 '"vocab_size": 512, "context_length": 512' inspect --json "$M/stories260K.gguf"
"$FERRY" inspect --json "$M/stories260K_q4_0.gguf" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["weight_type"]=="q4_0" and j["metadata"]["general.architecture"]=="llama"' && ok || bad "inspect --json is not valid JSON"
expect 3 "truncated" inspect "$T/trunc.gguf"

# a model whose KV cache cannot fit in memory is refused at load, before allocating
/usr/bin/python3 bench/llm/make_gguf.py "$T/bigctx.gguf" --type q8_0 --dim 256 --layers 4 --ffn 512 \
  --heads 4 --kv-heads 4 --vocab 300 --ctx 16777216
expect 3 "MiB are available; try a smaller --ctx" generate "$T/bigctx.gguf" --prompt x --ctx 16777216
expect 0 "" generate "$T/bigctx.gguf" --prompt x --ctx 64 -n 2

# ferry pack: a GGUF model packs, verifies and documents like any other model
mkdir -p "$T/pkg"
cp "$M/stories260K_q8_0.gguf" "$T/pkg/model.gguf"
printf 'apiVersion: ferry/v1\nname: stories\nversion: 1.0.0\nmodel:\n  format: gguf\n  file: model.gguf\n' >"$T/pkg/ferry.yaml"
expect 0 "stories.ferry" pack "$T/pkg" -o "$T/stories.ferry"
expect 0 "every digest verified" check "$T/stories.ferry"
expect 0 "| Format | gguf |" doc "$T/stories.ferry"
expect 0 "model.gguf (in " inspect "$T/stories.ferry"
# ferry perf takes a GGUF package too (tokens/s, the load timed including the package open)
out=$(timeout 120 "$FERRY" perf "$T/stories.ferry" --prompt-tokens 16 --gen-tokens 4 --repeats 1 --json 2>&1)
printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["format"]=="gguf" and j["prompt_tokens_per_s"]>0 and j["gen_tokens_per_s"]>0 and j["load_ms"]>0' && ok || bad "perf PACKAGE (gguf): $out"
expect 4 "is a GGUF language model" run "$T/stories.ferry"
# ferry generate takes the package too: the same reference text as the .gguf file
out=$(timeout 60 "$FERRY" generate "$T/stories.ferry" --prompt "Once upon a time" -n 64 2>/dev/null)
[ "$out" = "$REF" ] && ok || bad "generate PACKAGE text: $out"
expect 3 "fashion_cnn.onnx (in the package) is not a GGUF language model" generate examples/fashion-mnist --prompt x
head -c 100000 "$M/stories260K_q8_0.gguf" >"$T/pkg/model.gguf"
expect 3 "model.gguf: gguf: tensor" pack "$T/pkg" -o "$T/bad.ferry"
[ ! -e "$T/bad.ferry" ] && ok || bad "a failed pack left a file"
printf 'apiVersion: ferry/v1\nname: stories\nversion: 1.0.0\nmodel:\n  format: gguf\n  file: model.gguf\nsignature:\n  inputs: []\n' >"$T/pkg/ferry.yaml"
expect 3 "not used with model.format gguf" pack "$T/pkg" -o "$T/bad.ferry"

# ferry perf on a GGUF model: tokens/s, load time, bytes and peak memory
out=$(timeout 120 "$FERRY" perf "$M/stories260K_q8_0.gguf" --prompt-tokens 16 --gen-tokens 4 --repeats 2 --json 2>&1)
if printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["format"] == "gguf" and j["prompt_tokens"] == 16 and j["gen_tokens"] == 4 and j["repeats"] == 2
assert j["prompt_tokens_per_s"] > 0 and j["gen_tokens_per_s"] > 0 and j["load_ms"] >= 0
assert j["weight_bytes"] > 0 and j["kv_bytes"] > 0 and j["peak_rss_bytes"] > 0
'; then ok; else bad "ferry perf --json on GGUF: $out"; fi
expect 0 "prompt" perf "$M/stories260K.gguf" --prompt-tokens 8 --gen-tokens 2 --repeats 1
expect 0 "--prompt-tokens N" perf "$M/stories260K.gguf" --help
expect 2 "unknown option" perf "$M/stories260K.gguf" --batch 2
expect 2 "wants a number" perf "$M/stories260K.gguf" --repeats 0
expect 3 "context" perf "$M/stories260K.gguf" --ctx 64 --prompt-tokens 60 --gen-tokens 10
head -c 2000 "$M/stories260K.gguf" > "$T/cut.gguf"
out=$(timeout 60 "$FERRY" perf "$T/cut.gguf" 2>&1); got=$?
if [ "$got" -eq 3 ] || [ "$got" -eq 5 ]; then ok; else bad "perf on a truncated GGUF -> $got: $out"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
