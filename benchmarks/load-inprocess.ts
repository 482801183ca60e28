/**
 * In-process figures of the aggregator's upload path (one core, no MQTT): decode + validate +
 * aggregate uploads/s, round close at 100 and 5,000 uploads, durable group-commit uploads/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveExperimentConfig, experimentMu } from '../aggregator/config.ts';
import { experimentMasks } from '../method/experiment.ts';
import { admitUpload } from '../aggregator/intake.ts';
import { addUpload, closeFromSums, emptySums, type CloseContext } from '../aggregator/close.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { Rng } from '../common/rng.ts';
import { CRC32_NATIVE } from '../wire/crc32.ts';
import { syntheticUpload } from './load-uploads.ts';

export interface InProcessFigures {
  uploadBytes: number;
  crcNative: boolean;
  intakePerSecond: number;
  closeMs100: number;
  closeMs5000: number;
  durablePerSecond: number;
  batch: number;
}

export function inProcessFigures(n = 20_000): InProcessFigures {
  const agents = Array.from({ length: 5000 }, (_, i) => `agent-${i}`);
  const config = resolveExperimentConfig({ experiment: 'load-inproc', agents, mu: 1e-4 });
  const masks = experimentMasks(config)!;
  const ctx: CloseContext = { config, sender: 'aggregator', round: 1, masks, mu: experimentMu(config), valuesPerClass: masks.s, layout: 'sparse' };
  const rng = new Rng(42);
  const shape = { experiment: config.experiment, K: config.numClasses, d: config.featureDim, s: masks.s };
  const frames = Array.from({ length: 5000 }, (_, i) => syntheticUpload(shape, `agent-${i}`, 1, rng, null));
  const intake = { config, round: 1, mu: ctx.mu, valuesPerClass: masks.s, layout: 'sparse' as const, selected: new Set(agents) };
  const run = (count: number): number => {
    const sums = emptySums(ctx);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const k = i % frames.length;
      const up = admitUpload(intake, `agent-${k}`, frames[k]!);
      addUpload(ctx, sums, up.body.prototypes, `agent-${k}`);
    }
    return performance.now() - t0;
  };
  run(2000); // warm-up
  const intakeMs = run(n);
  const closeAt = (count: number): number => {
    const sums = emptySums(ctx);
    for (let i = 0; i < count; i++) addUpload(ctx, sums, admitUpload(intake, `agent-${i}`, frames[i]!).body.prototypes, 'x');
    closeFromSums(ctx, sums, new Map());
    const t0 = performance.now();
    for (let k = 0; k < 50; k++) closeFromSums(ctx, sums, new Map());
    return (performance.now() - t0) / 50;
  };
  // durable: commitBatch on a file store, batches of 500 (what the aggregator does under load)
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-load-store-'));
  const store = openAggregatorStore(join(dir, 'agg.db'));
  store.createExperiment(config.experiment, { bench: true }, null);
  const batch = 500;
  const t0 = performance.now();
  for (let round = 1; round <= 4; round++) {
    for (let b = 0; b < frames.length; b += batch) {
      store.commitBatch(config.experiment, {
        uploads: frames.slice(b, b + batch).map((bytes, i) => ({ round, agent: `agent-${b + i}`, bytes, receivedAt: Date.now() })),
        agents: [],
        telemetry: [],
      });
    }
  }
  const durableMs = performance.now() - t0;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    uploadBytes: frames.reduce((a, f) => a + f.length, 0) / frames.length,
    crcNative: CRC32_NATIVE,
    intakePerSecond: (n / intakeMs) * 1000,
    closeMs100: closeAt(100),
    closeMs5000: closeAt(5000),
    durablePerSecond: ((4 * frames.length) / durableMs) * 1000,
    batch,
  };
}
