import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { isTinyProtoError, type ErrorCode } from '../common/errors.ts';
import { makeIdx, syntheticIdx, idxPixel } from './fixtures.ts';
import { DEFAULT_DATA_DIR, FASHION_MNIST_CLASSES, loadIdxDataset, missingDirError, parseIdx, readIdxFile } from './idx.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'data');
const tmpRoot = mkdtempSync(join(tmpdir(), 'tinyproto-idx-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirNo = 0;

/** Write files into a fresh temp dir. */
function makeDir(files: Record<string, Uint8Array>): string {
  const dir = join(tmpRoot, `d${dirNo++}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}

/** A complete MNIST-style dir: nTrain / nTest images of h x w. */
function idxSet(nTrain: number, nTest: number, h = 4, w = 3, gz = false): Record<string, Uint8Array> {
  const tr = syntheticIdx(nTrain, h, w, 0);
  const te = syntheticIdx(nTest, h, w, 1);
  const z = (b: Uint8Array): Uint8Array => (gz ? gzipSync(b) : b);
  const s = gz ? '.gz' : '';
  return {
    [`train-images-idx3-ubyte${s}`]: z(makeIdx([nTrain, h, w], tr.images)),
    [`train-labels-idx1-ubyte${s}`]: z(makeIdx([nTrain], tr.labels)),
    [`t10k-images-idx3-ubyte${s}`]: z(makeIdx([nTest, h, w], te.images)),
    [`t10k-labels-idx1-ubyte${s}`]: z(makeIdx([nTest], te.labels)),
  };
}

function throwsCode(fn: () => unknown, code: ErrorCode, ...mustMention: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTinyProtoError(e), `expected TinyProtoError, got ${String(e)}`);
    assert.equal(e.code, code, `code for: ${e.message}`);
    for (const m of mustMention) {
      if (typeof m === 'string') assert.ok(e.message.includes(m), `message "${e.message}" should mention "${m}"`);
      else assert.match(e.message, m);
    }
    return true;
  });
}

describe('parseIdx', () => {
  const data = Uint8Array.from({ length: 24 }, (_, i) => i * 5);
  const plain = makeIdx([2, 4, 3], data);

  test('parses plain and gzipped buffers identically', () => {
    for (const buf of [plain, gzipSync(plain)]) {
      const r = parseIdx(buf, 'x.idx');
      assert.deepEqual(r.dims, [2, 4, 3]);
      assert.deepEqual(Array.from(r.data), Array.from(data));
    }
  });

  test('1-d label file', () => {
    const r = parseIdx(makeIdx([3], Uint8Array.of(7, 0, 9)), 'l');
    assert.deepEqual(r.dims, [3]);
    assert.deepEqual(Array.from(r.data), [7, 0, 9]);
  });

  test('truncated data -> E_DATA_TRUNCATED with declared and found sizes', () => {
    throwsCode(() => parseIdx(plain.subarray(0, plain.length - 5), 'imgs.idx'), 'E_DATA_TRUNCATED',
      'imgs.idx: truncated: header declares 24 bytes of data, found 19');
    throwsCode(() => parseIdx(gzipSync(plain.subarray(0, plain.length - 1)), 'imgs.gz'), 'E_DATA_TRUNCATED', 'imgs.gz', 'found 23');
  });

  test('truncated header -> E_DATA_TRUNCATED', () => {
    throwsCode(() => parseIdx(Uint8Array.of(0, 0), 'tiny'), 'E_DATA_TRUNCATED', 'tiny');
    throwsCode(() => parseIdx(plain.subarray(0, 9), 'hdr'), 'E_DATA_TRUNCATED', 'hdr', /16 bytes/);
  });

  test('trailing garbage -> E_DATA_CORRUPT', () => {
    const longer = new Uint8Array(plain.length + 3);
    longer.set(plain);
    throwsCode(() => parseIdx(longer, 'extra.idx'), 'E_DATA_CORRUPT', 'extra.idx', /3 unexpected trailing bytes/);
  });

  test('bad magic -> E_DATA_CORRUPT', () => {
    const bad = plain.slice();
    bad[0] = 0x50;
    bad[1] = 0x4b; // e.g. a zip file
    throwsCode(() => parseIdx(bad, 'weird.bin'), 'E_DATA_CORRUPT', 'weird.bin', /bad magic/, /50 4b/);
  });

  test('non-byte types are rejected clearly', () => {
    throwsCode(() => parseIdx(makeIdx([2], new Uint8Array(8), 0x0c), 'ints'), 'E_DATA_CORRUPT', 'ints', /0x0c \(int32\)/, /only unsigned byte/);
    throwsCode(() => parseIdx(makeIdx([2], new Uint8Array(2), 0x42), 'odd'), 'E_DATA_CORRUPT', 'odd', /unknown data type 0x42/);
  });

  test('zero dimensions -> E_DATA_CORRUPT', () => {
    throwsCode(() => parseIdx(Uint8Array.of(0, 0, 8, 0), 'nod'), 'E_DATA_CORRUPT', 'nod', /0 dimensions/);
  });

  test('corrupt gzip -> E_DATA_CORRUPT naming the file', () => {
    const gz = gzipSync(plain);
    const bad = gz.slice();
    for (let i = 10; i < bad.length - 8; i++) bad[i] = 0xff;
    throwsCode(() => parseIdx(bad, 'broken.gz'), 'E_DATA_CORRUPT', 'broken.gz', /corrupt gzip/);
    // a cut-short gzip stream
    throwsCode(() => parseIdx(gz.subarray(0, gz.length - 12), 'short.gz'), 'E_DATA_CORRUPT', 'short.gz', /corrupt gzip/);
  });

  test('readIdxFile on a missing file -> E_DATA_MISSING', () => {
    throwsCode(() => readIdxFile(join(tmpRoot, 'nope-idx1-ubyte')), 'E_DATA_MISSING', 'nope-idx1-ubyte');
  });
});

describe('loadIdxDataset', () => {
  test('plain files, each split; all = train then test', () => {
    const dir = makeDir(idxSet(6, 4));
    const tr = loadIdxDataset(dir, { split: 'train' });
    const te = loadIdxDataset(dir, { split: 'test' });
    const all = loadIdxDataset(dir, { split: 'all', name: 'synthetic' });
    assert.equal(tr.count, 6);
    assert.equal(te.count, 4);
    assert.equal(all.count, 10);
    assert.equal(all.name, 'synthetic');
    assert.equal(all.classNames, undefined);
    for (const d of [tr, te, all]) {
      assert.equal(d.height, 4);
      assert.equal(d.width, 3);
      assert.equal(d.channels, 1);
      assert.equal(d.numClasses, 10);
      assert.equal(d.pixels.length, d.count * 12);
      assert.equal(d.labels.length, d.count);
    }
    assert.deepEqual(Array.from(all.labels), [0, 3, 6, 9, 2, 5, 1, 4, 7, 0]);
    assert.deepEqual(all.pixels.subarray(0, 72), tr.pixels);
    assert.deepEqual(all.pixels.subarray(72), te.pixels);
    // image 2 of the test part, pixel (y=3, x=1)
    assert.equal(all.pixels[(6 + 2) * 12 + 3 * 3 + 1], idxPixel(2, 3, 1));
  });

  test('mean / std are computed from the pixels', () => {
    const dir = makeDir(idxSet(5, 2));
    const ds = loadIdxDataset(dir, { split: 'all' });
    let s = 0;
    let s2 = 0;
    for (const p of ds.pixels) {
      s += p / 255;
      s2 += (p / 255) ** 2;
    }
    const m = s / ds.pixels.length;
    assert.ok(Math.abs(ds.mean[0]! - m) < 1e-12);
    assert.ok(Math.abs(ds.std[0]! - Math.sqrt(s2 / ds.pixels.length - m * m)) < 1e-9);
  });

  test('gzipped files and the dotted name variant', () => {
    const gzDir = makeDir(idxSet(3, 2, 2, 2, true));
    const a = loadIdxDataset(gzDir, { split: 'all' });
    const plainDir = makeDir(idxSet(3, 2, 2, 2, false));
    const b = loadIdxDataset(plainDir, { split: 'all' });
    assert.deepEqual(a.pixels, b.pixels);
    assert.deepEqual(a.labels, b.labels);

    const dotted: Record<string, Uint8Array> = {};
    for (const [k, v] of Object.entries(idxSet(3, 2, 2, 2, true))) dotted[k.replace(/-(idx[13])/, '.$1')] = v;
    assert.ok('train-images.idx3-ubyte.gz' in dotted);
    const c = loadIdxDataset(makeDir(dotted), { split: 'all' });
    assert.deepEqual(c.pixels, a.pixels);
  });

  test('fashion-mnist name gets class names', () => {
    const dir = join(tmpRoot, 'fashion-mnist');
    mkdirSync(dir);
    for (const [k, v] of Object.entries(idxSet(2, 2))) writeFileSync(join(dir, k), v);
    const ds = loadIdxDataset(dir, { split: 'test' });
    assert.equal(ds.name, 'fashion-mnist');
    assert.deepEqual(ds.classNames, FASHION_MNIST_CLASSES);
    assert.equal(ds.classNames?.[9], 'Ankle boot');
  });

  test('missing directory -> E_DATA_MISSING naming the path', () => {
    const dir = join(tmpRoot, 'does-not-exist');
    throwsCode(() => loadIdxDataset(dir, { split: 'all' }), 'E_DATA_MISSING', dir, 'train-images-idx3-ubyte');
  });

  test('missing file -> E_DATA_MISSING naming the expected file', () => {
    const files = idxSet(3, 2);
    delete files['t10k-labels-idx1-ubyte'];
    const dir = makeDir(files);
    assert.equal(loadIdxDataset(dir, { split: 'train' }).count, 3); // train is complete
    throwsCode(() => loadIdxDataset(dir, { split: 'all' }), 'E_DATA_MISSING', join(dir, 't10k-labels-idx1-ubyte'), 't10k-labels-idx1-ubyte.gz');
  });

  test('image / label count mismatch -> E_DATA_CORRUPT naming both files', () => {
    const files = idxSet(4, 2);
    files['train-labels-idx1-ubyte'] = makeIdx([3], Uint8Array.of(1, 2, 3));
    const dir = makeDir(files);
    throwsCode(() => loadIdxDataset(dir, { split: 'train' }), 'E_DATA_CORRUPT',
      join(dir, 'train-labels-idx1-ubyte'), join(dir, 'train-images-idx3-ubyte'), /label count 3 does not match image count 4/);
  });

  test('label >= 10 -> E_DATA_CORRUPT naming file and index', () => {
    const files = idxSet(4, 2);
    files['t10k-labels-idx1-ubyte'] = makeIdx([2], Uint8Array.of(1, 12));
    const dir = makeDir(files);
    throwsCode(() => loadIdxDataset(dir, { split: 'test' }), 'E_DATA_CORRUPT', join(dir, 't10k-labels-idx1-ubyte'), /label 12 at index 1/);
  });

  test('images with the wrong rank -> E_DATA_CORRUPT', () => {
    const files = idxSet(2, 2);
    files['train-images-idx3-ubyte'] = makeIdx([2, 12], new Uint8Array(24));
    const dir = makeDir(files);
    throwsCode(() => loadIdxDataset(dir, { split: 'train' }), 'E_DATA_CORRUPT', 'train-images-idx3-ubyte', /3 dimensions/);
  });

  test('train / test image sizes differ -> E_DATA_CORRUPT', () => {
    const files = { ...idxSet(2, 0, 4, 3), ...Object.fromEntries(Object.entries(idxSet(0, 2, 5, 5)).filter(([k]) => k.startsWith('t10k'))) };
    const dir = makeDir(files);
    throwsCode(() => loadIdxDataset(dir, { split: 'all' }), 'E_DATA_CORRUPT', dir, /4x3/, /5x5/);
  });

  test('unknown split -> E_CONFIG', () => {
    const dir = makeDir(idxSet(2, 2));
    throwsCode(() => loadIdxDataset(dir, { split: 'validation' as 'train' }), 'E_CONFIG', 'validation');
  });

  test('errors about the default dir carry the apt-get hint', () => {
    assert.equal(DEFAULT_DATA_DIR, '/usr/share/datasets/fashion-mnist');
    const e = missingDirError(DEFAULT_DATA_DIR, 'IDX files');
    assert.equal(e.code, 'E_DATA_MISSING');
    assert.match(e.message, /\/usr\/share\/datasets\/fashion-mnist/);
    assert.match(e.message, /apt-get install dataset-fashion-mnist/);
    assert.doesNotMatch(missingDirError('/elsewhere', 'IDX files').message, /apt-get/);
  });
});

describe('committed fixtures (test/fixtures/data)', () => {
  test('idx-mini: 5 + 3 gzipped 28x28 images', () => {
    const ds = loadIdxDataset(join(FIXTURES, 'idx-mini'), { split: 'all' });
    assert.equal(ds.count, 8);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    const tr = syntheticIdx(5, 28, 28, 0);
    const te = syntheticIdx(3, 28, 28, 1);
    assert.deepEqual(Array.from(ds.labels), [...tr.labels, ...te.labels]);
    assert.deepEqual(ds.pixels.subarray(0, 5 * 784), tr.images);
    assert.deepEqual(ds.pixels.subarray(5 * 784), te.images);
  });

  test('idx-truncated: E_DATA_TRUNCATED naming the file', () => {
    const dir = join(FIXTURES, 'idx-truncated');
    throwsCode(() => loadIdxDataset(dir, { split: 'train' }), 'E_DATA_TRUNCATED',
      `${join(dir, 'train-images-idx3-ubyte')}: truncated: header declares 3920 bytes of data, found 3528`);
  });

  test('idx-corrupt-gz: E_DATA_CORRUPT naming the file', () => {
    const dir = join(FIXTURES, 'idx-corrupt-gz');
    throwsCode(() => loadIdxDataset(dir, { split: 'train' }), 'E_DATA_CORRUPT', join(dir, 'train-labels-idx1-ubyte.gz'), /corrupt gzip/);
  });
});
