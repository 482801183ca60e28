/**
 * Builders for small synthetic IDX / CIFAR-10 files, shared by the data tests and by
 * test/fixtures/data/generate.ts (which writes the committed fixture files).
 */
import { CIFAR_PIXELS, CIFAR_RECORD } from './cifar.ts';

/** An IDX file: header (magic 00 00, type, ndims, big-endian dims) followed by `data`. */
export function makeIdx(dims: readonly number[], data: Uint8Array, type = 0x08): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}

/** Deterministic pixel value of image n at (y, x) for the synthetic IDX sets. */
export function idxPixel(n: number, y: number, x: number): number {
  return (n * 31 + y * 7 + x * 3) & 255;
}

/** `count` synthetic h x w images (see idxPixel) and labels (n * 3 + offset) % 10. */
export function syntheticIdx(count: number, h: number, w: number, labelOffset = 0): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(count * h * w);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    labels[n] = (n * 3 + labelOffset) % 10;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) images[(n * h + y) * w + x] = idxPixel(n, y, x);
  }
  return { images, labels };
}

/** Deterministic value of channel c at (y, x) of CIFAR record n. */
export function cifarPixel(n: number, c: number, y: number, x: number): number {
  return (n * 37 + c * 85 + y * 5 + x * 3) & 255;
}

/** A CIFAR-10 binary batch with the given labels and cifarPixel() contents (planar CHW). */
export function makeCifarBatch(labels: readonly number[], recordOffset = 0): Uint8Array {
  const out = new Uint8Array(labels.length * CIFAR_RECORD);
  labels.forEach((label, i) => {
    const rec = i * CIFAR_RECORD;
    out[rec] = label;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32; x++) out[rec + 1 + c * CIFAR_PIXELS + y * 32 + x] = cifarPixel(i + recordOffset, c, y, x);
  });
  return out;
}
