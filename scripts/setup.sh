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
