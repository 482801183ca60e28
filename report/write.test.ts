import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCharts } from './charts.ts';
import { loadSimulationJson } from './load.ts';
import type { RunData } from './model.ts';
import { PNG_SIGNATURE } from './png.ts';
import { writeReport } from './write.ts';
import { count, telemetryFor, tinySimulation, unbalancedTags } from '../test/helpers/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-report-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function simRun(name: string, telemetry: boolean): RunData {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(tinySimulation({ rounds: 3, clients: 2, telemetry })));
  return loadSimulationJson(path);
}

test('charts without data are skipped with a reason, never drawn', () => {
  const { charts, skipped } = buildCharts([simRun('plain', false)]);
  assert.deepEqual(charts.map((c) => c.id), ['accuracy-runs', 'accuracy-time', 'accuracy-bytes', 'bytes-runs', 'accuracy-agents-plain']);
  assert.deepEqual(skipped.map((s) => s.id), ['energy-plain', 'memory-plain', 'latency-rounds-plain', 'latency-agents-plain']);
  assert.ok(skipped.every((s) => /no telemetry/.test(s.reason)));
  const none = buildCharts([{ name: 'empty', method: 'local', kind: 'fleet', rounds: [], perAgent: [], telemetry: [] }]);
  assert.deepEqual(none.charts, []);
  assert.equal(none.skipped.length, 9);
});

test('at 40 agents the per-agent charts draw a median and a 10th-90th percentile band, not 40 lines', () => {
  const agents = Array.from({ length: 40 }, (_, i) => `agent-${String(i).padStart(2, '0')}`);
  const tel = [1, 2].flatMap((round) => agents.map((a) => telemetryFor('big', a, round)));
  const perAgent = [1, 2].flatMap((round) => agents.map((agent, i) => ({ agent, round, accuracyHead: 0.5 + i / 100, accuracyPrototype: null })));
  const run: RunData = { name: 'big', method: 'tinyproto', kind: 'fleet', rounds: [1, 2].map((round) => ({ round, accuracyHead: 0.6, accuracyPrototype: null, bytesUp: 1000, bytesDown: 2000, seconds: 3 })), perAgent, telemetry: tel };
  const { charts } = buildCharts([run]);
  const acc = charts.find((c) => c.id === 'accuracy-agents-big')!;
  assert.ok(acc.svg.includes('head: median of 40 agents') && acc.svg.includes('head: 10th percentile') && acc.svg.includes('head: 90th percentile'));
  assert.ok(!acc.svg.includes('agent-07'), 'no line per agent');
  assert.ok(charts.find((c) => c.id === 'memory-big')!.svg.includes('peak RSS: median of 40 agents'));
  const energy = charts.find((c) => c.id === 'energy-big')!.svg;
  assert.ok(energy.includes('energy: median of 40 agents') && energy.includes('energy (J; estimate: rpi4b)'));
  const time = charts.find((c) => c.id === 'accuracy-time')!;
  assert.ok(time.svg.includes('cumulative round time (s)'));
  assert.ok(charts.find((c) => c.id === 'accuracy-bytes')!.svg.includes('(KiB)'));
});

test('energy legend names each agent\'s energy source; latency stacks one bar per phase', () => {
  const tel = [1, 2].flatMap((round) => [telemetryFor('e', 'agent-1', round), telemetryFor('e', 'agent-2', round, { source: 'rapl' })]);
  const run: RunData = { name: 'e', method: 'tinyproto', kind: 'fleet', rounds: [], perAgent: [], telemetry: tel };
  const { charts } = buildCharts([run]);
  const energy = charts.find((c) => c.id === 'energy-e');
  assert.ok(energy);
  assert.ok(energy.svg.includes('agent-1 (estimate: rpi4b)'));
  assert.ok(energy.svg.includes('agent-2 (rapl: rpi4b)'));
  assert.equal(count(energy.svg, /<rect class="bar"/), 4);
  const latency = charts.find((c) => c.id === 'latency-rounds-e');
  assert.ok(latency);
  // round 1: 7 phases (data load included) + other; round 2: no data load
  assert.equal(count(latency.svg, /<rect class="bar"/), 8 + 7);
});

test('writeReport end to end: files, CSV, JSON, PNGs, index.html embedding every chart', () => {
  const out = join(dir, 'out');
  const runs = [simRun('with <tel> & co', true), simRun('baseline', false)];
  const res = writeReport(runs, out, { title: 'Bench <1>', pngWidth: 400, now: () => new Date(0) });
  for (const f of ['rounds.csv', 'agents.csv', 'telemetry.csv', 'report.json', 'index.html']) assert.ok(existsSync(join(out, f)), f);
  assert.ok(res.charts.length >= 8);
  for (const c of res.charts) {
    assert.ok(existsSync(join(out, `${c.id}.svg`)));
    const png = readFileSync(join(out, `${c.id}.png`));
    assert.deepEqual(new Uint8Array(png.subarray(0, 8)), PNG_SIGNATURE);
  }
  assert.deepEqual(res.skipped.map((s) => s.id), ['energy-baseline', 'memory-baseline', 'latency-rounds-baseline', 'latency-agents-baseline']);

  const rounds = readFileSync(join(out, 'rounds.csv'), 'utf8').trimEnd().split('\r\n');
  assert.equal(rounds.length, 1 + 6);
  assert.equal(rounds[3], 'with <tel> & co,simulate,tinyproto,3,0.6000000000000001,0.55,600,1400,1800,4200,2.5');
  assert.equal(readFileSync(join(out, 'telemetry.csv'), 'utf8').trimEnd().split('\r\n').length, 1 + 6);
  assert.equal(readFileSync(join(out, 'agents.csv'), 'utf8').trimEnd().split('\r\n').length, 1 + 12);

  const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { runs: { name: string; summary: { energyJoules: number | null } }[]; charts: { svg: string }[] };
  assert.deepEqual(json.runs.map((r) => r.name), ['with <tel> & co', 'baseline']);
  assert.equal(json.runs[0]!.summary.energyJoules, 2 * (5 + 6 + 7));
  assert.equal(json.runs[1]!.summary.energyJoules, null);
  assert.equal(json.charts.length, res.charts.length);

  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.deepEqual(unbalancedTags(html), []);
  assert.ok(html.includes('<title>Bench &lt;1&gt;</title>'));
  assert.ok(html.includes('with &lt;tel&gt; &amp; co'));
  assert.ok(!html.includes('with <tel>'));
  assert.equal(count(html, /<svg /), res.charts.length);
  for (const c of res.charts) {
    assert.ok(html.includes(`href="${c.id}.png"`), c.id);
    assert.ok(html.includes(`id="${c.id}"`), c.id);
  }
  assert.match(html, /Peak RSS per round per agent - baseline: no telemetry/);
});
