/**
 * Board emulation for real where this host allows it (root, cgroup v1 or v2): a busy child in a
 * quarter-core group gets a quarter of a core, a child over its memory limit is killed, and the
 * groups are gone afterwards. The cgroup v2 file layout is checked on a fixture tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroup, detectCgroups } from './cgroup.ts';
import { BoardEmulator } from './board-emulator.ts';
import { BOARD_EMULATIONS, EMULATED_BOARDS, PI4_RESNET8_TRAIN_IMAGES_PER_SEC, boardEmulation, cpuQuotaFor } from './boards.ts';
import { PROFILES } from '../board/profiles.ts';

const support = detectCgroups();
const live = support.version !== null && process.getuid?.() === 0;
const skip = live ? false : `cgroups not usable here (${support.version === null ? support.reason : 'not root'})`;

function run(code: string, attach: (pid: number) => void): Promise<{ out: string; code: number | null; signal: string | null }> {
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  attach(child.pid!);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((res) => child.once('exit', (c, s) => res({ out, code: c, signal: s })));
}

test('every emulated board has a source for its speed and memory and an energy profile of the same name', () => {
  for (const b of EMULATED_BOARDS) {
    const e = BOARD_EMULATIONS[b];
    assert.ok(e.speedVsPi4.source.length > 20 && e.memoryBytes.source.length > 20, b);
    assert.ok(PROFILES[e.board], `${b} has an energy profile`);
  }
  assert.ok(BOARD_EMULATIONS.rpizero2w.memoryBytes.value < 512 * 2 ** 20, 'a 512 MB board gets less than 512 MB');
  assert.throws(() => boardEmulation('rpi9'), (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /rpi9/.test(e.message));
});

test('the CPU quota is the board speed over this machine\'s, clamped to the agent\'s cores', () => {
  const host = 800;
  const q = cpuQuotaFor(BOARD_EMULATIONS.rpi4b, host);
  assert.equal(q.cores, PI4_RESNET8_TRAIN_IMAGES_PER_SEC.value / host);
  assert.equal(q.clamped, false);
  assert.ok(cpuQuotaFor(BOARD_EMULATIONS.rpizero2w, host).cores < q.cores);
  const fast = cpuQuotaFor(BOARD_EMULATIONS.rpi5, 100);
  assert.deepEqual([fast.cores, fast.clamped], [1, true]);
  assert.throws(() => cpuQuotaFor(BOARD_EMULATIONS.rpi4b, 0), /must be > 0/);
});

test('cgroup v2 layout: cpu.max, memory.max, no swap, controllers enabled (fixture tree)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cg2-'));
  try {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const s = detectCgroups(root);
    assert.equal(s.version, 'v2');
    mkdirSync(join(root, 'tinyproto', 'run-agent-0'), { recursive: true });
    writeFileSync(join(root, 'tinyproto', 'run-agent-0', 'memory.swap.max'), 'max');
    const g = Cgroup.create(s, 'run-agent-0', { cpuCores: 0.25, memoryBytes: 384 * 2 ** 20 });
    const dir = join(root, 'tinyproto', 'run-agent-0');
    assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '25000 100000');
    assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), String(384 * 2 ** 20));
    assert.equal(readFileSync(join(dir, 'memory.swap.max'), 'utf8'), '0');
    assert.equal(readFileSync(join(root, 'tinyproto', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    assert.equal(g.usage().oomEvents, 1);
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io\n');
    assert.equal(detectCgroups(root).version, null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('no cgroups: the board emulator says so and places agents unthrottled', () => {
  const e = new BoardEmulator({ hostImagesPerSec: 800, tag: 't', support: { version: null, reason: 'no cgroup hierarchy (test)' } });
  const p = e.place('agent-0', 'rpizero2w');
  assert.equal(p.cgroup, null);
  assert.equal(e.unavailable, 'no cgroup hierarchy (test)');
  assert.equal(e.attach(p, process.pid), false);
  assert.ok(p.quota.cores > 0 && p.quota.cores < 1);
});

test('a busy process in a quarter-core group gets a quarter of a core', { skip }, async (ctx) => {
  const tag = `test-${process.pid}`;
  const e = new BoardEmulator({ hostImagesPerSec: PI4_RESNET8_TRAIN_IMAGES_PER_SEC.value * 4, tag });
  const p = e.place('agent-0', 'rpi4b'); // speed 1/4 of the "host": 0.25 cores
  assert.ok(p.cgroup, e.unavailable ?? '');
  assert.equal(p.quota.cores, 0.25);
  try {
    // spins for 1.5 s of wall time and reports its CPU seconds
    const r = await run('const t=Date.now();while(Date.now()-t<1500){};const u=process.cpuUsage();console.log(JSON.stringify({cpu:(u.user+u.system)/1e6,wall:process.uptime()}))', (pid) => assert.ok(e.attach(p, pid)));
    const { cpu, wall } = JSON.parse(r.out) as { cpu: number; wall: number };
    ctx.diagnostic(`CPU ${cpu.toFixed(3)} s in ${wall.toFixed(3)} s wall = ${(cpu / wall).toFixed(3)} cores (quota 0.25)`);
    assert.ok(cpu / wall > 0.17 && cpu / wall < 0.33, `${(cpu / wall).toFixed(3)} cores, quota 0.25`);
    const u = e.usage()[0]!.usage;
    assert.ok(u.throttledPeriods > 5, `throttled in ${u.throttledPeriods} of ${u.periods} periods`);
  } finally {
    assert.deepEqual(e.cleanup(), []);
  }
  for (const d of p.cgroup.dirs) assert.equal(existsSync(d), false, `${d} removed`);
});

test('a process over its board\'s memory limit is killed, not swapped', { skip }, async () => {
  const support = detectCgroups();
  const g = Cgroup.create(support, `test-${process.pid}-mem`, { cpuCores: 1, memoryBytes: 96 * 2 ** 20 });
  try {
    const r = await run('const a=[];for(let i=0;i<40;i++){a.push(Buffer.alloc(8*2**20,1))};console.log("survived")', (pid) => g.add(pid));
    assert.equal(r.signal, 'SIGKILL', `exit ${r.code} ${r.signal} ${r.out}`);
    assert.ok((g.usage().peakMemoryBytes ?? 0) <= 96 * 2 ** 20 + 2 ** 20);
  } finally {
    assert.deepEqual(g.remove(), []);
  }
});
