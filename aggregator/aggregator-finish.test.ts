import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from './aggregator.ts';
import { resolveExperimentConfig } from './config.ts';
import { openAggregatorStore } from './store.ts';
import type { AggregatorTransport } from './aggregator-types.ts';
import { encodeStatus, encodeUpload } from '../wire/codec.ts';

test('after the last round, status and telemetry still commit and nothing tries to close a closed round', async () => {
  let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  const published: string[] = [];
  const transport: AggregatorTransport = {
    publishRetained: async (kind) => void published.push(kind),
    publishReceipt: async () => void published.push('receipt'),
    onAgentMessage: (h) => void (handler = h),
    close: async () => undefined,
  };
  const store = openAggregatorStore(':memory:');
  const config = resolveExperimentConfig({ experiment: 'fin', method: 'fedproto', agents: ['a1'], rounds: 1, numClasses: 2, featureDim: 4 });
  const aggregator = new Aggregator({ config, store, transport });
  const failures: unknown[] = [];
  aggregator.on('failure', (e) => failures.push(e));
  try {
    await aggregator.start();
    const upload = encodeUpload({ experiment: 'fin', sender: 'a1', round: 1 }, { K: 2, d: 4, s: 4, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 0, values: Float32Array.of(1, 2, 3, 4) }] });
    handler!('upload', 'a1', upload);
    await aggregator.done;
    assert.deepEqual(store.rounds('fin').map((r) => [r.round, r.status]), [[1, 'closed']]);
    for (const state of ['idle', 'offline'] as const) {
      handler!('status', 'a1', encodeStatus({ experiment: 'fin', sender: 'a1', round: 1 }, { state, timeMs: 1, lastRound: 1, modelFamily: 'resnet8', note: '' }));
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(failures, []);
    assert.equal(store.agents('fin')[0]?.state, 'offline', 'the statuses were committed');
  } finally {
    await aggregator.stop();
    store.close();
  }
});
