/**
 * Partial participation is one rule everywhere: `simulate --participation F --experiment E`
 * trains exactly the clients the aggregator announces for experiment E's rounds (agent-i =
 * client i), so a simulation and a fleet of one experiment file agree on who took part when.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolveSimConfig } from '../sim/config.ts';
import { simulate } from '../sim/simulate.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { announceRound } from '../aggregator/announce.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';

const skip = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`) && 'dataset-fashion-mnist not installed';

test('simulate trains the clients the aggregator would select, round by round', { skip, timeout: 300_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const sim = resolveSimConfig({ method: 'fedproto', clients: 5, participation: 0.6, experiment: 'part-exp', rounds: 3, samplesPerClient: 48, seed: 4, workers: 1, families: ['resnet8'], threads: 1 });
  const res = await simulate(sim, { dataset: ds });
  const server = resolveExperimentConfig({ experiment: 'part-exp', method: 'fedproto', agents: ['agent-0', 'agent-1', 'agent-2', 'agent-3', 'agent-4'], participation: 0.6 });
  for (const r of res.rounds) {
    const announced = announceRound(server, 'aggregator', r.round, Date.now()).selected.map((a) => Number(a.slice('agent-'.length))).sort((a, b) => a - b);
    assert.deepEqual(r.selected, announced, `round ${r.round}`);
    assert.equal(r.selected.length, 3);
    assert.deepEqual(r.clients.map((c) => c.client), announced, 'only the selected clients trained and uploaded');
    assert.ok(r.accuracyHead !== null, 'every client evaluated');
  }
  assert.ok(new Set(res.rounds.map((r) => r.selected.join(','))).size > 1, 'the selection changes from round to round');
});
