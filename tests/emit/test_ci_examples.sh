#!/bin/sh
# The CI/CD examples stay true to the command: the GitHub Actions workflow is
# valid YAML with the jobs the docs describe, every `build/ferry CMD --flag` in the
# workflow and the Jenkinsfile is a flag that `ferry CMD --help` documents, and
# examples/systemd/ is what `ferry emit systemd` writes today. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { name=$1; shift
  if "$@" >"$T/last" 2>&1; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL: $name"; sed 's/^/  | /' "$T/last" | tail -8; fi; }

ok "workflow is YAML with deploy steps" /usr/bin/python3 -c "
import yaml
w = yaml.safe_load(open('examples/ci/github-actions.yml'))
steps = w['jobs']['deploy']['steps']
assert any('ferry deploy' in s.get('run', '') for s in steps)
assert any('ferry doctor' in s.get('run', '') for s in steps)
assert 'kubernetes-files' in w['jobs']"

# every ferry invocation: join continued lines, then check each --flag
for f in examples/ci/github-actions.yml examples/ci/Jenkinsfile; do
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$f" | grep -o 'build/ferry [a-z]*[^|;>&]*' >"$T/calls"
  while read -r line; do
    cmd=$(echo "$line" | awk '{print $2}')
    "$FERRY" "$cmd" --help >"$T/help" 2>&1 || { echo "skip: ferry $cmd (not in this build)"; continue; }
    for flag in $(echo "$line" | grep -o ' --[a-z][a-z-]*' | sort -u); do
      ok "$f: ferry $cmd $flag" grep -q -- "$flag" "$T/help"
    done
  done <"$T/calls"
done

"$FERRY" emit systemd examples/fashion-mnist/ferry.yaml -o "$T/sd" >/dev/null
ok "examples/systemd is current" diff -r examples/systemd "$T/sd"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
