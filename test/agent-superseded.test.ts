/**
 * A rejoining agent's broker session delivers the announcements it missed in one burst: the
 * agent trains only the round still open, skips the ones the aggregator has moved past (a later
 * ROUND arrived), and a round whose status went out while the next ROUND arrived is skipped too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { memoryAgent } from './helpers/memory-transport.ts';
import { printAgentEvents } from '../agent/run-experiment.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { encodeRound } from '../wire/codec.ts';
import type { RoundBody } from '../wire/codec-types.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const BODY: RoundBody = { method: 'fedproto', valueType: 'float32', deadlineMs: Date.now() + 600_000, lambda: 1, lr: 0.01, batchSize: 8, localEpochs: 1, selected: [] };

test('missed announcements delivered in a burst: only the open round is trained', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 120_000 }, async () => {
  const { agent, store, transport, close } = await memoryAgent('burst');
  const trained: number[] = [];
  const skipped: string[] = [];
  agent.on('trained', (t: { round: number }) => trained.push(t.round));
  agent.on('skipped', (s: { round: number; reason: string }) => skipped.push(`${s.round}: ${s.reason}`));
  const lines: string[] = [];
  printAgentEvents(agent, '[agent-0]', (l) => lines.push(l));
  const announce = (r: number): void => transport.handler!('round', encodeRound({ experiment: 'burst', sender: 'aggregator', round: r }, BODY));
  try {
    await agent.start();
    // rounds 1-3 announced while the agent was away, delivered at once on reconnection
    announce(1);
    announce(2);
    announce(3);
    await agent.idle();
    assert.deepEqual(trained, [3]);
    assert.deepEqual(skipped, ['1: superseded by round 3', '2: superseded by round 3']);
    assert.equal(store.lastCompletedRound('burst'), 3);
    // the agent's progress lines (what `tinyproto agent` and a fleet's --verbose show)
    assert.ok(lines.includes('[agent-0] round 1: skipped (superseded by round 3)'), lines.join('\n'));
    // round 4: round 5 is announced while the agent tells the broker it is training round 4
    transport.onTraining = () => announce(5);
    announce(4);
    await agent.idle(); // round 4's task (round 5 was queued during it)
    await agent.idle(); // round 5's
    assert.deepEqual(trained, [3, 5]);
    assert.deepEqual(skipped.slice(2), ['4: superseded by round 5']);
    assert.equal(store.lastCompletedRound('burst'), 5);
  } finally {
    await close();
  }
});
