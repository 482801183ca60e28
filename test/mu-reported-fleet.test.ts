/**
 * End to end (issue 12): a fleet whose configured total training-sample count is 10x wrong
 * still uses the right mu, because the agents' uploads report their counts: every round's mu is
 * muFactor * K / (sum of the agents' training samples), a warning names both figures, and the
 * global prototypes are usable (the agents' prototype accuracy is above chance).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, type FleetOptions } from '../fleet/run.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { memoryLogger } from '../common/logger.ts';
import { muFromTotals } from '../method/aggregate.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

test('a fleet with a 10x wrong --total-train-samples: mu follows the agents\' reported counts', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 300_000 }, async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-mu-'));
  const logger = memoryLogger();
  let train: number[] = [];
  const opts: FleetOptions = {
    agents: 2, rounds: 2, broker: 'embedded', dir, experiment: `mu-${process.pid}`, method: 'tinyproto', alpha: 1, seed: 5, samplesPerClient: 80,
    dataDir: null, featureDim: 500, ratio: 0.1, valueType: 'float32', families: ['resnet8'], credentials: null, caFile: null,
    roundDeadlineMs: 240_000, backend: 'wasm',
  };
  try {
    // the shards' real total is 2 x 60 (75% of 80 each); configure ten times that
    const res = await runFleet({ ...opts, aggregator: { totalTrainSamples: 1200 } }, { logger, onReady: (info) => (train = info.agents.map((a) => a.train)) });
    const total = train.reduce((a, n) => a + n, 0);
    ctx.diagnostic(`agents' training samples ${train.join(' + ')} = ${total}; configured 1200`);
    assert.equal(total, 120);
    const mu = muFromTotals(total, 10, 0.65);
    assert.equal(res.rounds.length, 2);
    for (const r of res.rounds) {
      assert.equal(r.uploads, 2);
      assert.deepEqual([r.mu, r.totalTrainSamples, r.muSource], [mu, total, 'reported']);
    }
    const warned = logger.entries.filter((e) => e.level === 'warn' && /configured total training samples/.test(e.msg));
    assert.equal(warned.length, 1);
    assert.match(warned[0]!.msg, /^configured total training samples 1200 disagrees with the 120 the agents report \(sum of 2 agents' counts\) by more than 10%: using 120/);
    const last = res.rounds.at(-1)!;
    ctx.diagnostic(`round 2: accuracy head ${last.accuracyHead}, prototype ${last.accuracyPrototype}`);
    assert.equal(last.evaluatedBy, 2);
    assert.ok(last.accuracyPrototype !== null && last.accuracyPrototype > 0.1, `prototype accuracy ${last.accuracyPrototype} above chance (0.1)`);
    assert.deepEqual(res.rejections, {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
