#!/bin/sh
# The example packs into a package that real OCI tools accept: packed twice it gives
# identical bytes, skopeo inspects it and umoci unpacks it (plain and --runnable),
# and the unpacked files are the example's own. Usage: sh THIS BUILD
set -u
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
pass=0; fail=0
# The tools are installed by `make deps`: missing ones are a failure, not a skip.
missing() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$FERRY" ] || missing "$FERRY is not built"
command -v skopeo >/dev/null 2>&1 || missing "skopeo is not installed (make deps)"
command -v umoci >/dev/null 2>&1 || missing "umoci is not installed (make deps)"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

check() { # NAME COMMAND...: one case
  name=$1; shift
  if "$@" >"$T/log" 2>&1; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/  | /' "$T/log" | tail -30
  fi
}

check "pack" "$FERRY" pack "$EX" -o "$T/a.ferry"
check "pack again" "$FERRY" pack "$EX/ferry.yaml" -o "$T/b.ferry"
check "identical bytes" cmp "$T/a.ferry" "$T/b.ferry"
check "skopeo and umoci accept it" sh scripts/oci-check.sh "$T/a.ferry" "$T/bundle"
check "unpacked model is the example's" cmp "$T/bundle/rootfs/ferry/fashion_cnn.onnx" "$EX/fashion_cnn.onnx"
check "unpacked manifest is the example's" cmp "$T/bundle/rootfs/ferry/ferry.yaml" "$EX/ferry.yaml"

# the runnable layer carries the binary and the shared libraries it needs
BIN="$FERRY"
check "pack --runnable" "$FERRY" pack "$EX" --runnable --binary "$BIN" -o "$T/r.ferry"
check "pack --runnable again" "$FERRY" pack "$EX" --runnable --binary "$BIN" -o "$T/r2.ferry"
check "runnable: identical bytes" cmp "$T/r.ferry" "$T/r2.ferry"
check "runnable: skopeo and umoci accept it" sh scripts/oci-check.sh "$T/r.ferry" "$T/rbundle"
check "runnable: the binary is in the root file system" cmp "$T/rbundle/rootfs/usr/local/bin/ferry" "$BIN"
# a real check that the image's binary runs from its own root: chroot into the bundle
# (sanitizer builds need their runtime's environment, so only plain builds are run)
case "$BUILD" in *san*) ;; *)
  check "runnable: the image's ferry runs on its own" \
    sh -c "chroot '$T/rbundle/rootfs' /usr/local/bin/ferry --version | grep -q 'ferry '";;
esac
entrypoint_ok() {
  tr -d ' \t\n' <"$T/rbundle/config.json" |
    grep -qF '"args":["/usr/local/bin/ferry","serve","/ferry","--host","0.0.0.0","--port","8080"]'
}
check "runnable: the entrypoint serves /ferry on 8080" entrypoint_ok
# and that command really serves the unpacked /ferry folder from the image's own root
# (on a free port instead of 8080; plain builds only, as above)
serves_from_image() {
  chroot "$T/rbundle/rootfs" /usr/local/bin/ferry serve /ferry --port 0 --quiet 2>"$T/img.err" &
  spid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$T/img.err" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  ok=1
  if [ -n "$port" ]; then
    img=$(awk 'BEGIN { for (i = 0; i < 784; i++) printf "%s0.5", (i ? "," : "") }')
    curl -s -m 10 -o "$T/img.ready" -w '%{http_code}' "http://127.0.0.1:$port/v2/health/ready" | grep -q 200 &&
      curl -s -m 10 -H 'Content-Type: application/json' --data-binary "{\"image\": [$img]}" \
        "http://127.0.0.1:$port/predict" | grep -q '"label"' && ok=0
  fi
  kill -TERM "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  [ "$ok" -eq 0 ] || cat "$T/img.err"
  return "$ok"
}
case "$BUILD" in *san*) ;; *)
  check "runnable: the image serves its model (ferry serve /ferry)" serves_from_image;;
esac

# a failed pack (folder missing) leaves nothing under the final name
check "failed pack leaves nothing" sh -c "! '$FERRY' pack '$EX' -o '$T/no/such/dir/x.ferry' && [ ! -e '$T/no/such/dir/x.ferry' ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
