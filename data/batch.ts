/** Gather images / labels for a batch of indices, normalising pixels on the fly. */
import { TinyProtoError } from '../common/errors.ts';
import type { ImageDataset } from './types.ts';

/** Per-channel lookup table: lut[c * 256 + v] = (v / 255 - mean[c]) / std[c]. */
export function normalisationTable(ds: Pick<ImageDataset, 'channels' | 'mean' | 'std'>): Float32Array {
  const lut = new Float32Array(ds.channels * 256);
  for (let c = 0; c < ds.channels; c++) {
    const m = ds.mean[c];
    const s = ds.std[c];
    if (m === undefined || s === undefined || !(s > 0)) {
      throw new TinyProtoError('E_CONFIG', `normalisation needs mean and a positive std for channel ${c}, got mean=${m}, std=${s}`);
    }
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - m) / s;
  }
  return lut;
}

/**
 * Images `indices` of `ds` as float32 NHWC, normalised per channel with ds.mean / ds.std.
 * Writes into `out` when given (must hold indices.length * H * W * C floats) and returns
 * the exactly-sized view of it.
 */
export function toFloatBatch(ds: ImageDataset, indices: Int32Array | readonly number[], out?: Float32Array): Float32Array {
  const per = ds.height * ds.width * ds.channels;
  const size = indices.length * per;
  if (out !== undefined && out.length < size) {
    throw new TinyProtoError('E_SHAPE', `toFloatBatch: output buffer holds ${out.length} floats, need ${size} (${indices.length} images x ${per})`);
  }
  const dst = out === undefined ? new Float32Array(size) : out.subarray(0, size);
  const lut = normalisationTable(ds);
  const px = ds.pixels;
  const ch = ds.channels;
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    if (!(i >= 0 && i < ds.count) || !Number.isInteger(i)) {
      throw new TinyProtoError('E_CONFIG', `toFloatBatch: index ${i} is out of range [0, ${ds.count})`);
    }
    const src = i * per;
    const o = b * per;
    if (ch === 1) {
      for (let p = 0; p < per; p++) dst[o + p] = lut[px[src + p]!]!;
    } else {
      for (let p = 0; p < per; p++) dst[o + p] = lut[(p % ch) * 256 + px[src + p]!]!;
    }
  }
  return dst;
}

/** Labels of `indices`. */
export function gatherLabels(ds: ImageDataset, indices: Int32Array | readonly number[]): Int32Array {
  const out = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    const y = ds.labels[i];
    if (y === undefined || !Number.isInteger(i)) {
      throw new TinyProtoError('E_CONFIG', `gatherLabels: index ${i} is out of range [0, ${ds.count})`);
    }
    out[b] = y;
  }
  return out;
}

/** The raw bytes (NHWC) of the images at `indices`, e.g. to cache a shard. */
export function gatherPixels(ds: ImageDataset, indices: Int32Array | readonly number[]): Uint8Array {
  const per = ds.height * ds.width * ds.channels;
  const out = new Uint8Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) {
    const idx = indices[i]!;
    if (!Number.isInteger(idx) || idx < 0 || idx >= ds.count) {
      throw new TinyProtoError('E_CONFIG', `gatherPixels: index ${idx} outside [0, ${ds.count})`);
    }
    out.set(ds.pixels.subarray(idx * per, (idx + 1) * per), i * per);
  }
  return out;
}

/** Concatenates loaded parts (e.g. train and test files, or CIFAR batches) into one pixel and label array. */
export function concatParts(parts: readonly { pixels: Uint8Array; labels: ArrayLike<number> }[]): { pixels: Uint8Array; labels: Int32Array } {
  const pixels = new Uint8Array(parts.reduce((a, p) => a + p.pixels.length, 0));
  const labels = new Int32Array(parts.reduce((a, p) => a + p.labels.length, 0));
  let po = 0;
  let lo = 0;
  for (const p of parts) {
    pixels.set(p.pixels, po);
    po += p.pixels.length;
    labels.set(p.labels, lo);
    lo += p.labels.length;
  }
  return { pixels, labels };
}
