import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { decodePng } from './png.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { chunk, encodePng, scanlines } from '../test/helpers/png.ts';

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const code = (c: string) => (e: unknown) => isTinyProtoError(e) && e.code === c;

/** Deterministic samples in 0..max. */
function samples(n: number, max = 255, seed = 7): number[] {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) % (max + 1));
}

test('every colour type at 8 bits, with every filter type, decodes to its samples', () => {
  for (const [colorType, ch] of [[0, 1], [2, 3], [4, 2], [6, 4]] as const) {
    const w = 7, h = 6;
    const s = samples(w * h * ch, 255, colorType + 1);
    const img = decodePng(encodePng({ width: w, height: h, colorType, samples: s, filters: [0, 1, 2, 3, 4, 4] }), `t${colorType}.png`);
    assert.equal(img.width, w);
    assert.equal(img.height, h);
    assert.equal(img.channels, ch);
    assert.deepEqual(Array.from(img.data), s, `colour type ${colorType}`);
  }
});

test('palette images at 1, 2, 4 and 8 bits expand to RGB, and to RGBA with tRNS', () => {
  const palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120];
  for (const depth of [1, 2, 4, 8]) {
    const entries = Math.min(1 << depth, 8);
    const w = 11, h = 3;
    const idx = samples(w * h, entries - 1, depth);
    const img = decodePng(encodePng({ width: w, height: h, colorType: 3, bitDepth: depth, samples: idx, palette: palette.slice(0, 3 * entries), filters: [1, 2, 4] }), 'p.png');
    assert.equal(img.channels, 3);
    assert.deepEqual(Array.from(img.data), idx.flatMap((i) => palette.slice(3 * i, 3 * i + 3)), `depth ${depth}`);
  }
  const idx = [0, 1, 2, 3];
  const img = decodePng(encodePng({ width: 2, height: 2, colorType: 3, samples: idx, palette: palette.slice(0, 12), transparency: [0, 128] }), 'a.png');
  assert.equal(img.channels, 4);
  assert.deepEqual(Array.from(img.data), [0, 0, 0, 0, 255, 0, 0, 128, 0, 255, 0, 255, 0, 0, 255, 255]);
});

test('ancillary chunks are skipped; unknown critical chunks, 16-bit, low-bit grey and interlacing are E_DATA_UNSUPPORTED', () => {
  const ok = encodePng({ width: 2, height: 1, colorType: 0, samples: [1, 2], extra: [{ type: 'tEXt', data: Buffer.from('Comment\0hi') }] });
  assert.deepEqual(Array.from(decodePng(ok, 'x.png').data), [1, 2]);
  assert.throws(() => decodePng(encodePng({ width: 2, height: 1, colorType: 0, samples: [1, 2], extra: [{ type: 'ZZZZ', data: Buffer.alloc(1) }] }), 'c.png'), code('E_DATA_UNSUPPORTED'));
  assert.throws(() => decodePng(encodePng({ width: 2, height: 1, colorType: 0, bitDepth: 16, samples: [1, 2] }), 'd16.png'), (e: unknown) => code('E_DATA_UNSUPPORTED')(e) && /bit depth 16/.test((e as Error).message) && /d16\.png/.test((e as Error).message));
  assert.throws(() => decodePng(encodePng({ width: 4, height: 1, colorType: 0, bitDepth: 4, samples: [1, 2, 3, 4] }), 'g4.png'), code('E_DATA_UNSUPPORTED'));
  assert.throws(() => decodePng(encodePng({ width: 2, height: 1, colorType: 0, samples: [1, 2], interlace: 1 }), 'i.png'), (e: unknown) => code('E_DATA_UNSUPPORTED')(e) && /interlac/.test((e as Error).message));
});

