#!/bin/sh
# Check a ferry package with real OCI tools: `skopeo inspect oci-archive:PKG`, and
# `umoci unpack --rootless` of the layout (extracted from a copy) into a bundle.
# Prints what they said; exits non-zero if either refuses the package.
# Usage: scripts/oci-check.sh PKG [BUNDLE]   (BUNDLE: keep the unpacked bundle there)
set -u
PKG=${1:?usage: oci-check.sh PKG [BUNDLE]}
KEEP=${2:-}
[ -f "$PKG" ] || { echo "oci-check: $PKG: no such file" >&2; exit 2; }
for tool in skopeo umoci tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "oci-check: $tool is not installed" >&2; exit 2; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
rc=0

echo "== skopeo inspect oci-archive:$PKG"
if ! skopeo inspect "oci-archive:$PKG"; then echo "oci-check: skopeo refused $PKG"; rc=1; fi
echo "== skopeo inspect --config oci-archive:$PKG"
if ! skopeo inspect --config "oci-archive:$PKG"; then echo "oci-check: skopeo refused the config"; rc=1; fi

# umoci reads an image layout folder: extract a copy (the package stays untouched)
cp "$PKG" "$T/pkg.tar"
mkdir "$T/layout"
if ! tar -xf "$T/pkg.tar" -C "$T/layout"; then echo "oci-check: tar cannot extract $PKG"; exit 1; fi
# the reference is the version, in index.json's org.opencontainers.image.ref.name
REF=$(sed -n 's/.*"org\.opencontainers\.image\.ref\.name":"\([^"]*\)".*/\1/p' "$T/layout/index.json")
if [ -z "$REF" ]; then echo "oci-check: index.json has no ref.name annotation"; exit 1; fi
BUNDLE=${KEEP:-$T/bundle}
echo "== umoci unpack --rootless --image layout:$REF $BUNDLE"
if umoci unpack --rootless --image "$T/layout:$REF" "$BUNDLE"; then
  echo "-- root file system:"
  (cd "$BUNDLE/rootfs" && find . -type f | sort | while read -r f; do
     printf '  %s  %s bytes\n' "$f" "$(wc -c <"$f")"; done)
  echo "-- process:"
  tr -d '\n\t' <"$BUNDLE/config.json" | sed -n 's/.*"args": *\(\[[^]]*\]\).*/  \1/p'
  echo
else
  echo "oci-check: umoci refused $PKG"; rc=1
fi
[ "$rc" -eq 0 ] && echo "oci-check: $PKG accepted by skopeo and umoci"
exit "$rc"
