import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTinyProtoError } from '../common/errors.ts';
import { makeCifarBatch } from './fixtures.ts';
import { DEFAULT_DATA_DIR, detectFormat, loadDataset } from './load.ts';
import { classCounts } from './partition.ts';
import { solidGray } from '../test/helpers/png.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'data');
const tmpRoot = mkdtempSync(join(tmpdir(), 'tinyproto-load-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));

describe('loadDataset', () => {
  test('detects IDX', () => {
    const dir = join(FIXTURES, 'idx-mini');
    assert.equal(detectFormat(dir), 'idx');
    const ds = loadDataset(dir);
    assert.equal(ds.count, 8);
    assert.equal(ds.channels, 1);
    assert.equal(loadDataset(dir, 'test').count, 3);
    assert.equal(loadDataset(dir, 'train', { name: 'mnist' }).classNames?.[3], '3');
  });

  test('detects CIFAR-10, also under cifar-10-batches-bin/', () => {
    for (const sub of ['', 'cifar-10-batches-bin']) {
      const root = join(tmpRoot, `cifar${sub === '' ? '' : '-nested'}`);
      const dir = join(root, sub);
      mkdirSync(dir, { recursive: true });
      for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), makeCifarBatch([b]));
      writeFileSync(join(dir, 'test_batch.bin'), makeCifarBatch([0, 1]));
      assert.equal(detectFormat(root), 'cifar10');
      const ds = loadDataset(root, 'all');
      assert.equal(ds.count, 7);
      assert.equal(ds.channels, 3);
      assert.equal(loadDataset(root, 'test').count, 2);
    }
  });

  test('detects an image folder, or reads one when named, in the requested shape', () => {
    const root = join(tmpRoot, 'images');
    for (const [cls, v] of [['boot', 10], ['sandal', 20]] as const) {
      mkdirSync(join(root, cls), { recursive: true });
      for (let i = 0; i < 3; i++) writeFileSync(join(root, cls, `${i}.png`), solidGray(40, 30, v + i));
    }
    assert.equal(detectFormat(root), 'image-folder');
    const ds = loadDataset(root);
    assert.deepEqual([ds.count, ds.height, ds.width, ds.channels, ds.numClasses], [6, 28, 28, 1, 2]);
    assert.deepEqual(ds.classNames, ['boot', 'sandal']);
    const rgb = loadDataset(root, 'all', { source: 'image-folder', imageShape: { height: 32, width: 32, channels: 3 }, imageClasses: ['sandal', 'boot', 'sneaker'] });
    assert.deepEqual([rgb.height, rgb.width, rgb.channels, rgb.numClasses], [32, 32, 3, 3]);
    assert.deepEqual(Array.from(rgb.labels), [1, 1, 1, 0, 0, 0]);
    assert.throws(() => loadDataset(root, 'test'), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
    // a named source is not second-guessed
    assert.throws(() => loadDataset(root, 'all', { source: 'idx' }), (e: unknown) => isTinyProtoError(e) && e.code.startsWith('E_DATA'));
    assert.throws(() => loadDataset(join(FIXTURES, 'idx-mini'), 'all', { source: 'image-folder' }), (e: unknown) => isTinyProtoError(e, 'E_DATA_LAYOUT'));
  });

  test('missing or unrecognised dir -> E_DATA_MISSING naming it', () => {
    const missing = join(tmpRoot, 'missing');
    assert.throws(() => loadDataset(missing), (e: unknown) => isTinyProtoError(e, 'E_DATA_MISSING') && e.message.includes(missing));
    const empty = join(tmpRoot, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'README.txt'), 'hi');
    assert.throws(
      () => loadDataset(empty),
      (e: unknown) => isTinyProtoError(e, 'E_DATA_MISSING') && e.message.includes(empty) && /no recognised data set/.test(e.message) && /data_batch_1\.bin/.test(e.message) && /<class>\/<image>\.png/.test(e.message),
    );
  });

  test('default dir: full Fashion-MNIST (70,000 images)', (t) => {
    if (!existsSync(DEFAULT_DATA_DIR)) {
      t.skip(`${DEFAULT_DATA_DIR} not installed (apt-get install dataset-fashion-mnist)`);
      return;
    }
    const t0 = performance.now();
    const ds = loadDataset();
    const ms = performance.now() - t0;
    t.diagnostic(`loaded ${ds.count} images in ${ms.toFixed(0)} ms`);
    assert.equal(ds.name, 'fashion-mnist');
    assert.equal(ds.count, 70_000);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.channels, 1);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.pixels.length, 70_000 * 784);
    assert.equal(ds.classNames?.[0], 'T-shirt/top');
    const counts = classCounts(ds.labels, Int32Array.from({ length: ds.count }, (_, i) => i), 10);
    assert.deepEqual(Array.from(counts), new Array(10).fill(7000));
    // Fashion-MNIST is known to have mean ~0.286, std ~0.353
    assert.ok(Math.abs(ds.mean[0]! - 0.286) < 0.005, `mean ${ds.mean[0]}`);
    assert.ok(Math.abs(ds.std[0]! - 0.353) < 0.005, `std ${ds.std[0]}`);
  });
});
