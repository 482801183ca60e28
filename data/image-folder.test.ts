import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertImage, isImageFolder, listImageFolder, loadImageFolder, parseImageShape } from './image-folder.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { encodePng, solidGray } from '../test/helpers/png.ts';

const code = (c: string, re?: RegExp) => (e: unknown) => isTinyProtoError(e) && e.code === c && (re === undefined || re.test(e.message));

function folder(layout: Record<string, Record<string, Buffer | string>>, loose: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'tinyproto-imgs-'));
  for (const [cls, files] of Object.entries(layout)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(root, cls, name), bytes);
  }
  for (const [name, text] of Object.entries(loose)) writeFileSync(join(root, name), text);
  return root;
}

test('classes are the sorted folder names; images load in class then file order, as 28x28x1 by default', () => {
  const root = folder({ shoe: { 'b.png': solidGray(28, 28, 200), 'a.png': solidGray(28, 28, 100) }, bag: { 'x.png': solidGray(28, 28, 0) }, '.git': {} });
  try {
    assert.equal(isImageFolder(root), true);
    const ds = loadImageFolder(root);
    assert.deepEqual(ds.classNames, ['bag', 'shoe']);
    assert.equal(ds.numClasses, 2);
    assert.equal(ds.count, 3);
    assert.deepEqual([ds.height, ds.width, ds.channels], [28, 28, 1]);
    assert.deepEqual(Array.from(ds.labels), [0, 1, 1]);
    assert.deepEqual([ds.pixels[0], ds.pixels[784], ds.pixels[2 * 784]], [0, 100, 200]);
    assert.equal(ds.pixels.length, 3 * 784);
    assert.ok(Math.abs(ds.mean[0]! - 100 / 255) < 1e-6);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a classes list fixes the labels; a listed class may be absent, an unlisted folder may not', () => {
  const root = folder({ cat: { '1.png': solidGray(8, 8, 9) }, ant: { '1.png': solidGray(8, 8, 3) } });
  try {
    const ds = loadImageFolder(root, { classes: ['dog', 'cat', 'ant'] });
    assert.deepEqual(ds.classNames, ['dog', 'cat', 'ant']);
    assert.equal(ds.numClasses, 3);
    assert.deepEqual(Array.from(ds.labels), [2, 1]);
    assert.throws(() => loadImageFolder(root, { classes: ['cat', 'dog'] }), code('E_DATA_LAYOUT', /ant/));
    assert.throws(() => loadImageFolder(root, { classes: ['cat', 'cat', 'ant'] }), code('E_CONFIG', /repeated/));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('RGB is converted to luma and grey to RGB; alpha is composited over black', () => {
  const rgb = encodePng({ width: 1, height: 1, colorType: 2, samples: [255, 0, 0] });
  const rgba = encodePng({ width: 1, height: 1, colorType: 6, samples: [0, 0, 200, 128] });
  const root = folder({ a: { 'r.png': rgb, 't.png': rgba }, b: { 'g.png': solidGray(1, 1, 77) } });
  try {
    const gray = loadImageFolder(root, { shape: parseImageShape('8x8x1') });
    assert.deepEqual([gray.pixels[0], gray.pixels[64], gray.pixels[128]], [Math.round(0.299 * 255), Math.round(0.114 * 200 * (128 / 255)), 77]);
    const colour = loadImageFolder(root, { shape: parseImageShape('8x8x3') });
    assert.equal(colour.channels, 3);
    assert.deepEqual(Array.from(colour.pixels.subarray(0, 3)), [255, 0, 0]);
    assert.deepEqual(Array.from(colour.pixels.subarray(2 * 192, 2 * 192 + 3)), [77, 77, 77]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('resizing: area average when shrinking, bilinear when enlarging, identity at the same size', () => {
  // 4x2 -> 2x1: each output pixel averages a 2x2 block
  const src = { width: 4, height: 2, channels: 1 as const, data: Uint8Array.from([0, 100, 200, 40, 100, 200, 0, 40]) };
  const out = new Uint8Array(2);
  convertImage(src, { height: 1, width: 2, channels: 1 }, out);
  assert.deepEqual(Array.from(out), [100, 70]);
  // 3x3 -> 2x2 (non-integer ratio): weights 2/3 and 1/3 over the middle row and column
  const nine = { width: 3, height: 3, channels: 1 as const, data: Uint8Array.from([90, 0, 0, 0, 0, 0, 0, 0, 0]) };
  const four = new Uint8Array(4);
  convertImage(nine, { height: 2, width: 2, channels: 1 }, four);
  assert.deepEqual(Array.from(four), [Math.round(90 * (2 / 3) * (2 / 3)), 0, 0, 0]);
  // 2x1 -> 4x1 bilinear: 0, 255 -> 0, 64, 191, 255
  const up = new Uint8Array(4);
  convertImage({ width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 255]) }, { height: 1, width: 4, channels: 1 }, up);
  assert.deepEqual(Array.from(up), [0, 64, 191, 255]);
  const same = new Uint8Array(8);
  convertImage(src, { height: 2, width: 4, channels: 1 }, same);
  assert.deepEqual(same, src.data);
});

test('wrong layouts, empty classes and other formats fail with typed errors naming the place', () => {
  const cases: [string, () => string, string, RegExp][] = [
    ['images in the root', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { '1.png': solidGray(2, 2, 1) } }, { 'loose.png': 'x' }), 'E_DATA_LAYOUT', /loose\.png is not in a class folder/],
    ['no class folders', () => folder({}, { 'README.txt': 'x' }), 'E_DATA_LAYOUT', /no class folders/],
    ['one class', () => folder({ a: { '1.png': solidGray(2, 2, 1) } }), 'E_DATA_LAYOUT', /only one class folder/],
    ['an empty class', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: {} }), 'E_DATA_LAYOUT', /class "b" has no images/],
    ['a nested folder', () => { const r = folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { '1.png': solidGray(2, 2, 1) } }); mkdirSync(join(r, 'b', 'deeper')); return r; }, 'E_DATA_LAYOUT', /deeper inside a class folder/],
    ['a JPEG', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { '1.jpg': 'x' } }), 'E_DATA_UNSUPPORTED', /1\.jpg: not a \.png file/],
    ['a corrupt PNG', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { 'bad.png': 'not a png' } }), 'E_DATA_CORRUPT', /bad\.png: corrupt PNG/],
    ['a cut PNG', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { 'cut.png': solidGray(9, 9, 1).subarray(0, 40) } }), 'E_DATA_TRUNCATED', /cut\.png: truncated PNG/],
    ['a 16-bit PNG', () => folder({ a: { '1.png': solidGray(2, 2, 1) }, b: { 'deep.png': encodePng({ width: 1, height: 1, colorType: 0, bitDepth: 16, samples: [1] }) } }), 'E_DATA_UNSUPPORTED', /deep\.png: unsupported PNG/],
  ];
  for (const [what, make, c, re] of cases) {
    const root = make();
    try {
      assert.throws(() => loadImageFolder(root), code(c, re), what);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  assert.throws(() => listImageFolder('/nonexistent/tinyproto-images'), code('E_DATA_MISSING'));
  assert.equal(isImageFolder('/nonexistent/tinyproto-images'), false);
});

test('image shapes parse as HxWxC with 1 or 3 channels', () => {
  assert.deepEqual(parseImageShape('32x32x3'), { height: 32, width: 32, channels: 3 });
  for (const bad of ['28x28', '28x28x2', 'axbxc', '4x4x1', '']) assert.throws(() => parseImageShape(bad), code('E_CONFIG'), bad);
});
