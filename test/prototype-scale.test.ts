/**
 * `--prototype-scale local` needs no mu: each client takes only the global prototypes'
 * direction, so a mu 100 times too small or too large (a wrong --total-train-samples, say)
 * computes the same run; as received (the paper's method) the same error changes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolveSimConfig } from '../sim/config.ts';
import { simulate } from '../sim/simulate.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';

const skip = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`) && 'dataset-fashion-mnist not installed';

test('with the local prototype scale a run does not depend on mu', { skip, timeout: 300_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const run = async (muFactor: number, prototypeScale: 'local' | 'server') => {
    const res = await simulate(resolveSimConfig({ method: 'tinyproto', clients: 4, alpha: 0.1, rounds: 3, samplesPerClient: 120, seed: 3, workers: 1, families: ['resnet8'], threads: 1, muFactor, prototypeScale }), { dataset: ds });
    return { accuracy: res.rounds.map((r) => `${r.accuracyHead}/${r.accuracyPrototype}`).join(' '), loss: res.rounds.map((r) => r.loss) };
  };
  const local = await run(0.65, 'local');
  for (const [factor, what] of [[0.0065, 'mu 100x too small'], [6.5, 'mu 10x too large']] as const) {
    const other = await run(factor, 'local');
    // the same predictions; the losses differ only by float32 rounding of the rescaled prototypes
    assert.equal(other.accuracy, local.accuracy, what);
    other.loss.forEach((l, i) => assert.ok(Math.abs(l - local.loss[i]!) < 1e-3 * local.loss[i]!, `${what}: loss ${l} vs ${local.loss[i]}`));
  }
  assert.notEqual((await run(6.5, 'server')).accuracy, (await run(0.65, 'server')).accuracy, 'as received, mu matters');
});
