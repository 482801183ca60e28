/**
 * The agent's shard: carved once in a child process into the store file (so the agent never
 * holds the whole data set), read from SQLite afterwards; the child's data errors come back
 * with their own code and message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/logger.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { resolveAgentConfig } from './config.ts';
import { openAgentStore } from './store.ts';
import { carveShard, loadAgentData } from './shard.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

test('a missing data directory is reported by the carving child with E_DATA_MISSING', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-shard-'));
  try {
    const store = openAgentStore(join(dir, 'agent.db'));
    try {
      const cfg = resolveAgentConfig({ id: 'agent-0', experiment: 'e', client: 0, clients: 2, dataDir: join(dir, 'nope') });
      assert.throws(() => loadAgentData(cfg, store, silentLogger), (e: unknown) => (e as { code?: string }).code === 'E_DATA_MISSING' && /nope/.test((e as Error).message));
      assert.equal(store.loadShard(), null);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the child carves exactly the in-process shard into the store; a restart reads it from SQLite', { skip: !haveData && 'dataset-fashion-mnist not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-shard-'));
  try {
    const cfg = resolveAgentConfig({ id: 'agent-1', experiment: 'e', client: 1, clients: 4, samplesPerClient: 200 });
    const expected = carveShard(cfg);
    const path = join(dir, 'agent.db');
    let store = openAgentStore(path);
    const first = loadAgentData(cfg, store, silentLogger);
    store.close();
    assert.equal(first.fromCache, false);
    assert.deepEqual(first.trainY, expected.train.labels);
    assert.deepEqual(first.testY, expected.test.labels);
    store = openAgentStore(path);
    const again = loadAgentData(cfg, store, silentLogger);
    store.close();
    assert.equal(again.fromCache, true);
    assert.deepEqual(again.trainX, first.trainX);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
