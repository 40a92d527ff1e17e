#!/bin/sh
# LLM benchmark (not a test): prompt-processing (pp) and generation (tg) tokens/s at
# 1 and 2 threads for stories260K (F32, Q8_0, Q4_0) and a random-weight LLaMA of
# ~110M parameters (dim 768, 12 layers, FFN 2048, vocab 32000, tied output) in F32,
# Q8_0 and Q4_0, for ferry (bench/llm/llm_bench.c over fy_llm_perf_run) and llama.cpp
# (node-llama-cpp@3.21.1's prebuilt CPU build, bench/llm/llama_bench.mjs), same files,
# same token ids; REPEATS single runs of each engine, interleaved, medians and
# ferry/llama.cpp ratios. Prints a Markdown table (docs/BENCHMARKS.md).
#   sh bench/llm/run.sh [BUILD]     env: PP (128) TG (32) REPEATS (2) THREADS ("1 2")
set -eu
BUILD=${1:-build}
PP=${PP:-128}; TG=${TG:-32}; REPEATS=${REPEATS:-2}; THREADS=${THREADS:-"1 2"}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MODELS=$ROOT/bench/models
SHARED=""
for d in "${FERRY_MODELS:-}" "$ROOT/shared/models" "$ROOT/../shared/models" "$ROOT/../../shared/models" /work/shared/models; do
  [ -n "$d" ] && [ -f "$d/stories260K.gguf" ] && { SHARED=$d; break; }
done
[ -n "$SHARED" ] || { echo "stories260K fixtures not found (set FERRY_MODELS)" >&2; exit 1; }
make -s -C "$ROOT" -j2 "$BUILD/libferry.a" >/dev/null
cc -std=c11 -D_DEFAULT_SOURCE -O2 -I"$ROOT/include" -I"$ROOT/src" "$HERE/llm_bench.c" \
  "$ROOT/$BUILD/libferry.a" -lprotobuf-c -ljansson -lyaml -lsodium -lmicrohttpd -lgnutls -lz \
  -lm -lpthread -o "$ROOT/$BUILD/llm_bench"
if [ ! -d "$HERE/node_modules/node-llama-cpp" ]; then
  (cd "$HERE" && npm install --no-audit --no-fund --no-save node-llama-cpp@3.21.1 >/dev/null)
fi
mkdir -p "$MODELS"
for t in f32 q8_0 q4_0; do
  f=$MODELS/random110m_$t.gguf
  [ -f "$f" ] || /usr/bin/python3 "$HERE/make_gguf.py" "$f" --type $t --dim 768 --layers 12 \
    --ffn 2048 --heads 12 --kv-heads 12 --vocab 32000 --ctx 2048 --seed 1
done
echo "| model | weights | threads | ferry pp tok/s | llama.cpp pp tok/s | pp ratio | ferry tg tok/s | llama.cpp tg tok/s | tg ratio | ferry max RSS MiB | llama.cpp max RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for spec in "stories260K:$SHARED/stories260K.gguf:f32" "stories260K:$SHARED/stories260K_q8_0.gguf:q8_0" \
            "stories260K:$SHARED/stories260K_q4_0.gguf:q4_0" "random110M:$MODELS/random110m_f32.gguf:f32" \
            "random110M:$MODELS/random110m_q8_0.gguf:q8_0" "random110M:$MODELS/random110m_q4_0.gguf:q4_0"; do
  name=${spec%%:*}; rest=${spec#*:}; file=${rest%:*}; ty=${rest##*:}
  for th in $THREADS; do
    # REPEATS single runs of each engine, interleaved (ferry, llama.cpp, ferry, ...) so
    # both see the same machine load; the medians are reported
    runs=""
    r=0
    while [ "$r" -lt "$REPEATS" ]; do
      f=$("$ROOT/$BUILD/llm_bench" "$file" "$PP" "$TG" "$th" 1)
      l=$(cd "$HERE" && node llama_bench.mjs "$file" "$PP" "$TG" "$th" 1 2>/dev/null | tail -1)
      runs="$runs$f
$l
"
      r=$((r + 1))
    done
    printf '%s' "$runs" | /usr/bin/python3 -c '
import json, statistics, sys
name, ty, th = sys.argv[1:4]
rows = [json.loads(x) for x in sys.stdin if x.strip()]
f = [r for r in rows if r.get("engine") == "ferry"]; l = [r for r in rows if r.get("engine") != "ferry"]
med = lambda rs, k: statistics.median(r[k] for r in rs)
fp, lp, ft, lt = med(f, "pp_tok_s"), med(l, "pp_tok_s"), med(f, "tg_tok_s"), med(l, "tg_tok_s")
fr, lr = max(r["max_rss_mib"] for r in f), max(r["max_rss_mib"] for r in l)
print(f"| {name} | {ty} | {th} | {fp:.0f} | {lp:.0f} | {fp / lp:.2f} | {ft:.1f} | {lt:.1f} | {ft / lt:.2f} | {fr:.0f} | {lr:.0f} |")
' "$name" "$ty" "$th"
  done
done
