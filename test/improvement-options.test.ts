/**
 * The improvement options (method/experiment.ts) in a whole simulation: each changes what it
 * should and nothing else, the defaults run the paper's method, and a run with stale-class
 * dropping resumes from its checkpoint exactly (the ages are rebuilt from the records).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type RoundRecord } from '../sim/simulate.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';

const skip = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`) && 'dataset-fashion-mnist not installed';
const base: Partial<SimConfig> = { method: 'tinyproto', clients: 4, alpha: 0.1, samplesPerClient: 96, seed: 5, families: ['resnet8'], workers: 1, threads: 1 };
const learned = (r: RoundRecord): unknown => ({ round: r.round, head: r.accuracyHead, proto: r.accuracyPrototype, loss: r.loss, protoLoss: r.protoLoss });

test('warm-up, masked loss, relative lambda, its schedule, the training pass and the mean aggregation each change the run; evaluation rules only the prototype accuracy', { skip, timeout: 600_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const run = async (over: Partial<SimConfig>) => (await simulate(resolveSimConfig({ ...base, rounds: 3, ...over }), { dataset: ds })).rounds;
  const paper = await run({});
  // round 1 has no global prototype: no prototype term in any variant
  assert.equal(paper[0]!.protoLoss, 0);
  assert.ok(paper[1]!.protoLoss > 0);
  const warm = await run({ warmupRounds: 2 });
  assert.deepEqual(warm.slice(0, 2).map((r) => r.protoLoss), [0, 0]);
  assert.ok(warm[2]!.protoLoss > 0);
  assert.deepEqual(learned(warm[0]!), learned(paper[0]!));
  for (const over of [{ prototypeLoss: 'masked' }, { prototypeLoss: 'masked', offMaskWeight: 0.1 }, { classBalance: 1 }, { prototypeLoss: 'masked', classBalance: 1 }, { lambdaFinal: 0.5 }, { lambdaRule: 'relative' }, { prototypePass: 'training' }, { prototypeAggregation: 'mean' }] as const) {
    const r = await run(over);
    // round 1 trains with CE alone, as the paper's (the training pass's prototypes differ already)
    assert.deepEqual([r[0]!.loss, r[0]!.accuracyHead], [paper[0]!.loss, paper[0]!.accuracyHead], JSON.stringify(over));
    assert.notEqual(r[1]!.loss, paper[1]!.loss, JSON.stringify(over));
  }
  // the evaluation rule changes no training, and its figure is the one recorded beside the others
  const cos = await run({ prototypeEval: 'cosine' });
  assert.deepEqual(cos.map((r) => [r.loss, r.accuracyHead]), paper.map((r) => [r.loss, r.accuracyHead]));
  assert.deepEqual(cos.map((r) => r.accuracyPrototype), cos.map((r) => r.accuracyPrototypeByRule?.cosine ?? null));
  assert.deepEqual(paper.map((r) => r.accuracyPrototype), paper.map((r) => r.accuracyPrototypeByRule?.full ?? null));
  const spread = await run({ prototypeEval: 'spread' });
  assert.deepEqual(spread.map((r) => [r.loss, r.accuracyHead, r.accuracyPrototypeByRule?.masked]), paper.map((r) => [r.loss, r.accuracyHead, r.accuracyPrototypeByRule?.masked]));
  assert.deepEqual(spread.map((r) => r.accuracyPrototype), spread.map((r) => r.accuracyPrototypeByRule?.spread ?? null));
  assert.ok(spread.every((r) => typeof r.accuracyPrototypeByRule?.spread === 'number'), 'every evaluated round records the spread rule');
});

test('the off-mask weight changes the masked loss run from the second round on', { skip, timeout: 600_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const run = async (over: Partial<SimConfig>) => (await simulate(resolveSimConfig({ ...base, rounds: 2, prototypeLoss: 'masked', ...over }), { dataset: ds })).rounds;
  const [masked, off] = [await run({}), await run({ offMaskWeight: 0.5 })];
  assert.deepEqual(learned(off[0]!), learned(masked[0]!));
  // the same global prototypes, a pull off the mask added: a larger prototype term
  assert.ok(off[1]!.protoLoss > masked[1]!.protoLoss, `${off[1]!.protoLoss} > ${masked[1]!.protoLoss}`);
});

test('the prototype contrast changes the run from the second round on, with TinyProto-plus and with FedProto', { skip, timeout: 600_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  for (const over of [{ prototypeLoss: 'masked', prototypeEval: 'masked', prototypeScale: 'local' }, { method: 'fedproto' }] as const) {
    const run = async (more: Partial<SimConfig>) => (await simulate(resolveSimConfig({ ...base, rounds: 2, ...over, ...more }), { dataset: ds })).rounds;
    const [plain, contrast] = [await run({}), await run({ prototypeContrast: 1 })];
    // round 1 has no global prototype, so no contrast either
    assert.deepEqual(learned(contrast[0]!), learned(plain[0]!), JSON.stringify(over));
    // the same prototypes to train towards, one more term: the total loss differs, and it is the
    // whole of the difference between the total and the CE + lambda * MSE parts' scale
    assert.notEqual(contrast[1]!.loss, plain[1]!.loss, JSON.stringify(over));
    assert.ok(contrast[1]!.loss > 0 && Number.isFinite(contrast[1]!.loss));
  }
});

test('stale classes: a run with staleRounds stopped and resumed equals the uninterrupted run', { skip, timeout: 600_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-stale-'));
  try {
    const cfg = { ...base, participation: 0.5, staleRounds: 1 };
    const whole = await simulate(resolveSimConfig({ ...cfg, rounds: 4 }), { dataset: ds });
    const file = join(dir, 'part.db');
    await simulate(resolveSimConfig({ ...cfg, rounds: 2, checkpoint: file }), { dataset: ds });
    const resumed = await simulate(resolveSimConfig({ ...cfg, rounds: 4, checkpoint: file, resume: true }), { dataset: ds });
    assert.equal(resumed.resumedFrom, 2);
    assert.deepEqual(resumed.rounds.map(learned), whole.rounds.map(learned));
    // with half the clients a round, some class goes without contributors: dropping it changes the run
    const kept = await simulate(resolveSimConfig({ ...base, participation: 0.5, rounds: 4 }), { dataset: ds });
    assert.notDeepEqual(kept.rounds.map(learned), whole.rounds.map(learned));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clipNorm: the records carry each round\'s largest gradient norm and the steps clipped; off, nothing is clipped', { skip, timeout: 600_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const run = async (over: Partial<SimConfig>) => (await simulate(resolveSimConfig({ ...base, rounds: 2, ...over }), { dataset: ds })).rounds;
  const plain = await run({});
  assert.ok(plain.every((r) => r.gradNormMax > 0 && r.clippedSteps === 0));
  assert.ok(plain.every((r) => r.clients.every((c) => c.gradNormMax > 0 && c.gradNormMax <= r.gradNormMax)));
  const limit = Math.min(...plain.map((r) => r.gradNormMax)) / 100;
  const clipped = await run({ clipNorm: limit });
  // 96 samples per client, 75% train, batch 32: 3 steps a client, every one clipped at this limit
  for (const r of clipped) assert.equal(r.clippedSteps, r.clients.length * 3, `round ${r.round}`);
  assert.notEqual(clipped[0]!.loss, plain[0]!.loss, 'clipping changes round 1 already');
});
