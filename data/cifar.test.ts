import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTinyProtoError, type ErrorCode } from '../common/errors.ts';
import { CIFAR10_CLASSES, CIFAR_RECORD, loadCifar10, parseCifarBatch } from './cifar.ts';
import { cifarPixel, makeCifarBatch } from './fixtures.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'data');
const tmpRoot = mkdtempSync(join(tmpdir(), 'tinyproto-cifar-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirNo = 0;

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

/** A full CIFAR-10 layout with 2 records per train batch and 3 test records. */
function cifarDir(sub?: string): { root: string; dir: string } {
  const root = join(tmpRoot, `c${dirNo++}`);
  const dir = sub === undefined ? root : join(root, sub);
  mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), makeCifarBatch([b, (b + 5) % 10], 2 * (b - 1)));
  writeFileSync(join(dir, 'test_batch.bin'), makeCifarBatch([9, 8, 7], 100));
  return { root, dir };
}

describe('parseCifarBatch', () => {
  test('CHW planar -> NHWC: known pixels', () => {
    const buf = makeCifarBatch([4, 2]);
    const { count, labels, pixels } = parseCifarBatch(buf, 'b.bin');
    assert.equal(count, 2);
    assert.deepEqual(Array.from(labels), [4, 2]);
    assert.equal(pixels.length, 2 * 32 * 32 * 3);
    for (const [n, y, x] of [[0, 0, 0], [1, 5, 17], [1, 31, 31], [0, 10, 3]] as const) {
      for (let c = 0; c < 3; c++) {
        const nhwc = ((n * 32 + y) * 32 + x) * 3 + c;
        const chw = n * CIFAR_RECORD + 1 + c * 1024 + y * 32 + x;
        assert.equal(pixels[nhwc], buf[chw]);
        assert.equal(pixels[nhwc], cifarPixel(n, c, y, x));
      }
    }
  });

  test('a hand-placed pixel lands at the right NHWC offset', () => {
    const buf = new Uint8Array(CIFAR_RECORD);
    buf[0] = 6;
    buf[1 + 1024 + 2 * 32 + 7] = 200; // G at (y=2, x=7)
    const { pixels } = parseCifarBatch(buf, 'one.bin');
    const at = (2 * 32 + 7) * 3 + 1;
    assert.equal(pixels[at], 200);
    assert.equal(pixels.reduce((s, v) => s + v, 0), 200);
  });

  test('size not a multiple of 3073 -> E_DATA_TRUNCATED', () => {
    const buf = makeCifarBatch([1, 2]);
    throwsCode(() => parseCifarBatch(buf.subarray(0, buf.length - 100), 'cut.bin'), 'E_DATA_TRUNCATED', 'cut.bin', /3073/);
    throwsCode(() => parseCifarBatch(new Uint8Array(0), 'empty.bin'), 'E_DATA_TRUNCATED', 'empty.bin');
  });

  test('label > 9 -> E_DATA_CORRUPT', () => {
    const buf = makeCifarBatch([1, 2, 3]);
    buf[2 * CIFAR_RECORD] = 10;
    throwsCode(() => parseCifarBatch(buf, 'lbl.bin'), 'E_DATA_CORRUPT', 'lbl.bin', /label 10 in record 2/);
  });

  test('committed fixture cifar-mini/data_batch_1.bin', () => {
    const p = join(FIXTURES, 'cifar-mini', 'data_batch_1.bin');
    const { count, labels, pixels } = parseCifarBatch(readFileSync(p), p);
    assert.equal(count, 3);
    assert.deepEqual(Array.from(labels), [3, 0, 9]);
    assert.equal(pixels[((2 * 32 + 4) * 32 + 9) * 3 + 2], cifarPixel(2, 2, 4, 9));
  });
});

describe('loadCifar10', () => {
  test('splits, order and metadata', () => {
    const { dir } = cifarDir();
    const tr = loadCifar10(dir, { split: 'train' });
    const te = loadCifar10(dir, { split: 'test' });
    const all = loadCifar10(dir, { split: 'all' });
    assert.equal(tr.count, 10);
    assert.equal(te.count, 3);
    assert.equal(all.count, 13);
    assert.deepEqual(Array.from(all.labels), [1, 6, 2, 7, 3, 8, 4, 9, 5, 0, 9, 8, 7]);
    assert.equal(all.channels, 3);
    assert.equal(all.height, 32);
    assert.equal(all.numClasses, 10);
    assert.deepEqual(all.classNames, CIFAR10_CLASSES);
    assert.equal(all.mean.length, 3);
    assert.equal(all.std.length, 3);
    // record 1 of data_batch_3 is global image 5 (pattern index 5); channel B at (y=1, x=2)
    assert.equal(all.pixels[((5 * 32 + 1) * 32 + 2) * 3 + 2], cifarPixel(5, 2, 1, 2));
    // first test image comes after the 10 train images
    assert.equal(all.pixels[10 * 3072], cifarPixel(100, 0, 0, 0));
    // per-channel mean really is per channel
    let s = 0;
    for (let i = 1; i < all.pixels.length; i += 3) s += all.pixels[i]! / 255;
    assert.ok(Math.abs(all.mean[1]! - s / (13 * 1024)) < 1e-12);
  });

  test('accepts a dir holding cifar-10-batches-bin/', () => {
    const { root } = cifarDir('cifar-10-batches-bin');
    assert.equal(loadCifar10(root, { split: 'all' }).count, 13);
  });

  test('missing batch -> E_DATA_MISSING naming it', () => {
    const { dir } = cifarDir();
    rmSync(join(dir, 'data_batch_4.bin'));
    assert.equal(loadCifar10(dir, { split: 'test' }).count, 3);
    throwsCode(() => loadCifar10(dir, { split: 'train' }), 'E_DATA_MISSING', join(dir, 'data_batch_4.bin'));
    throwsCode(() => loadCifar10(join(tmpRoot, 'nothing-here'), { split: 'all' }), 'E_DATA_MISSING', 'nothing-here', 'data_batch_1.bin');
  });

  test('truncated batch file -> E_DATA_TRUNCATED naming it', () => {
    const { dir } = cifarDir();
    writeFileSync(join(dir, 'test_batch.bin'), makeCifarBatch([1]).subarray(0, 3000));
    throwsCode(() => loadCifar10(dir, { split: 'all' }), 'E_DATA_TRUNCATED', join(dir, 'test_batch.bin'));
  });
});
