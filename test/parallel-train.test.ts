/**
 * Data-parallel training (models/ort/parallel.ts) on real Fashion-MNIST: ResNet-8 trained over two
 * worker threads reaches the same accuracy band as single-session training from the same start.
 * (That the two-worker result equals the same per-part batch-norm semantics run in one thread, to
 * float tolerance, is models/ort/parallel.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { OrtEngine } from '../models/ort/engine.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/load.ts';
import { gatherLabels, toFloatBatch } from '../data/batch.ts';
import { headCorrect } from '../learner/eval.ts';
import type { ModelSpec } from '../models/engine.ts';

const HAVE_DATA = existsSync(DEFAULT_DATA_DIR);

test('ResNet-8 on Fashion-MNIST: two training threads reach the single-session accuracy band', { skip: HAVE_DATA ? false : `no data set at ${DEFAULT_DATA_DIR}` }, async (t) => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'train');
  const idx = (from: number, n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);
  const trainIdx = idx(0, 1600);
  const testIdx = idx(50_000, 600);
  const x = toFloatBatch(ds, trainIdx);
  const y = gatherLabels(ds, trainIdx);
  const tx = toFloatBatch(ds, testIdx);
  const ty = gatherLabels(ds, testIdx);
  const spec: ModelSpec = { family: 'resnet8', inputShape: [28, 28, 1], featureDim: 64, numClasses: 10, seed: 5 };
  const accuracy = async (trainThreads: number): Promise<{ acc: number; loss: number }> => {
    const engine = await OrtEngine.create({ threads: 1, provider: 'cpu', trainThreads });
    const m = engine.createModel(spec);
    let loss = 0;
    for (let epoch = 0; epoch < 5; epoch++) {
      loss = (await m.trainEpoch(x, y, { batchSize: 32, lr: 0.05, lambda: 0, globalPrototypes: null, hasGlobal: null, shuffleSeed: epoch })).loss;
    }
    const { logits } = await m.embed(tx, ty.length, 100);
    m.dispose();
    await engine.close();
    return { acc: headCorrect(logits, ty, 10) / ty.length, loss };
  };
  const one = await accuracy(1);
  const two = await accuracy(2);
  t.diagnostic(`head accuracy ${one.acc} (1 thread) vs ${two.acc} (2 threads); last-epoch loss ${one.loss} vs ${two.loss}`);
  assert.ok(one.acc > 0.5, `single-session accuracy ${one.acc}`);
  assert.ok(two.acc > 0.5, `two-thread accuracy ${two.acc}`);
  assert.ok(Math.abs(one.acc - two.acc) < 0.1, `accuracy ${one.acc} (1 thread) vs ${two.acc} (2 threads)`);
  assert.ok(Math.abs(one.loss - two.loss) < 0.25, `last-epoch loss ${one.loss} vs ${two.loss}`);
});
