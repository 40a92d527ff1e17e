#!/bin/sh
# Install every Debian package that building, testing and the example need.
# Idempotent and quick when everything is present (one dpkg query, no network).
set -eu

PKGS="build-essential make pkg-config clang libclang-rt-14-dev clang-format
protobuf-c-compiler libprotobuf-c-dev libonnx-dev libonnx-testdata
libjansson-dev zlib1g-dev libyaml-dev libsodium-dev libmicrohttpd-dev libgnutls28-dev
skopeo umoci prometheus wrk curl openssl systemd
dataset-fashion-mnist python3 python3-numpy python3-onnx"
# kubectl (emitted Kubernetes files are decoded offline in the tests): Debian's
# kubernetes-client, unless a kubectl is already installed (it would conflict).
if ! command -v kubectl >/dev/null 2>&1; then PKGS="$PKGS kubernetes-client"; fi

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  exit 0
fi
echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
  $SUDO apt-get update -qq
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
