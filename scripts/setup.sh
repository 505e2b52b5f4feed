#!/usr/bin/env bash
# Installs what building, running and testing the appliance needs on Debian 12, then exits.
# Idempotent: every step checks first, so a second run takes about a second.
#   scripts/setup.sh run    what `make run` needs
#   scripts/setup.sh test   that, plus the servers and tools the tests start (nats-server,
#                           Prometheus, aravis-tools, an S3 API server: moto)
#   scripts/setup.sh bench  that, plus the Python onnxruntime `vod bench vision` compares with
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-run}
ort_version=1.31.1
ort_dir=.tools/onnxruntime
ort_lib=$ort_dir/libonnxruntime.so.$ort_version

packages=(build-essential pkg-config clang libclang-dev libopencv-dev libaravis-dev
  libusb-1.0-0-dev nats-server python3 python3-pip sqlite3 curl)
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  packages+=(aravis-tools prometheus docker-compose python3-venv systemd chromium chromium-driver)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust 1.94 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi

# ONNX Runtime: the shared library from the PyPI wheel, kept inside the tree (git-ignored);
# .cargo/config.toml points ORT_DYLIB_PATH at it for cargo run and cargo test.
if [ ! -f "$ort_lib" ]; then
  echo "setup: fetching onnxruntime==$ort_version from PyPI"
  wheels=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "onnxruntime==$ort_version"
  mkdir -p "$ort_dir"
  python3 - "$wheels" "$ort_dir" "$ort_version" <<'PY'
import glob, os, sys, zipfile
wheels, target, version = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(wheels, "onnxruntime-*.whl"))
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as archive, open(os.path.join(target, f"libonnxruntime.so.{version}.tmp"), "wb") as out:
    out.write(archive.read(name))
os.replace(os.path.join(target, f"libonnxruntime.so.{version}.tmp"), os.path.join(target, f"libonnxruntime.so.{version}"))
PY
  rm -rf "$wheels"
fi

# The S3 API server the uplink tests upload to (moto_server), in a venv of its own.
moto_version=5.2.5
moto_venv=.tools/moto
if [ "$purpose" != run ] && [ ! -x "$moto_venv/bin/moto_server" ]; then
  echo "setup: creating $moto_venv with moto[server]==$moto_version"
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet "moto[server]==$moto_version"
fi

# An independent client of the NATS micro protocol for the control-plane test (nats-py).
nats_py_version=2.15.0
nats_py_venv=.tools/nats-py
if [ "$purpose" != run ] && [ ! -x "$nats_py_venv/bin/python" ]; then
  echo "setup: creating $nats_py_venv with nats-py==$nats_py_version"
  python3 -m venv "$nats_py_venv"
  "$nats_py_venv/bin/pip" install --quiet "nats-py==$nats_py_version"
fi

# The reference of `vod bench vision`: the same ONNX Runtime release, from Python.
bench_venv=.tools/bench-venv
if [ "$purpose" = bench ] && [ ! -x "$bench_venv/bin/python" ]; then
  echo "setup: creating $bench_venv with onnxruntime==$ort_version and numpy"
  python3 -m venv "$bench_venv"
  "$bench_venv/bin/pip" install --quiet "onnxruntime==$ort_version" numpy
fi
