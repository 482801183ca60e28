import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configDifference, openExperiment } from './experiment-open.ts';
import { resolveExperimentConfig } from './config.ts';
import { openAggregatorStore } from './store.ts';
import { silentLogger } from '../common/logger.ts';
import { TinyProtoError } from '../common/errors.ts';

test('configDifference: the first differing field in sorted order; equal configurations give null', () => {
  assert.equal(configDifference({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }), null);
  assert.deepEqual(configDifference({ a: 1, b: 2, c: 3 }, { a: 1, b: 5, c: 4 }), { field: 'b', stored: 2, given: 5 });
  assert.deepEqual(configDifference({ a: 1 }, { a: 1, z: 2 }), { field: 'z', stored: undefined, given: 2 });
});

test('configDifference: a field added after the store was written counts as the value the store ran with', () => {
  // stores written before muFrom existed took mu from the configured total
  assert.equal(configDifference({ mu: 'auto' }, { mu: 'auto', muFrom: 'configured' }), null);
  assert.deepEqual(configDifference({ mu: 'auto' }, { mu: 'auto', muFrom: 'reported' }), { field: 'muFrom', stored: undefined, given: 'reported' });
  // once stored, the field compares as any other
  assert.deepEqual(configDifference({ muFrom: 'reported' }, { muFrom: 'configured' }), { field: 'muFrom', stored: 'reported', given: 'configured' });
});

test('openExperiment: a store written before muFrom existed resumes with --mu-from configured and names the field and the flag otherwise', () => {
  const store = openAggregatorStore(':memory:');
  try {
    const c = resolveExperimentConfig({ experiment: 'old-1', method: 'fedproto', agents: ['a0'], muFrom: 'configured' });
    const { muFrom: _m, ...older } = { ...c, agents: [...c.agents], mu: null } as Record<string, unknown>;
    store.createExperiment('old-1', older, null);
    assert.equal(openExperiment(store, c, null, null, 'aggregator', silentLogger).id, 'old-1');
    const now = resolveExperimentConfig({ experiment: 'old-1', method: 'fedproto', agents: ['a0'], muFrom: 'reported' });
    assert.throws(
      () => openExperiment(store, now, null, null, 'aggregator', silentLogger),
      (e: unknown) => e instanceof TinyProtoError && e.code === 'E_CONFIG' && /muFrom: stored absent, given "reported" \(the store was written before muFrom existed; resume it with --mu-from configured\)/.test(e.message),
    );
    const other = resolveExperimentConfig({ experiment: 'old-1', method: 'fedproto', agents: ['a0'], muFrom: 'configured', rounds: 7 });
    assert.throws(() => openExperiment(store, other, null, null, 'aggregator', silentLogger), /different configuration \(rounds: stored 100, given 7\)/);
  } finally {
    store.close();
  }
});
