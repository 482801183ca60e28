/**
 * This machine's training speed on one core, measured the way the board figures are stated
 * (emulation/boards.ts PI4_RESNET8_TRAIN_IMAGES_PER_SEC): the ORT engine's real trainEpoch,
 * ResNet-8 on 28x28x1 inputs, batch 32, one intra-op thread, random data, after a warm-up pass.
 * The ratio of a board's speed to this one is the CPU quota that emulates the board; the same
 * ratio is applied to every backbone (per-core speed ratios are assumed family-independent).
 */
import { createEngine } from '../models/index.ts';
import { Rng } from '../common/rng.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

export interface HostSpeed {
  readonly imagesPerSec: number;
  readonly seconds: number;
  readonly images: number;
}

export async function measureHostTrainSpeed(seconds = 1.5): Promise<HostSpeed> {
  const engine = await createEngine({ engine: 'ort', threads: 1, provider: 'cpu' });
  const K = SETUP_DEFAULTS.numClasses;
  const d = SETUP_DEFAULTS.featureDim;
  const batch = 32;
  const model = engine.createModel({ family: 'resnet8', inputShape: [28, 28, 1], featureDim: d, numClasses: K, seed: 1 });
  try {
    const n = batch * 4;
    const rng = new Rng(7);
    const x = new Float32Array(n * 28 * 28);
    for (let i = 0; i < x.length; i++) x[i] = rng.normal();
    const y = Int32Array.from({ length: n }, (_, i) => i % K);
    const protos = new Float32Array(K * d);
    for (let i = 0; i < protos.length; i++) protos[i] = rng.normal() * 0.1;
    const opts = { batchSize: batch, lr: SETUP_DEFAULTS.lr, lambda: SETUP_DEFAULTS.lambda, globalPrototypes: protos, hasGlobal: new Uint8Array(K).fill(1), shuffleSeed: 1 };
    await model.trainEpoch(x, y, opts); // warm-up: session creation, first allocations
    let images = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) images += (await model.trainEpoch(x, y, opts)).samples;
    const elapsed = (performance.now() - t0) / 1000;
    return { imagesPerSec: images / elapsed, seconds: elapsed, images };
  } finally {
    model.dispose();
  }
}
