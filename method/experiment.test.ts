import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../common/rng.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { makeClassMasks } from '../wire/masks.ts';
import { muFromTotals } from './aggregate.ts';
import { SETUP_DEFAULTS, checkSetup, experimentMasks, maskParamsOf, maskSeedOf, mergeSetup, resolveMu, setupDefaults, setupText } from './experiment.ts';

test('the defaults are the paper settings (METHOD.md) and frozen', () => {
  const s = SETUP_DEFAULTS;
  assert.deepEqual([s.featureDim, s.ratio, s.lambda, s.lr, s.batchSize, s.localEpochs], [500, 0.1, 10, 0.01, 32, 1]);
  assert.deepEqual([s.clients, s.alpha, s.numClasses, s.muFactor, s.mu, s.method], [20, 0.1, 10, 0.65, 'auto', 'tinyproto']);
  assert.ok(Object.isFrozen(s));
  assert.deepEqual(setupDefaults('lr', 'seed'), { lr: 0.01, seed: 1 });
  assert.equal(setupText(s), 'd = 500, lambda = 10, batch 32, SGD lr 0.01');
});

test('the masks come from the experiment seed through Rng.derive(seed, "masks")', () => {
  for (const seed of [0, 1, 7, 2 ** 32 - 1]) assert.equal(maskSeedOf(seed), Rng.derive(seed, 'masks').nextUint32());
  const setup = { method: 'tinyproto' as const, numClasses: 10, featureDim: 500, ratio: 0.1, seed: 3 };
  const m = experimentMasks(setup)!;
  assert.deepEqual(m.masks, makeClassMasks({ numClasses: 10, featureDim: 500, ratio: 0.1, seed: maskSeedOf(3) }).masks);
  assert.equal(m.s, 50);
  assert.equal(maskParamsOf(setup).candidates, SETUP_DEFAULTS.maskCandidates);
  assert.equal(experimentMasks({ ...setup, method: 'fedproto' }), null);
});

test('mu: given, auto by muFromTotals, null without scaling; auto without a total is E_CONFIG on mu', () => {
  const s = { method: 'tinyproto' as const, mu: 'auto' as const, muFactor: 0.65, numClasses: 10 };
  assert.equal(resolveMu(s, 45_000), muFromTotals(45_000, 10, 0.65));
  assert.equal(resolveMu({ ...s, mu: 0.5 }, null), 0.5);
  assert.equal(resolveMu({ ...s, method: 'fedproto' }, null), null);
  assert.throws(() => resolveMu(s, null), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /invalid mu/.test((e as Error).message));
});

test('mergeSetup: undefined keeps the default, unknown keys and bad setup fields are E_CONFIG naming the field', () => {
  const defaults = { lr: 0.01, batchSize: 32, own: 'x' };
  assert.deepEqual(mergeSetup(defaults, { lr: 0.1, batchSize: undefined }), { lr: 0.1, batchSize: 32, own: 'x' });
  const bad: [object, RegExp][] = [
    [{ colour: 1 }, /invalid colour: unknown option/],
    [{ lr: 0 }, /invalid lr/],
    [{ batchSize: 1 }, /invalid batchSize: must be between 2 and 65535/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => mergeSetup(defaults, opts as never), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && re.test((e as Error).message));
  }
  // d must hold a block per class where K is known
  assert.throws(() => checkSetup({ numClasses: 10, featureDim: 9 }), /invalid featureDim: must be between 10/);
  checkSetup({ featureDim: 9 });
  assert.throws(() => checkSetup({ method: 'fedsgd' }), /invalid method: must be one of tinyproto, fedproto, local, fedavg/);
  assert.throws(() => checkSetup({ valueType: 'bf16' }), /invalid valueType/);
  assert.throws(() => checkSetup({ mu: -1 }), /invalid mu/);
  checkSetup({ mu: 'auto' });
});

test('the improvement options default to the paper method, are validated, and tinyproto-plus sets them and the local scale', async () => {
  const { IMPROVEMENT_FIELDS, TINYPROTO_PLUS, SETUP_DEFAULTS: D, checkSetup } = await import('./experiment.ts');
  assert.deepEqual(
    Object.fromEntries(IMPROVEMENT_FIELDS.map((k) => [k, D[k]])),
    { prototypeLoss: 'full', offMaskWeight: 0, classBalance: 0, prototypeContrast: 0, prototypeEval: 'full', prototypePass: 'after', warmupRounds: 0, lambdaRule: 'fixed', lambdaRelative: 0.1, lambdaFinal: 1, clipNorm: 0, staleRounds: 0 },
  );
  for (const k of Object.keys(TINYPROTO_PLUS)) assert.ok([...IMPROVEMENT_FIELDS, 'prototypeScale'].includes(k), k);
  const { prototypeScale, ...setupPart } = TINYPROTO_PLUS;
  assert.equal(prototypeScale, 'local');
  checkSetup(setupPart);
  for (const bad of [{ prototypeLoss: 'half' }, { offMaskWeight: -0.1 }, { offMaskWeight: 1.5 }, { classBalance: -0.5 }, { classBalance: 2 }, { prototypeContrast: -1 }, { prototypeEval: 'l1' }, { prototypePass: 'before' }, { warmupRounds: -1 }, { lambdaRule: 'auto' }, { lambdaRelative: -0.1 }, { lambdaFinal: -0.1 }, { lambdaFinal: 1.5 }, { clipNorm: -1 }, { staleRounds: 1.5 }]) {
    assert.throws(() => checkSetup(bad), (e: unknown) => (e as { code?: string }).code === 'E_CONFIG' && String((e as Error).message).includes(Object.keys(bad)[0]!), JSON.stringify(bad));
  }
});
