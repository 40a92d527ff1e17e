#!/bin/sh
# Two checks, ending with a "N passed, N failed" line:
# 1. refuse banned C calls (unbounded or error-blind), like curl's checksrc;
# 2. the library's sources compile with clang too (-fsyntax-only): `make fuzz`
#    builds them with clang, and GCC-only builtins (such as __builtin_shuffle;
#    __builtin_shufflevector works in both) would break it.
set -u
pass=0; fail=0
hits=$(grep -nE '(^|[^a-z_])(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)[[:space:]]*\(' \
  $(git ls-files '*.c' '*.h' 2>/dev/null || find src tools tests fuzz -name '*.[ch]') || true)
if [ -n "$hits" ]; then
  echo "banned calls (use snprintf, memcpy with a length, strtol with checks, strtok_r):"
  echo "$hits"
  fail=$((fail + 1))
else
  pass=$((pass + 1))
fi
if command -v clang >/dev/null 2>&1; then
  bad=0
  for f in src/*/*.c src/ops/ref/*.c src/ops/fast/*.c; do
    # build/gen holds the generated protobuf header once a build has run
    if ! out=$(clang -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror \
      -Wno-unknown-warning-option -Wno-psabi -Iinclude -Isrc -Ibuild/gen -fsyntax-only "$f" 2>&1); then
      case $out in *onnx.pb-c.h*"file not found"*) continue ;; esac
      echo "clang cannot compile $f:"
      printf '%s\n' "$out" | head -5
      bad=1
    fi
  done
  if [ "$bad" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
else
  echo "clang not installed: the clang compile check is skipped (scripts/deps.sh installs it)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
