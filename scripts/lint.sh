#!/bin/sh
# Refuse banned C calls (unbounded or error-blind), like curl's checksrc.
# Prints each hit and ends with a "N passed, N failed" line.
set -u
hits=$(grep -nE '(^|[^a-z_])(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)[[:space:]]*\(' \
  $(git ls-files '*.c' '*.h' 2>/dev/null || find src tools tests fuzz -name '*.[ch]') || true)
if [ -n "$hits" ]; then
  echo "banned calls (use snprintf, memcpy with a length, strtol with checks, strtok_r):"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
