import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTinyProtoError } from '../common/errors.ts';
import { gatherLabels, normalisationTable, toFloatBatch } from './batch.ts';
import type { ImageDataset } from './types.ts';

const close = (a: number, b: number, eps = 1e-6): void => assert.ok(Math.abs(a - b) < eps, `${a} !~ ${b}`);

/** 3 images of 2x2x1 with pixels 0..11 * 20. */
const gray: ImageDataset = {
  name: 'gray', count: 3, height: 2, width: 2, channels: 1, numClasses: 10,
  pixels: Uint8Array.from({ length: 12 }, (_, i) => i * 20),
  labels: Int32Array.of(4, 7, 1),
  mean: [0.4], std: [0.2],
};

/** 2 images of 1x2x3 (RGB). */
const rgb: ImageDataset = {
  name: 'rgb', count: 2, height: 1, width: 2, channels: 3, numClasses: 10,
  pixels: Uint8Array.of(0, 255, 51, 102, 153, 204, 10, 20, 30, 40, 50, 60),
  labels: Int32Array.of(0, 9),
  mean: [0.1, 0.5, 0.9], std: [0.5, 0.25, 1],
};

describe('toFloatBatch', () => {
  test('gathers images in index order and normalises (p/255 - mean) / std', () => {
    const out = toFloatBatch(gray, [2, 0]);
    assert.equal(out.length, 8);
    for (let p = 0; p < 4; p++) {
      close(out[p]!, ((8 + p) * 20 / 255 - 0.4) / 0.2);
      close(out[4 + p]!, (p * 20 / 255 - 0.4) / 0.2);
    }
  });

  test('per-channel statistics for NHWC', () => {
    const out = toFloatBatch(rgb, Int32Array.of(0, 1));
    assert.equal(out.length, 12);
    for (let i = 0; i < 12; i++) {
      const c = i % 3;
      close(out[i]!, (rgb.pixels[i]! / 255 - rgb.mean[c]!) / rgb.std[c]!);
    }
    close(out[1]!, (1 - 0.5) / 0.25);
  });

  test('normalised batch over the whole set has mean 0 / std 1 when stats match', () => {
    let s = 0;
    let s2 = 0;
    for (const p of gray.pixels) {
      s += p / 255;
      s2 += (p / 255) ** 2;
    }
    const m = s / 12;
    const ds = { ...gray, mean: [m], std: [Math.sqrt(s2 / 12 - m * m)] };
    const out = toFloatBatch(ds, [0, 1, 2]);
    const mean = out.reduce((a, v) => a + v, 0) / out.length;
    const varc = out.reduce((a, v) => a + (v - mean) ** 2, 0) / out.length;
    close(mean, 0, 1e-5);
    close(varc, 1, 1e-5);
  });

  test('reuses a provided buffer and returns the exact-size view', () => {
    const buf = new Float32Array(20).fill(-99);
    const out = toFloatBatch(gray, [1], buf);
    assert.equal(out.buffer, buf.buffer);
    assert.equal(out.length, 4);
    close(buf[0]!, (80 / 255 - 0.4) / 0.2);
    assert.equal(buf[4], -99);
    assert.throws(() => toFloatBatch(gray, [0, 1], new Float32Array(7)), (e: unknown) => isTinyProtoError(e, 'E_SHAPE'));
  });

  test('empty batch and bad indices', () => {
    assert.equal(toFloatBatch(gray, []).length, 0);
    assert.throws(() => toFloatBatch(gray, [3]), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /index 3/.test(e.message));
    assert.throws(() => toFloatBatch(gray, [-1]), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  });

  test('normalisationTable rejects a zero std', () => {
    assert.throws(() => normalisationTable({ channels: 1, mean: [0], std: [0] }), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  });
});

describe('gatherLabels', () => {
  test('labels in index order', () => {
    assert.deepEqual(Array.from(gatherLabels(gray, [2, 2, 0, 1])), [1, 1, 4, 7]);
    assert.deepEqual(Array.from(gatherLabels(rgb, Int32Array.of(1))), [9]);
    assert.throws(() => gatherLabels(gray, [5]), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  });
});
