#!/usr/bin/env bash
# Runs the bench rig on this machine: a local nats-server, the SICK scanner emulator and the
# appliance, until Ctrl-C or SIGTERM; then stops all three. The appliance runs from
# data/vod.toml, a copy of deploy/bench/vod.toml made on the first run: changes made while it
# runs (SIGHUP after an edit, the bus, the web page) are written into that copy, never into
# the checkout. Delete data/vod.toml to start again from the repository's file.
#   scripts/bench.sh PATH_TO_VOD_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
vod=${1:?usage: scripts/bench.sh PATH_TO_VOD_BINARY}
config=data/vod.toml
# The ONNX Runtime library scripts/setup.sh put in the tree, unless the caller names another.
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/.tools/onnxruntime/libonnxruntime.so.1.31.1}
mkdir -p data
if [ ! -e "$config" ]; then
  cp deploy/bench/vod.toml "$config"
  echo "bench: $config is a copy of deploy/bench/vod.toml; changes go there"
else
  echo "bench: using $config (delete it to start again from deploy/bench/vod.toml)"
fi

children=()
stop() {
  trap - INT TERM EXIT
  [ -n "${appliance:-}" ] && kill -TERM "$appliance" 2>/dev/null && wait "$appliance" 2>/dev/null
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

if (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  echo "bench: using the nats-server already on 127.0.0.1:4222"
else
  nats-server -a 127.0.0.1 -p 4222 -js -sd data/nats >data/nats-server.log 2>&1 &
  children+=($!)
fi
"$vod" sim lidar --listen 127.0.0.1:2112 &
children+=($!)

"$vod" config check "$config"
echo "bench: web page http://127.0.0.1:8080  metrics http://127.0.0.1:9100/metrics  data ./data"
"$vod" run --config "$config" &
appliance=$!
set +e
wait "$appliance"
status=$?
appliance=
exit "$status"
