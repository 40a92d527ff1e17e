#!/bin/sh
# The main job: deploy the Fashion-MNIST example as a service on this machine, end to
# end (pack, check the environment, stage, verify, promote), ask it for predictions,
# show its status and history, and stop it. State lives in a temporary folder.
# Usage: scripts/deploy-demo.sh [BUILD_DIR]   (FERRY_DEMO_PORT: public port, default
# 8080, or a free one when 8080 is taken)
set -eu
BUILD=${1:-build}
FERRY="$BUILD/ferry"
EX=examples/fashion-mnist
STATE=$(mktemp -d)
cleanup() { "$FERRY" stop fashion --state-dir "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"; }
trap cleanup EXIT INT TERM
PORT=${FERRY_DEMO_PORT:-8080}
if curl -s -m 1 -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
  PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
fi

echo "== ferry deploy $EX/deploy.yaml (blue-green, 2 workers; state in $STATE)"
"$FERRY" deploy "$EX/deploy.yaml" --state-dir "$STATE" --port "$PORT"
echo
echo "== the curl command above, run: the first test image (label 9, Ankle boot)"
curl -s -m 10 -H 'Content-Type: application/json' --data-binary @"$EX/smoke-ankle-boot.json" \
  "http://127.0.0.1:$PORT/predict" | cut -c1-160
echo
echo
echo "== ferry status"
"$FERRY" status --state-dir "$STATE"
echo
echo "== ferry history"
"$FERRY" history --state-dir "$STATE" --limit 1
echo
echo "== ferry stop: the front stops accepting, in-flight requests finish, workers drain"
"$FERRY" stop fashion --state-dir "$STATE"
