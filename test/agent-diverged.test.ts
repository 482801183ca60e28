/**
 * A round whose training blows up (here lr = 100: the features come out NaN) does not take the
 * agent down or leave it stuck: it reports the failure (E_DIVERGED), publishes 'idle' with the
 * reason instead of staying 'training', sends nothing, and goes back to sound weights, so the next
 * round trains normally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { memoryAgent } from './helpers/memory-transport.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { encodeRound } from '../wire/codec.ts';
import type { RoundBody } from '../wire/codec-types.ts';
import { errorCode } from '../common/errors.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const body = (lr: number): RoundBody => ({ method: 'fedproto', valueType: 'float32', deadlineMs: Date.now() + 600_000, lambda: 1, lr, batchSize: 8, localEpochs: 1, selected: [] });

test('a round that diverges is reported, sends nothing, and the next round trains from sound weights', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 120_000 }, async () => {
  const { agent, store, transport, close } = await memoryAgent('blowup');
  const failures: string[] = [];
  const trained: { round: number; loss: number }[] = [];
  agent.on('failure', (e: unknown) => failures.push(errorCode(e)));
  agent.on('trained', (t: { round: number; loss: number }) => trained.push(t));
  const announce = (r: number, lr: number): void => transport.handler!('round', encodeRound({ experiment: 'blowup', sender: 'aggregator', round: r }, body(lr)));
  try {
    await agent.start();
    announce(1, 100);
    await agent.idle();
    assert.deepEqual(failures, ['E_DIVERGED']);
    assert.equal(trained.length, 0);
    assert.equal(transport.uploads.length, 0, 'a failed round uploads nothing');
    assert.equal(store.lastCompletedRound('blowup'), 0);
    assert.equal(transport.statuses.at(-1), 'idle (round 1 not trained: E_DIVERGED)');
    // the same agent, the next round, a sane learning rate: it trains from the initial weights
    announce(2, 0.01);
    await agent.idle();
    assert.deepEqual(failures, ['E_DIVERGED']);
    assert.equal(trained.length, 1);
    assert.equal(trained[0]!.round, 2);
    assert.ok(Number.isFinite(trained[0]!.loss) && trained[0]!.loss < 10, `round 2 loss ${trained[0]!.loss}`);
    assert.equal(transport.uploads.length, 1);
    assert.equal(store.lastCompletedRound('blowup'), 2);
  } finally {
    await close();
  }
});
