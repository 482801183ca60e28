/**
 * `tinyproto fleet --link ... --board ...` end to end with real agent processes: each agent
 * connects through its own link emulator (its telemetry's upload phase shows the emulated round
 * trip), runs in its board's cgroup (its CPU use per wall second stays under the quota), reports
 * the board it emulates (energy estimate from that board's profile), and the cgroups are gone
 * afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, type FleetOptions } from '../fleet/run.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { detectCgroups } from '../emulation/cgroup.ts';
import { PI4_RESNET8_TRAIN_IMAGES_PER_SEC } from '../emulation/boards.ts';
import { fleetPlan } from '../method/fleet-plan.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const support = detectCgroups();
const cgroups = support.version !== null && process.getuid?.() === 0;

test('a fleet over emulated links on emulated boards', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 300_000 }, async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-emu-'));
  const experiment = `emu-${process.pid}`;
  // a "host" twice as fast as a Pi 4: the agents get half a core each
  const host = PI4_RESNET8_TRAIN_IMAGES_PER_SEC.value * 2;
  const opts: FleetOptions = {
    agents: 2, rounds: 1, broker: 'embedded', dir, experiment, method: 'tinyproto', alpha: 1, seed: 3, samplesPerClient: 60,
    dataDir: null, featureDim: 500, ratio: 0.1, valueType: 'float32', families: ['resnet8'], credentials: null, caFile: null,
    roundDeadlineMs: 240_000, backend: 'wasm', link: 'none,latency=40ms,up=2mbit', board: 'rpi4b', hostImagesPerSec: host,
  };
  const telemetry: RoundTelemetry[] = [];
  let lines: readonly string[] = [];
  try {
    const res = await runFleet(opts, { onTelemetry: (t) => telemetry.push(t), onEmulation: (l) => (lines = l) });
    ctx.diagnostic(lines.join(' | '));
    assert.equal(res.rounds.length, 1);
    assert.equal(res.rounds[0]!.uploads, 2);
    assert.match(lines.join('\n'), /link none,latency=40ms,up=2mbit/);
    assert.match(lines.join('\n'), cgroups ? /CPU quota 0\.500 cores, memory 3840 MiB per agent; cgroup v[12]/ : /UNTHROTTLED/);
    assert.equal(res.links.length, 2);
    for (const l of res.links) assert.ok(l.upBytes > 1000 && l.downBytes > 1000, `${l.agent}: ${l.upBytes} B up, ${l.downBytes} B down through its emulator`);
    assert.equal(telemetry.length, 2);
    for (const t of telemetry) {
      assert.equal(t.board, 'rpi4b');
      assert.match(t.energy.detail ?? '', /estimate: rpi4b/);
      // publish to PUBACK through the emulator: at least the 2 x 40 ms round trip
      assert.ok(t.phases.upload >= 0.08, `${t.agent} upload phase ${t.phases.upload} s, emulated RTT 0.08 s`);
      const cores = (t.cpu.userSeconds + t.cpu.systemSeconds) / t.phases.round;
      ctx.diagnostic(`${t.agent}: train ${t.phases.train.toFixed(2)} s, upload ${(t.phases.upload * 1000).toFixed(0)} ms, ${cores.toFixed(2)} cores over the round`);
    }
    if (cgroups) {
      assert.equal(res.boards.length, 2);
      for (const b of res.boards) {
        ctx.diagnostic(`${b.agent}: throttled in ${b.throttledPeriods} of ${b.periods} CFS periods, peak memory ${((b.peakMemoryBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`);
        assert.ok(b.throttledPeriods > 0, `${b.agent} ran in its cgroup and hit the quota (${b.throttledPeriods} of ${b.periods} periods)`);
        assert.ok((b.peakMemoryBytes ?? 0) > 50 * 2 ** 20, 'the agent\'s memory was charged to its group');
      }
    }
    if (cgroups && support.version === 'v1') {
      for (const id of ['agent-0', 'agent-1']) assert.equal(existsSync(join(support.cpuRoot, 'tinyproto', `${experiment}-${id}`)), false, 'cgroup removed');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-agent emulation: each group its own link and board, agents without one run direct and unthrottled', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 300_000 }, async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-emu-groups-'));
  const host = PI4_RESNET8_TRAIN_IMAGES_PER_SEC.value * 2;
  const plans = fleetPlan({
    agents: 2, link: null, board: null,
    groups: [
      { name: 'radio', agents: 1, link: 'none,latency=40ms', board: null, offline: [], crashUpload: [] },
      { name: 'pi', agents: 1, link: null, board: 'rpi4b', offline: [], crashUpload: [] },
    ],
  });
  const opts: FleetOptions = {
    agents: 2, rounds: 1, broker: 'embedded', dir, experiment: `emu-groups-${process.pid}`, method: 'tinyproto', alpha: 1, seed: 3, samplesPerClient: 60,
    dataDir: null, featureDim: 500, ratio: 0.1, valueType: 'float32', families: ['resnet8'], credentials: null, caFile: null,
    roundDeadlineMs: 240_000, backend: 'wasm', hostImagesPerSec: host, plans,
  };
  const telemetry: RoundTelemetry[] = [];
  let lines: readonly string[] = [];
  try {
    const res = await runFleet(opts, { onTelemetry: (t) => telemetry.push(t), onEmulation: (l) => (lines = l) });
    ctx.diagnostic(lines.join(' | '));
    assert.equal(res.rounds[0]!.uploads, 2);
    // one line per distinct profile, naming its group
    assert.equal(lines.filter((l) => /^(link|board) /.test(l)).length, 2);
    assert.match(lines.find((l) => l.startsWith('link '))!, /1 agent \(group radio\)/);
    assert.match(lines.find((l) => l.startsWith('board '))!, /board rpi4b: .*1 agent \(group pi\)/);
    // only agent-0 has a link emulator; only agent-1 emulates a board
    assert.deepEqual(res.links.map((l) => l.agent), ['agent-0']);
    if (cgroups) assert.deepEqual(res.boards.map((b) => b.agent), ['agent-1']);
    const t0 = telemetry.find((t) => t.agent === 'agent-0')!;
    const t1 = telemetry.find((t) => t.agent === 'agent-1')!;
    assert.equal(t1.board, 'rpi4b');
    assert.notEqual(t0.board, 'rpi4b');
    assert.ok(t0.phases.upload >= 0.08, `agent-0 upload phase ${t0.phases.upload} s through its 40 ms link`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tinyproto fleet: [[group]] tables give one plan per agent, agents = their sum', async () => {
  const { fleetOptions, groupLines } = await import('../cli/fleet.ts');
  const dir = mkdtempSync(join(tmpdir(), 'fleet-groups-'));
  const file = join(dir, 'g.toml');
  writeFileSync(file, '[fleet]\nlink = "lte"\n\n[[group]]\nname = "a"\nagents = 2\nboard = "rpi5"\n\n[[group]]\nname = "b"\nagents = 1\nlink = "wifi-weak"\noffline = ["2-3"]\n');
  try {
    const o = fleetOptions(['--experiment-file', file]).options;
    assert.equal(o.agents, 3);
    assert.deepEqual(o.plans!.map((p) => [p.id, p.group, p.link, p.board]), [['agent-0', 'a', 'lte', 'rpi5'], ['agent-1', 'a', 'lte', 'rpi5'], ['agent-2', 'b', 'wifi-weak', null]]);
    assert.deepEqual(o.plans![2]!.offline, [[2, 3]]);
    assert.match(groupLines(o).join('\n'), /group b: agent-2\.\.agent-2, link wifi-weak, board none, offline rounds 2-3/);
    assert.throws(() => fleetOptions(['--experiment-file', file, '--agents', '4']), (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /the groups hold 3 agents/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tinyproto fleet: --link and --board are checked before anything starts', async () => {
  const { fleetOptions } = await import('../cli/fleet.ts');
  const ok = fleetOptions(['--link', 'lte,up=2mbit', '--board', 'rpi5', '--host-speed', '400']).options;
  assert.deepEqual([ok.link, ok.board, ok.hostImagesPerSec], ['lte,up=2mbit', 'rpi5', 400]);
  const plain = fleetOptions([]).options;
  assert.deepEqual([plain.link, plain.board], [null, null]);
  assert.throws(() => fleetOptions(['--link', 'wifi-bad']), (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /unknown profile "wifi-bad"/.test(e.message));
  assert.throws(() => fleetOptions(['--link', 'lte,delay=3ms']), /unknown key "delay"/);
  assert.throws(() => fleetOptions(['--board', 'rpi9']), /emulated boards are rpizero2w, rpi4b, rpi5, jetson-orin-nano/);
  assert.throws(() => fleetOptions(['--board', 'rpi4b', '--host-speed=0']), /--host-speed must be > 0/);
});
