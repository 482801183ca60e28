import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTinyProtoError } from '../common/errors.ts';
import { runReport } from './report.ts';
import { tinySimulation } from '../test/helpers/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-cli-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('tinyproto report FILE --out DIR writes the report and says what it wrote', () => {
  const sim = join(dir, 'sim.json');
  writeFileSync(sim, JSON.stringify(tinySimulation({ rounds: 2, clients: 2, telemetry: true })));
  const lines: string[] = [];
  const out = join(dir, 'out');
  assert.equal(runReport([sim, '--out', out], (s) => lines.push(s)), 0);
  const text = lines.join('\n');
  assert.match(text, /run sim \(simulate, tinyproto\): 2 rounds, 2 agents/);
  assert.match(text, /wrote \d+ files to .*out: rounds\.csv, agents\.csv, telemetry\.csv, /);
  assert.ok(existsSync(join(out, 'index.html')));
  assert.ok(existsSync(join(out, 'energy-sim.png')));
});

test('--help, and usage errors are E_CONFIG', () => {
  const lines: string[] = [];
  assert.equal(runReport(['--help'], (s) => lines.push(s)), 0);
  assert.match(lines.join(''), /Usage: tinyproto report FILE/);
  const isConfig = (re: RegExp) => (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && re.test(e.message);
  assert.throws(() => runReport(['--out', dir], () => {}), isConfig(/at least one FILE/));
  assert.throws(() => runReport([join(dir, 'x.json')], () => {}), isConfig(/--out DIR is required/));
  assert.throws(() => runReport([join(dir, 'nope.json'), '--out', join(dir, 'o2')], () => {}), isConfig(/nope\.json: cannot read/));
});
