#!/bin/sh
# Replay every fuzz target's seed corpus (tests/corpus/<parser>/) through its plain
# replayer: a crash, sanitizer report or hang fails the test. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
pass=0; fail=0
for r in "$BUILD"/fuzz/fuzz_*_replay; do
  [ -x "$r" ] || continue
  name=$(basename "$r" _replay); name=${name#fuzz_}
  corpus=tests/corpus/$name
  if [ ! -d "$corpus" ]; then echo "FAIL $name: no corpus at $corpus"; fail=$((fail + 1)); continue; fi
  if timeout 300 "$r" "$corpus" >/dev/null; then
    echo "ok   $name ($(ls "$corpus" | wc -l) inputs)"; pass=$((pass + 1))
  else
    echo "FAIL $name"; fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
