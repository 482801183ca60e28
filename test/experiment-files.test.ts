/**
 * The example experiment files in experiments/: each loads and validates, and `simulate`, `fleet`
 * and `server` read the same setup from one file (same masks byte for byte, as
 * test/experiment-setup.test.ts checks for flags); flags override the file; bad files fail with
 * errors that name the file, line and key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseSimulateArgs } from '../cli/simulate.ts';
import { fleetOptions } from '../cli/fleet.ts';
import { serverArgs } from '../cli/server.ts';
import { loadExperimentFile, parseExperimentFile } from '../cli/experiment-file.ts';
import { simulationSetup } from '../sim/simulate.ts';
import { fleetExperimentConfig } from '../fleet/index.ts';
import { experimentMasks, SETUP_DEFAULTS } from '../method/experiment.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { hasChurn } from '../method/fleet-plan.ts';

const DIR = new URL('../experiments/', import.meta.url).pathname;
const FILES = readdirSync(DIR).filter((f) => /\.(toml|json)$/.test(f)).sort();
const K = 10;
const TOTAL_TRAIN = 1000;

test('the repository has the example experiment files the README names', () => {
  for (const f of ['quick-fleet.toml', 'compare-tinyproto.toml', 'compare-fedproto.toml', 'wifi-constrained.toml', 'churn.toml', 'wifi-mixed.toml']) assert.ok(FILES.includes(f), f);
});

for (const name of FILES) {
  test(`experiments/${name} loads, validates, and simulate, fleet and server read the same setup`, () => {
    const path = join(DIR, name);
    const file = loadExperimentFile(path);
    assert.ok(Object.keys(file).length > 0);
    const sim = parseSimulateArgs(['--experiment-file', path]).config;
    const fleet = fleetOptions(['--experiment-file', path, '--experiment', 'files-fleet']).options;
    const agg = fleetExperimentConfig(fleet, K, TOTAL_TRAIN);
    const server = serverArgs(['--experiment-file', path, '--experiment', 'files-server', '--total-train-samples', String(TOTAL_TRAIN)], {}).experiment;
    // the file's values reached every command
    for (const [k, v] of Object.entries({ method: file.method, rounds: file.rounds, seed: file.seed, featureDim: file.featureDim, ratio: file.ratio })) {
      if (v === undefined) continue;
      assert.equal((sim as unknown as Record<string, unknown>)[k], v, `simulate ${k}`);
      assert.equal((agg as unknown as Record<string, unknown>)[k], v, `fleet ${k}`);
      assert.equal((server as unknown as Record<string, unknown>)[k], v, `server ${k}`);
    }
    if (file.agents !== undefined) {
      assert.equal(sim.clients, file.agents);
      assert.equal(fleet.agents, file.agents);
      assert.deepEqual(server.agents, agg.agents);
    }
    if (file.alpha !== undefined) assert.equal(sim.alpha, fleet.alpha);
    if (file.samplesPerClient !== undefined) assert.equal(sim.samplesPerClient, fleet.samplesPerClient);
    if (file.families !== undefined) assert.deepEqual([...sim.families], [...(fleet.families ?? [])]);
    for (const k of ['participation', 'minUploads', 'roundDeadlineMs', 'lambda'] as const) assert.equal(agg[k], server[k], k);
    if (file.link !== undefined) assert.equal(fleet.link, file.link);
    // [[group]] tables: one plan per agent, as many as the file's agents
    if (file.groups !== undefined) assert.equal(fleet.plans?.length, fleet.agents);
    if (file.board !== undefined) assert.equal(fleet.board, file.board);
    // masks: byte-identical between the simulation and both aggregators
    const simMasks = simulationSetup(sim, K, TOTAL_TRAIN).masks;
    const aggMasks = experimentMasks({ ...agg, numClasses: K });
    const serverMasks = experimentMasks({ ...server, numClasses: K });
    if (sim.method === 'tinyproto') {
      assert.ok(simMasks && aggMasks && serverMasks);
      assert.ok(Buffer.from(simMasks.masks).equals(Buffer.from(aggMasks.masks)), 'fleet masks differ from simulate');
      assert.ok(Buffer.from(simMasks.masks).equals(Buffer.from(serverMasks.masks)), 'server masks differ from simulate');
    } else {
      assert.equal(aggMasks, null);
      assert.equal(serverMasks, null);
    }
  });
}

test('the wifi example carries participation, deadline, minimum uploads, link and board to the fleet', () => {
  const path = join(DIR, 'wifi-constrained.toml');
  const fleet = fleetOptions(['--experiment-file', path, '--experiment', 'files-wifi']).options;
  const agg = fleetExperimentConfig(fleet, K, TOTAL_TRAIN);
  assert.deepEqual([fleet.agents, agg.participation, agg.roundDeadlineMs, agg.minUploads, fleet.link, fleet.board], [12, 0.8, 120_000, 6, 'wifi-congested', 'rpi4b']);
  const { ignored, config } = parseSimulateArgs(['--experiment-file', path]);
  // simulate selects by the same rule, times each round on the file's link and board, and closes it by the same deadline and minimum
  assert.equal(config.participation, 0.8);
  assert.deepEqual(ignored, []);
  const t = config.timing;
  assert.deepEqual([t?.clients.length, t?.deadlineMs, t?.minUploads, t?.clients[0]?.linkName, t?.clients[0]?.board], [12, 120_000, 6, 'wifi-congested', 'rpi4b']);
  // --no-timing: no simulated time, and simulate says what it ignores
  const off = parseSimulateArgs(['--experiment-file', path, '--no-timing']);
  assert.equal(off.config.timing, undefined);
  assert.deepEqual(off.ignored, ['round.deadline-ms', 'round.min-uploads', 'fleet.link']);
  assert.equal(parseSimulateArgs(['--experiment-file', path]).config.board, 'rpi4b');
});

test('the churn and mixed Wi-Fi examples: groups with their own links, boards and churn reach the fleet', () => {
  const churn = fleetOptions(['--experiment-file', join(DIR, 'churn.toml'), '--experiment', 'files-churn']).options;
  assert.equal(churn.agents, 5);
  assert.deepEqual([...new Set(churn.plans!.map((p) => p.group))], ['steady', 'away', 'crashy']);
  assert.ok(hasChurn(churn.plans!));
  assert.deepEqual(churn.plans!.filter((p) => p.offline.length > 0).map((p) => [p.id, p.offline]), [['agent-2', [[2, 3]]], ['agent-3', [[2, 3]]]]);
  assert.deepEqual(churn.plans!.filter((p) => p.crashUpload.length > 0).map((p) => [p.id, p.crashUpload]), [['agent-4', [2]]]);
  const agg = fleetExperimentConfig(churn, K, TOTAL_TRAIN);
  assert.ok(agg.roundDeadlineMs <= 30_000 && agg.minUploads <= 2, 'a short deadline and a small minimum: offline agents do not stall rounds');
  assert.equal(agg.offlineGraceMs, 60_000);
  assert.equal(serverArgs(['--experiment-file', join(DIR, 'churn.toml'), '--total-train-samples', '10'], {}).experiment.offlineGraceMs, 60_000);
  const wifi = fleetOptions(['--experiment-file', join(DIR, 'wifi-mixed.toml'), '--experiment', 'files-mixed']).options;
  assert.ok(wifi.agents >= 12);
  assert.deepEqual(new Set(wifi.plans!.map((p) => p.board)), new Set(['rpizero2w', 'rpi4b', 'rpi5', 'jetson-orin-nano']));
  assert.deepEqual(new Set(wifi.plans!.map((p) => p.link)), new Set(['wifi-good', 'wifi-congested', 'wifi-weak', 'lte']));
  assert.ok(hasChurn(wifi.plans!));
  // without a top-level agents key the groups' sum is the fleet's and the server's agent count
  const dir = mkdtempSync(join(tmpdir(), 'tp-groups-'));
  const f = join(dir, 'g.toml');
  writeFileSync(f, '[[group]]\nagents = 2\n\n[[group]]\nagents = 3\noffline = ["2"]\n');
  assert.equal(fleetOptions(['--experiment-file', f, '--experiment', 'g']).options.agents, 5);
  assert.deepEqual([...serverArgs(['--experiment-file', f, '--total-train-samples', '10'], {}).experiment.agents], ['agent-0', 'agent-1', 'agent-2', 'agent-3', 'agent-4']);
});

test('flags override the file in every command', () => {
  const path = join(DIR, 'quick-fleet.toml');
  assert.equal(parseSimulateArgs(['--experiment-file', path, '--rounds', '9', '--method', 'fedproto']).config.rounds, 9);
  assert.equal(parseSimulateArgs(['--experiment-file', path, '--clients', '6']).config.clients, 6);
  const fleet = fleetOptions(['--experiment-file', path, '--rounds', '9', '--agents', '2', '--lambda', '3', '--experiment', 'x']).options;
  assert.deepEqual([fleet.rounds, fleet.agents, fleetExperimentConfig(fleet, K, TOTAL_TRAIN).lambda], [9, 2, 3]);
  const server = serverArgs(['--experiment-file', path, '--rounds', '9', '--agents', 'a,b', '--total-train-samples', '10'], {}).experiment;
  assert.deepEqual([server.rounds, [...server.agents]], [9, ['a', 'b']]);
  // without a file and without --rounds: one default everywhere
  const none = [parseSimulateArgs([]).config.rounds, fleetOptions([]).options.rounds, serverArgs(['--agents', '2', '--total-train-samples', '10'], {}).experiment.rounds];
  assert.deepEqual(none, [SETUP_DEFAULTS.rounds, SETUP_DEFAULTS.rounds, SETUP_DEFAULTS.rounds]);
});

test('bad files: unknown key with file and line, bad TOML with line, bad profile, unreadable file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-expfile-'));
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const isConfig = (re: RegExp) => (e: unknown): boolean => isTinyProtoError(e, 'E_CONFIG') && re.test((e as Error).message);
  const unknown = write('u.toml', 'rounds = 2\n[round]\nparticipation = 0.5\ndeadline = 3\n');
  assert.throws(() => parseSimulateArgs(['--experiment-file', unknown]), isConfig(/u\.toml:4: unknown key "round\.deadline"/));
  assert.throws(() => fleetOptions(['--experiment-file', unknown]), isConfig(/unknown key "round\.deadline"/));
  assert.throws(() => serverArgs(['--experiment-file', unknown], {}), isConfig(/unknown key "round\.deadline"/));
  assert.throws(() => loadExperimentFile(write('s.toml', 'rounds = 2\nseed = = 1\n')), isConfig(/s\.toml:2:\d+: not valid TOML/));
  assert.throws(() => loadExperimentFile(write('l.toml', '[fleet]\nlink = "wifi-best"\n')), isConfig(/l\.toml:2: "fleet\.link"/));
  assert.throws(() => loadExperimentFile(write('b.toml', '\n[fleet]\nboard = "pi9"\n')), isConfig(/b\.toml:3: "fleet\.board"/));
  assert.throws(() => loadExperimentFile(write('f.toml', 'families = ["resnet9"]\n')), isConfig(/f\.toml:1: unknown family "resnet9"/));
  assert.throws(() => loadExperimentFile(write('j.json', '{"rounds": 2,\n "rund": 1}')), isConfig(/j\.json:2: unknown key "rund"/));
  assert.throws(() => loadExperimentFile(write('k.json', '{"rounds": ')), isConfig(/k\.json: not valid JSON/));
  assert.throws(() => loadExperimentFile(join(dir, 'missing.toml')), isConfig(/cannot read the experiment file/));
  assert.equal(parseExperimentFile('agents = 3\n', 'inline.toml').agents, 3);
});

test('[round] stale-rounds and --stale-rounds mean the same in simulate, server and fleet; a bad value is refused naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-stale-'));
  const path = join(dir, 'stale.toml');
  writeFileSync(path, 'agents = 4\n[round]\nstale-rounds = 3\n');
  assert.equal(parseSimulateArgs(['--experiment-file', path]).config.staleRounds, 3);
  assert.equal(serverArgs(['--experiment-file', path, '--total-train-samples', '10'], {}).experiment.staleRounds, 3);
  assert.equal(fleetExperimentConfig(fleetOptions(['--experiment-file', path, '--experiment', 'files-stale']).options, K, TOTAL_TRAIN).staleRounds, 3);
  // the flag wins over the file, in every command
  assert.equal(parseSimulateArgs(['--experiment-file', path, '--stale-rounds', '1']).config.staleRounds, 1);
  assert.equal(serverArgs(['--experiment-file', path, '--stale-rounds', '1', '--total-train-samples', '10'], {}).experiment.staleRounds, 1);
  assert.equal(fleetExperimentConfig(fleetOptions(['--experiment-file', path, '--stale-rounds', '1', '--experiment', 'files-stale']).options, K, TOTAL_TRAIN).staleRounds, 1);
  assert.equal(serverArgs(['--agents', '2'], {}).experiment.staleRounds, 0);
  writeFileSync(path, '[round]\nstale-rounds = -1\n');
  assert.throws(() => serverArgs(['--experiment-file', path], {}), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /stale-rounds/.test((e as Error).message));
});
