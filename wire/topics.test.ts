import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentFilter, agentTopic, aggregatorTopic, assertValidId, parseTopic, partialTopic, receiptTopic } from './topics.ts';

test('topics are built and parsed symmetrically', () => {
  assert.equal(aggregatorTopic('exp-1', 'global'), 'tinyproto/exp-1/global');
  assert.equal(agentTopic('exp-1', 'upload', 'agent-3'), 'tinyproto/exp-1/upload/agent-3');
  assert.equal(agentFilter('exp-1', 'status'), 'tinyproto/exp-1/status/+');
  assert.deepEqual(parseTopic('tinyproto/exp-1/upload/agent-3'), { experiment: 'exp-1', kind: 'upload', agent: 'agent-3' });
  assert.deepEqual(parseTopic('tinyproto/exp-1/round'), { experiment: 'exp-1', kind: 'round' });
  assert.equal(receiptTopic('exp-1', 'agent-3'), 'tinyproto/exp-1/receipt/agent-3');
  assert.deepEqual(parseTopic('tinyproto/exp-1/receipt/agent-3'), { experiment: 'exp-1', kind: 'receipt', agent: 'agent-3' });
  assert.equal(partialTopic('exp-1', 'relay-a'), 'tinyproto/exp-1/partial/relay-a');
  assert.equal(agentFilter('exp-1', 'partial'), 'tinyproto/exp-1/partial/+');
  assert.deepEqual(parseTopic('tinyproto/exp-1/partial/relay-a'), { experiment: 'exp-1', kind: 'partial', agent: 'relay-a' });
});

test('foreign or malformed topics parse to null', () => {
  for (const t of ['other/exp/round', 'tinyproto/exp', 'tinyproto/exp/upload', 'tinyproto/exp/upload/a/b', 'tinyproto/exp/round/x', 'tinyproto/e x/round', 'tinyproto/exp/upload/+', 'tinyproto/exp/bogus/a']) {
    assert.equal(parseTopic(t), null, t);
  }
});

test('ids are restricted to what topics and headers can carry', () => {
  assert.throws(() => assertValidId('agent', 'a/b'), /invalid agent id "a\/b"/);
  assert.throws(() => assertValidId('experiment', 'x'.repeat(33)), { code: 'E_CONFIG' });
  assertValidId('agent', 'agent-1_b.2');
});

test('fleet announcement topics: built, filtered and parsed; experiment topics are not fleet topics', async () => {
  const { fleetExperimentTopic, fleetExperimentFilter, parseFleetTopic, parseTopic } = await import('./topics.ts');
  assert.equal(fleetExperimentTopic('lab', 'exp-1'), 'tinyproto/fleet/lab/experiment/exp-1');
  assert.equal(fleetExperimentFilter('lab'), 'tinyproto/fleet/lab/experiment/+');
  assert.deepEqual(parseFleetTopic('tinyproto/fleet/lab/experiment/exp-1'), { fleet: 'lab', experiment: 'exp-1' });
  assert.equal(parseTopic('tinyproto/fleet/lab/experiment/exp-1'), null);
  assert.equal(parseFleetTopic('tinyproto/fleet/upload/agent-0'), null); // an experiment named "fleet"
  assert.equal(parseFleetTopic('tinyproto/fleet/l ab/experiment/e'), null);
  assert.equal(parseFleetTopic('tinyproto/fleet/lab/experiment/e/x'), null);
});
