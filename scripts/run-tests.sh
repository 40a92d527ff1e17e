#!/bin/sh
# Run every test binary (and test script) of one or more build trees, each under a
# timeout, and end with one "N passed, N failed" line for CI. Usage: run-tests.sh BUILD...
set -u
pass=0; fail=0; failed=""
TIMEOUT=${FY_TEST_TIMEOUT:-600}
for build in "$@"; do
  for t in $(find "$build/tests" -type f -perm -u+x -name 'test_*' | sort) \
           $(ls tests/*/test_*.sh 2>/dev/null | sort); do
    case "$t" in *.sh) cmd="sh $t $build";; *) cmd="$t";; esac
    log="$build/logs/$(echo "$t" | tr '/' '_').log"
    mkdir -p "$build/logs"
    start=$(date +%s)
    if FERRY_BUILD="$build" timeout "$TIMEOUT" $cmd >"$log" 2>&1; then
      pass=$((pass + 1)); status=ok
    else
      fail=$((fail + 1)); status=FAIL; failed="$failed $build:$t"
    fi
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    printf '%-4s %-50s %3ss  %s\n' "$status" "$build/${t#"$build"/}" "$(( $(date +%s) - start ))" "$summary"
    if [ "$status" = FAIL ]; then tail -20 "$log" | sed 's/^/     | /'; fi
  done
done
echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
