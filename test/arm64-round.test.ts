/**
 * The short form of the arm64 check (scripts/arm64-round.sh --quick): one real agent round with
 * the agent as linux-arm64 (Node 20 arm64, onnxruntime-node's arm64 binaries, better-sqlite3
 * cross-built for arm64) under qemu-user emulation against the x64 aggregator on loopback. Runs
 * where the script can: an x86_64 Debian host, as root, with qemu-user-static and the arm64
 * libraries installed (scripts/setup.sh installs them as root) and private mount namespaces
 * allowed. Builds are cached in .cache/arm64 (the first run cross-builds better-sqlite3: minutes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DEFAULT_DATA_DIR } from '../data/index.ts';

function why(): string | false {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs an x86_64 Linux host';
  if (process.getuid?.() !== 0) return 'needs root (unshare -m, mount --bind, binfmt_misc)';
  if (!existsSync('/usr/bin/qemu-aarch64-static')) return 'qemu-user-static not installed (scripts/setup.sh installs it as root)';
  if (!existsSync('/usr/lib/aarch64-linux-gnu/libstdc++.so.6')) return 'libstdc++6:arm64 not installed (scripts/setup.sh installs it as root)';
  if (!existsSync('/usr/bin/aarch64-linux-gnu-g++')) return 'g++-aarch64-linux-gnu not installed (scripts/setup.sh installs it as root)';
  if (!existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`)) return 'dataset-fashion-mnist not installed';
  if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'private mount namespaces (unshare -m) are not allowed here';
  return false;
}

test('one agent round as linux-arm64 under qemu-user against the x64 aggregator', { skip: why(), timeout: 900_000 }, async () => {
  const child = spawn('bash', ['scripts/arm64-round.sh', '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, out.slice(-4000));
  assert.match(out, /arm64-round: PASS \(quick, 100 samples/);
  assert.match(out, /linux-arm64 under qemu-aarch64-static/);
});
