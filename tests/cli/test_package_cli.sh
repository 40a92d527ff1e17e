#!/bin/sh
# End-to-end package workflow through the ferry command: init, pack, inspect, run
# and eval on the package, check, keygen, sign, doc, and tamper detection.
# Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
NODE=/usr/include/onnx/backend/test/data/node
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0

expect() { # EXIT TEXT ARGS...: exit code and a text the output must contain
  want=$1; text=$2; shift 2
  out=$(timeout 120 "$FERRY" "$@" 2>&1); got=$?
  if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -qF -- "$text"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: ferry $* -> exit $got (want $want), output lacks '$text':"
    printf '%s\n' "$out" | head -8 | sed 's/^/  | /'
  fi
}
ok() { # NAME COMMAND...: a shell check
  name=$1; shift
  if "$@" >/dev/null 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; fi
}

/usr/bin/python3 -c "import json; json.dump([[[[0.25]*28]*28]], open('$T/image.json','w'))"
PKG="$T/fashion-cnn-1.0.0.ferry"

# init: a manifest from a bare model, that packs as is
mkdir "$T/abs" && cp "$NODE/test_abs/model.onnx" "$T/abs/abs.onnx"
expect 0 "wrote $T/abs/ferry.yaml" init "$T/abs/abs.onnx"
expect 5 "use --force" init "$T/abs/abs.onnx"
expect 0 "wrote" init "$T/abs/abs.onnx" --force
expect 0 "abs-0.1.0.ferry" pack "$T/abs" -o "$T/abs-0.1.0.ferry"
expect 0 "y float32[3,4,5]" run "$T/abs-0.1.0.ferry" --input "x=$NODE/test_abs/test_data_set_0/input_0.pb"

# pack the running example; the package is the unit everything else takes
expect 0 "sha256:" pack "$EX" -o "$PKG"
expect 0 '"bytes":' pack "$EX/ferry.yaml" -o "$T/again.ferry" --json
ok "packing twice gives identical bytes" cmp "$PKG" "$T/again.ferry"
expect 0 "package    fashion-cnn 1.0.0" inspect "$PKG"
expect 0 '"package": {"name": "fashion-cnn"' inspect "$PKG" --json
"$FERRY" run "$EX/fashion_cnn.onnx" --input "image=$T/image.json" --json >"$T/onnx.json" 2>&1
"$FERRY" run "$PKG" --input "image=$T/image.json" --json >"$T/pkg.json" 2>&1
ok "run on the package equals run on the .onnx" cmp "$T/onnx.json" "$T/pkg.json"
expect 0 '"count": 300' eval "$PKG" --limit 300 --json
# the example's folder is an unpacked package: it runs like one, but has no digests to check
expect 0 "digest     none (an unpacked package folder)" inspect "$EX"
"$FERRY" run "$EX" --input "image=$T/image.json" --json >"$T/dir.json" 2>&1
ok "run on the unpacked folder equals run on the package" cmp "$T/pkg.json" "$T/dir.json"
expect 3 "unpacked package folder" check "$EX"
expect 5 "ferry init" pack "$T/nothing-here"
expect 2 "--binary only makes sense" pack "$EX" --binary "$FERRY"

# integrity and signatures
expect 0 "signature  unsigned" check "$PKG"
expect 1 "not signed" check "$PKG" --require-signature
expect 0 "wrote $T/release.key" keygen -o "$T/release"
expect 5 "" keygen -o "$T/release"
expect 0 "wrote" keygen -o "$T/other"
ok "secret key is mode 600" sh -c "[ \$(stat -c %a '$T/release.key') = 600 ]"
expect 0 "signed" sign "$PKG" --key "$T/release.key"
expect 0 "signature  valid" check "$PKG" --trusted-key "$T/release.pub"
expect 1 "not signed by the trusted key" check "$PKG" --trusted-key "$T/other.pub"
expect 0 '"signature": "valid"' check "$PKG" --trusted-key "$T/release.pub" --json
expect 0 "signed" pack "$EX" -o "$T/signed.ferry" --key "$T/release.key"
ok "signed at pack time equals signed later" cmp "$PKG" "$T/signed.ferry"
# flip one byte inside the model's blob: the package is refused, naming the blob
cp "$PKG" "$T/tampered.ferry"
off=$(grep -abo "pytorch" "$T/tampered.ferry" | head -1 | cut -d: -f1)
printf 'q' | dd of="$T/tampered.ferry" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect 3 "blobs/sha256/" check "$T/tampered.ferry"
expect 3 "blobs/sha256/" run "$T/tampered.ferry" --input "image=$T/image.json"
head -c 5000 "$PKG" >"$T/truncated.ferry"
expect 3 "" check "$T/truncated.ferry"

# the deployment specification: deterministic, Markdown or JSON
expect 0 "deployment specification" doc "$PKG"
"$FERRY" doc "$PKG" -o "$T/spec1.md" && "$FERRY" doc "$PKG" -o "$T/spec2.md"
ok "doc is deterministic" cmp "$T/spec1.md" "$T/spec2.md"
ok "doc has curl examples" grep -q "curl" "$T/spec1.md"
"$FERRY" doc "$PKG" --json >"$T/spec.json"
ok "doc --json is JSON" /usr/bin/python3 -c "import json; json.load(open('$T/spec.json'))"
expect 2 "missing PACKAGE" doc
"$FERRY" doc "$T/again.ferry" -o "$T/example-spec.md"
ok "examples/fashion-mnist/SPEC.md is the current 'ferry doc' output (regenerate it if not)" \
  cmp "$T/example-spec.md" "$EX/SPEC.md"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