test('damaged files: E_DATA_CORRUPT or E_DATA_TRUNCATED, naming the file', () => {
  const good = encodePng({ width: 5, height: 4, colorType: 2, samples: samples(60) });
  const named = (c: string) => (e: unknown) => code(c)(e) && (e as Error).message.startsWith('bad.png: ');
  assert.throws(() => decodePng(Buffer.from('GIF89a not a png at all'), 'bad.png'), named('E_DATA_CORRUPT'));
  assert.throws(() => decodePng(new Uint8Array(0), 'bad.png'), named('E_DATA_CORRUPT'));
  // cut anywhere after the signature
  for (const at of [10, 30, good.length - 20, good.length - 5]) assert.throws(() => decodePng(good.subarray(0, at), 'bad.png'), named('E_DATA_TRUNCATED'), `cut at ${at}`);
  // a flipped bit inside a chunk fails its CRC
  const flipped = Buffer.from(good);
  flipped[40]! ^= 0x04;
  assert.throws(() => decodePng(flipped, 'bad.png'), (e: unknown) => named('E_DATA_CORRUPT')(e) && /CRC/.test((e as Error).message));
  // valid chunks around broken contents
  const ihdr = (w: number, h: number, depth: number, type: number) => {
    const b = Buffer.alloc(13);
    b.writeUInt32BE(w, 0);
    b.writeUInt32BE(h, 4);
    b[8] = depth;
    b[9] = type;
    return chunk('IHDR', b);
  };
  const iend = chunk('IEND', new Uint8Array(0));
  const rows = scanlines({ width: 2, height: 2, colorType: 0, samples: [1, 2, 3, 4] });
  const cases: [string, Buffer][] = [
    ['no IDAT', Buffer.concat([SIG, ihdr(2, 2, 8, 0), iend])],
    ['IDAT first', Buffer.concat([SIG, chunk('IDAT', deflateSync(rows)), ihdr(2, 2, 8, 0), iend])],
    ['colour type 5', Buffer.concat([SIG, ihdr(2, 2, 8, 5), chunk('IDAT', deflateSync(rows)), iend])],
    ['zero width', Buffer.concat([SIG, ihdr(0, 2, 8, 0), chunk('IDAT', deflateSync(rows)), iend])],
    ['not zlib', Buffer.concat([SIG, ihdr(2, 2, 8, 0), chunk('IDAT', Buffer.from('garbage garbage')), iend])],
    ['filter type 9', Buffer.concat([SIG, ihdr(2, 2, 8, 0), chunk('IDAT', deflateSync(Buffer.from([9, 1, 2, 0, 3, 4]))), iend])],
    ['palette without PLTE', Buffer.concat([SIG, ihdr(2, 2, 8, 3), chunk('IDAT', deflateSync(rows)), iend])],
    ['index past the palette', Buffer.concat([SIG, ihdr(2, 2, 8, 3), chunk('PLTE', Buffer.from([1, 2, 3])), chunk('IDAT', deflateSync(rows)), iend])],
  ];
  for (const [what, buf] of cases) assert.throws(() => decodePng(buf, 'bad.png'), named('E_DATA_CORRUPT'), what);
  // the rows inflate to fewer bytes than the header's size needs
  assert.throws(() => decodePng(Buffer.concat([SIG, ihdr(2, 3, 8, 0), chunk('IDAT', deflateSync(rows)), iend]), 'bad.png'), named('E_DATA_TRUNCATED'));
});

test('a larger structured image through Sub, Up, Average and Paeth (ties included) round-trips', () => {
  const w = 48, h = 40;
  const s: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) s.push((x * 7) & 0xff, (y * 11) & 0xff, ((x ^ y) * 5) & 0xff, x < 24 ? 255 : (x * y) & 0xff);
  for (const f of [1, 2, 3, 4]) {
    const img = decodePng(encodePng({ width: w, height: h, colorType: 6, samples: s, filters: [f] }), 'big.png');
    assert.deepEqual(Array.from(img.data), s, `filter ${f}`);
  }
});

test('Paeth breaks a tie between up and upper-left towards up', () => {
  // at (1, 1): left a = 13, up b = 4, upper-left c = 10: p = 7, |p - b| = |p - c| = 3 < |p - a|
  const s = [10, 4, 13, 50];
  assert.deepEqual(Array.from(decodePng(encodePng({ width: 2, height: 2, colorType: 0, samples: s, filters: [4] }), 'tie.png').data), s);
});
