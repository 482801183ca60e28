#!/usr/bin/env bash
# Sets up tinyproto on a Debian machine: the real data set and broker from apt, then the npm packages.
# Safe to rerun. Installs apt packages only when missing (needs root or sudo for that step).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# headless browser and a font for the dashboard's end-to-end test (test/dashboard.test.ts)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# arm64 emulation for test/arm64-round.test.ts (one agent round as linux-arm64 under qemu-user):
# installed only as root on x86_64 Debian (it adds the arm64 architecture to dpkg); set
# TINYPROTO_NO_ARM64=1 to leave it out (the test then skips and says why)
arm64=()
if [ "$(id -u)" -eq 0 ] && [ "$(uname -m)" = x86_64 ] && [ -z "${TINYPROTO_NO_ARM64:-}" ]; then
  for p in qemu-user-static libc6:arm64 libstdc++6:arm64 g++-aarch64-linux-gnu file; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || arm64+=("$p")
  done
  if [ ${#arm64[@]} -gt 0 ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    need+=("${arm64[@]}")
  fi
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]} with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# .npmrc skips onnxruntime-node's CUDA download; @tensorflow/tfjs-node is optional and is simply
# absent where its libtensorflow download cannot run (tinyproto then trains on the wasm backend).
npm ci --no-audit --no-fund
