/**
 * The agent's shard: carved once in a child process into the store file (so the agent never
 * holds the whole data set), read from SQLite afterwards; the child's data errors come back
 * with their own code and message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/logger.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { resolveAgentConfig } from './config.ts';
import { openAgentStore } from './store.ts';
import { carveShard, loadAgentData } from './shard.ts';
import { encodePng, solidGray } from '../test/helpers/png.ts';

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

test("an image folder (the board's own images) is the whole shard, in the configured shape, carved by the child", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-shard-'));
  try {
    const images = join(dir, 'images');
    const classes = ['apple', 'pear', 'plum'];
    classes.forEach((c, k) => {
      mkdirSync(join(images, c), { recursive: true });
      for (let i = 0; i < 8; i++) writeFileSync(join(images, c, `${i}.png`), k === 2 ? encodePng({ width: 3, height: 3, colorType: 2, samples: new Array<number>(27).fill(40 * k + i) }) : solidGray(50, 40, 40 * k + i));
    });
    // client 3 of 10 in the config: an image folder is not partitioned, all 24 images are this board's
    const cfg = resolveAgentConfig({ id: 'agent-3', experiment: 'e', client: 3, clients: 10, dataDir: images, imageShape: '16x16x3', imageClasses: ['pear', 'apple', 'plum', 'fig'] });
    const store = openAgentStore(join(dir, 'agent.db'));
    try {
      const data = loadAgentData(cfg, store, silentLogger);
      assert.equal(data.fromCache, false);
      assert.deepEqual(data.inputShape, [16, 16, 3]);
      assert.equal(data.meta.numClasses, 4);
      assert.equal(data.trainY.length + data.testY.length, 24);
      assert.deepEqual([...new Set([...data.trainY, ...data.testY])].sort(), [0, 1, 2]);
      assert.equal(data.trainX.length, data.trainY.length * 16 * 16 * 3);
      assert.equal(data.meta.dataset, 'image-folder:images');
      // the same as carving in process
      assert.deepEqual(data.trainY, carveShard(cfg).train.labels);
    } finally {
      store.close();
    }
    // a corrupt image comes back from the child with its code and file
    writeFileSync(join(images, 'pear', '9.png'), 'broken');
    const other = openAgentStore(join(dir, 'other.db'));
    try {
      assert.throws(() => loadAgentData(cfg, other, silentLogger), (e: unknown) => (e as { code?: string }).code === 'E_DATA_CORRUPT' && /9\.png/.test((e as Error).message));
    } finally {
      other.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
