import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isTinyProtoError } from '../common/errors.ts';
import { openStoreDb, closeDb } from '../storage/sqlite.ts';
import { AGGREGATOR_SCHEMA, openAggregatorStore } from '../aggregator/store.ts';
import { openAgentStore } from '../agent/store.ts';
import { loadAggregatorDb, loadRun, loadRuns, loadSimulationJson } from './load.ts';
import { participationText, summariseRun } from './summary.ts';
import { telemetryFor, tinySimulation } from '../test/helpers/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-report-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const file = (name: string): string => join(dir, `${++seq}-${name}`);
const configError = (re: RegExp) => (e: unknown) => {
  assert.ok(isTinyProtoError(e, 'E_CONFIG'), `expected E_CONFIG, got ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

/** An aggregator store with one experiment: 2 closed rounds + 1 open, telemetry of 2 agents. */
function makeStore(path: string, opts: { telemetry: boolean }): void {
  const s = openAggregatorStore(path);
  s.createExperiment('exp', { method: 'fedproto', agents: ['a', 'b'] }, null);
  for (const round of [1, 2]) {
    s.openRound('exp', round, Uint8Array.of(round), 1000);
    s.closeRound('exp', round, Uint8Array.of(1, 2, 3), { round, uploads: 2, selected: 2, bytesIn: 100 * round, globalBytes: 50, seconds: 1.5 });
    if (opts.telemetry) {
      s.recordTelemetry('exp', 'b', round, telemetryFor('exp', 'b', round, { head: 0.8, proto: round === 1 ? null : 0.6, testCount: 300 }), 1);
      s.recordTelemetry('exp', 'a', round, telemetryFor('exp', 'a', round, { head: 0.4, proto: 0.2, testCount: 100 }), 1);
    }
  }
  s.openRound('exp', 3, Uint8Array.of(3), 1000);
  s.createExperiment('second', { method: 'local', agents: ['a'] }, null);
  s.close();
}

describe('loadSimulationJson', () => {
  test('rounds, per-client accuracy; no telemetry when absent', () => {
    const path = file('sim.json');
    writeFileSync(path, JSON.stringify(tinySimulation({ rounds: 3, clients: 2 })));
    const run = loadSimulationJson(path);
    assert.equal(run.kind, 'simulate');
    assert.equal(run.method, 'tinyproto');
    assert.match(run.name, /sim$/);
    assert.deepEqual(run.rounds.map((r) => r.round), [1, 2, 3]);
    assert.equal(run.rounds[0]!.accuracyPrototype, null);
    assert.equal(run.rounds[0]!.bytesUp, 600, 'whole messages: 300 B x 2 clients');
    assert.equal(run.rounds[0]!.bytesDown, 1400);
    assert.equal(run.perAgent.length, 6);
    assert.deepEqual(run.perAgent.slice(0, 2).map((a) => a.agent), ['client-0', 'client-1']);
    assert.deepEqual(run.telemetry, []);
  });

  test('a run with simulated links and boards is timed by its simulated round times', () => {
    const path = file('sim-timed.json');
    const doc = tinySimulation({ rounds: 2, clients: 2 }) as { rounds: Record<string, unknown>[] };
    doc.rounds[1]!['timing'] = { openedAt: 0, seconds: 42.5 };
    writeFileSync(path, JSON.stringify(doc));
    const run = loadSimulationJson(path);
    assert.equal(run.rounds[1]!.seconds, 42.5);
    assert.equal(run.rounds[0]!.seconds, doc.rounds[0]!['seconds'], 'without timing: the round record\'s own seconds');
  });

  test('rounds[].clients[].telemetry is picked up; malformed telemetry is E_CONFIG naming the file', () => {
    const path = file('sim-tel.json');
    writeFileSync(path, JSON.stringify(tinySimulation({ rounds: 2, clients: 2, telemetry: true })));
    const run = loadSimulationJson(path);
    assert.equal(run.telemetry.length, 4);
    assert.deepEqual(run.telemetry.map((t) => `${t.round}:${t.agent}`), ['1:client-0', '1:client-1', '2:client-0', '2:client-1']);
    const bad = tinySimulation({ rounds: 1, clients: 1 }) as { rounds: { clients: Record<string, unknown>[] }[] };
    bad.rounds[0]!.clients[0]!['telemetry'] = { agent: 'x', round: 1 };
    const badPath = file('bad-tel.json');
    writeFileSync(badPath, JSON.stringify(bad));
    assert.throws(() => loadSimulationJson(badPath), configError(/bad-tel\.json: rounds\[0\]\.clients\[0\]\.telemetry: malformed telemetry record \(phases\)/));
  });
});

describe('loadAggregatorDb', () => {
  test('every experiment; closed rounds; accuracy weighted by test count from telemetry', () => {
    const path = file('agg.db');
    makeStore(path, { telemetry: true });
    const runs = loadAggregatorDb(path);
    assert.deepEqual(runs.map((r) => [r.name, r.method, r.kind]), [['exp', 'fedproto', 'fleet'], ['second', 'local', 'fleet']]);
    const run = runs[0]!;
    assert.deepEqual(run.rounds.map((r) => r.round), [1, 2], 'the open round is left out');
    const [r1, r2] = run.rounds;
    assert.ok(Math.abs(r1!.accuracyHead! - (0.8 * 300 + 0.4 * 100) / 400) < 1e-12);
    assert.ok(Math.abs(r1!.accuracyPrototype! - 0.2) < 1e-12, 'only agents with a prototype accuracy count');
    assert.ok(Math.abs(r2!.accuracyPrototype! - (0.6 * 300 + 0.2 * 100) / 400) < 1e-12);
    assert.deepEqual([r2!.bytesUp, r2!.bytesDown, r2!.seconds], [200, 100, 1.5], 'global bytes times the 2 agents');
    assert.deepEqual(run.perAgent.map((a) => `${a.round}:${a.agent}`), ['1:a', '1:b', '2:a', '2:b']);
    assert.equal(run.telemetry.length, 4);
    assert.deepEqual(runs[1]!.rounds, []);
  });

  test('a version-1 store (no telemetry table) loads read-only and is not migrated', () => {
    const path = file('v1.db');
    const db = openStoreDb(path, { ...AGGREGATOR_SCHEMA, migrations: AGGREGATOR_SCHEMA.migrations.slice(0, 1) });
    db.prepare('INSERT INTO experiment (id, config, created_at) VALUES (?, ?, ?)').run('old', JSON.stringify({ method: 'tinyproto' }), 1);
    db.prepare("INSERT INTO round (experiment, round, status, opened_at, deadline_ms, announcement, summary) VALUES ('old', 1, 'closed', 1, 1, x'01', ?)").run(
      JSON.stringify({ bytesIn: 10, globalBytes: 5, selected: 3, seconds: 2 }),
    );
    closeDb(db);
    const [run] = loadAggregatorDb(path);
    assert.ok(run);
    assert.deepEqual(run.rounds, [{ round: 1, accuracyHead: null, accuracyPrototype: null, bytesUp: 10, bytesDown: 15, seconds: 2 }]);
    assert.deepEqual(run.telemetry, []);
    const check = new Database(path, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 1);
    check.close();
  });
});

describe('loadRun / loadRuns', () => {
  test('dispatches on content, not on the extension', () => {
    const db = file('agg-no-ext');
    makeStore(db, { telemetry: false });
    const json = file('sim.data');
    writeFileSync(json, JSON.stringify(tinySimulation()));
    assert.deepEqual(loadRun(db).map((r) => r.kind), ['fleet', 'fleet']);
    assert.deepEqual(loadRun(json).map((r) => r.kind), ['simulate']);
  });

  test('unreadable and unknown files are E_CONFIG naming the file', () => {
    assert.throws(() => loadRun(join(dir, 'missing.json')), configError(/missing\.json: cannot read/));
    const txt = file('notes.txt');
    writeFileSync(txt, 'hello');
    assert.throws(() => loadRun(txt), configError(/notes\.txt: unknown file/));
    const badJson = file('broken.json');
    writeFileSync(badJson, '{"config": ');
    assert.throws(() => loadRun(badJson), configError(/broken\.json: not valid JSON/));
    const other = file('other.json');
    writeFileSync(other, '{"hello": 1}');
    assert.throws(() => loadRun(other), configError(/other\.json: not a simulation result/));
    const agent = file('agent.db');
    openAgentStore(agent).close();
    assert.throws(() => loadRun(agent), configError(/agent\.db: is a tinyproto agent store, not an aggregator store/));
    const foreign = file('foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE t (x)');
    f.close();
    assert.throws(() => loadRun(foreign), configError(/foreign\.db: is not a tinyproto aggregator store/));
    assert.ok(statSync(foreign).size > 0);
  });

  test('clashing run names are made unique', () => {
    const a = file('a.db');
    const b = file('b.db');
    makeStore(a, { telemetry: false });
    makeStore(b, { telemetry: false });
    const names = loadRuns([a, b]).map((r) => r.name);
    assert.equal(new Set(names).size, 4);
    assert.ok(names.every((n) => /a\.db:|b\.db:/.test(n)));
  });
});

describe('a fleet run directory with participation.json', () => {
  test('churn and participation reach the run and its summary; a malformed file is E_CONFIG', () => {
    const sub = mkdtempSync(join(dir, 'fleet-'));
    const path = join(sub, 'aggregator.db');
    makeStore(path, { telemetry: true });
    const round = (r: number, uploaded: string[], offline: string[], late: string[]) => ({ round: r, outcome: 'deadline', selected: ['a', 'b'], uploaded, offline, crashed: [], late, duplicates: [] });
    const doc = {
      experiment: 'exp',
      churn: [{ agent: 'b', round: 2, action: 'offline', atMs: 10, pid: 1 }, { agent: 'a', round: 1, action: 'crash', atMs: 5, pid: 2 }, { agent: 'a', round: 1, action: 'restart', atMs: 7, pid: 3 }],
      participation: [round(1, ['a', 'b'], [], []), round(2, ['a'], ['b'], ['b'])],
      crashes: [{ agent: 'a', round: 1, pid: 2, signal: 'SIGKILL', restarted: true, counted: true, outcome: 'duplicate' }],
    };
    writeFileSync(join(sub, 'participation.json'), JSON.stringify(doc));
    const runs = loadAggregatorDb(path);
    const exp = runs.find((r) => r.name === 'exp')!;
    assert.equal(exp.participation!.rounds.length, 2);
    assert.equal(exp.participation!.churn.length, 3);
    assert.equal(runs.find((r) => r.name === 'second')!.participation, undefined, 'the file is of another experiment');
    const s = summariseRun(exp).participation!;
    assert.deepEqual([s.uploads, s.selected, s.late, s.duplicates], [3, 4, 1, 0]);
    assert.equal(participationText(s), 'uploads 3/4 selected; offline: b round 2; crashed mid-upload: a round 1 (duplicate); late (stale) uploads 1');
    writeFileSync(join(sub, 'participation.json'), JSON.stringify({ experiment: 'exp' }));
    assert.throws(() => loadAggregatorDb(path), configError(/participation\.json: not a fleet participation file/));
    writeFileSync(join(sub, 'participation.json'), JSON.stringify({ ...doc, participation: [{ round: 1 }] }));
    assert.throws(() => loadAggregatorDb(path), configError(/participation\[0\] is not a round record/));
  });
});
