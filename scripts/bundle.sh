#!/usr/bin/env bash
# Offline install bundle, prepared on a machine with the npm registry, for boards without one:
#   scripts/bundle.sh [OUT_DIR]   ->  OUT_DIR/tinyproto-VERSION-linux-ARCH.tar.gz
# It packs tinyproto (npm pack: dist/, bin/, broker-config/, deploy/), installs its production
# dependencies beside it from the lock file (native better-sqlite3 built for this machine's
# Node and CPU: build the bundle on the board's architecture, or under qemu for arm64), drops
# onnxruntime-node's binaries for other platforms, and tars the tree. On the board:
#   sudo tar -xzf tinyproto-*.tar.gz -C /opt && sudo /opt/tinyproto/deploy/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-bundle}")"
mkdir -p "$out"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
tgz="$(npm pack --silent --pack-destination "$stage" 2>/dev/null | tail -n1)"
mkdir -p "$stage/tinyproto"
tar -xzf "$stage/$tgz" -C "$stage/tinyproto" --strip-components=1
cp package-lock.json .npmrc "$stage/tinyproto/"
(cd "$stage/tinyproto" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund)
arch="$(node -p process.arch)"
# onnxruntime-node ships every platform's binaries; keep this one's
ort="$stage/tinyproto/node_modules/onnxruntime-node/bin"
if [ -d "$ort" ]; then
  find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} +
  find "$ort" -mindepth 3 -maxdepth 3 -type d ! -name "$arch" -exec rm -rf {} +
fi
rm -f "$stage/tinyproto/package-lock.json"
version="$(node -p 'require("./package.json").version')"
file="$out/tinyproto-$version-linux-$arch.tar.gz"
tar -czf "$file" -C "$stage" tinyproto
echo "bundle: $file ($(du -h "$file" | cut -f1)); unpacked $(du -sh "$stage/tinyproto" | cut -f1)"
