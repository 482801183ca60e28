/**
 * CIFAR-10 binary batches: each record is 1 label byte followed by 3072 pixel
 * bytes, planar CHW (1024 R, 1024 G, 1024 B; each 32x32 row-major).
 * Records are converted to NHWC (interleaved RGB) on load.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { isDirectory, missingDirError, type Split } from './idx.ts';
import { channelStats } from './stats.ts';
import { concatParts } from './batch.ts';
import type { ImageDataset } from './types.ts';

export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);
export const CIFAR_SIDE = 32;
export const CIFAR_PIXELS = CIFAR_SIDE * CIFAR_SIDE; // per channel
export const CIFAR_RECORD = 1 + 3 * CIFAR_PIXELS; // 3073
export const CIFAR_TRAIN_FILES: readonly string[] = Object.freeze([1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`));
export const CIFAR_TEST_FILES: readonly string[] = Object.freeze(['test_batch.bin']);
export const CIFAR_SUBDIR = 'cifar-10-batches-bin';

export interface CifarBatch {
  readonly count: number;
  /** count * 32 * 32 * 3, NHWC. */
  readonly pixels: Uint8Array;
  readonly labels: Int32Array;
}

/** Parse one CIFAR-10 binary batch into NHWC pixels and labels. */
export function parseCifarBatch(buf: Uint8Array, fileName: string): CifarBatch {
  if (buf.length === 0) {
    throw new TinyProtoError('E_DATA_TRUNCATED', `${fileName}: truncated: file is empty (expected records of ${CIFAR_RECORD} bytes)`, { file: fileName });
  }
  if (buf.length % CIFAR_RECORD !== 0) {
    const whole = Math.floor(buf.length / CIFAR_RECORD);
    throw new TinyProtoError(
      'E_DATA_TRUNCATED',
      `${fileName}: truncated: size ${buf.length} bytes is not a multiple of the ${CIFAR_RECORD}-byte record (${whole} whole records + ${buf.length % CIFAR_RECORD} bytes)`,
      { file: fileName, size: buf.length },
    );
  }
  const count = buf.length / CIFAR_RECORD;
  const labels = new Int32Array(count);
  const pixels = new Uint8Array(count * CIFAR_PIXELS * 3);
  for (let n = 0; n < count; n++) {
    const rec = n * CIFAR_RECORD;
    const y = buf[rec]!;
    if (y > 9) {
      throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: label ${y} in record ${n} is out of range [0, 10)`, { file: fileName, record: n, label: y });
    }
    labels[n] = y;
    const r = rec + 1;
    const g = r + CIFAR_PIXELS;
    const b = g + CIFAR_PIXELS;
    let o = n * CIFAR_PIXELS * 3;
    for (let p = 0; p < CIFAR_PIXELS; p++) {
      pixels[o++] = buf[r + p]!;
      pixels[o++] = buf[g + p]!;
      pixels[o++] = buf[b + p]!;
    }
  }
  return { count, pixels, labels };
}

/** The directory holding the batches: `dir` itself or its `cifar-10-batches-bin/` subfolder. */
export function resolveCifarDir(dir: string): string {
  const hasBatches = (d: string): boolean =>
    [...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES].some((f) => existsSync(join(d, f)));
  if (hasBatches(dir)) return dir;
  const sub = join(dir, CIFAR_SUBDIR);
  if (isDirectory(sub)) return sub;
  return dir;
}

export interface CifarLoadOptions {
  split: Split;
  name?: string;
}

/** Load CIFAR-10 from its binary batches; `all` concatenates train (batches 1-5) then test. */
export function loadCifar10(dir: string, opts: CifarLoadOptions): ImageDataset {
  if (!isDirectory(dir)) {
    throw missingDirError(dir, `CIFAR-10 binary batches ${[...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES].join(', ')}`);
  }
  const files =
    opts.split === 'train'
      ? CIFAR_TRAIN_FILES
      : opts.split === 'test'
        ? CIFAR_TEST_FILES
        : opts.split === 'all'
          ? [...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES]
          : [];
  if (files.length === 0) {
    throw new TinyProtoError('E_CONFIG', `unknown split '${String(opts.split)}' (expected train, test or all)`);
  }
  const base = resolveCifarDir(dir);
  const batches: CifarBatch[] = [];
  for (const f of files) {
    const p = join(base, f);
    let buf: Buffer;
    try {
      buf = readFileSync(p);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'missing' : `cannot read: ${err.message}`;
      throw new TinyProtoError('E_DATA_MISSING', `${p}: ${why} (expected CIFAR-10 binary batches ${files.join(', ')} in ${base})`, { file: p, expected: files });
    }
    batches.push(parseCifarBatch(buf, p));
  }
  const count = batches.reduce((s, b) => s + b.count, 0);
  const { pixels, labels } = concatParts(batches);
  const { mean, std } = channelStats(pixels, 3);
  return {
    name: opts.name ?? 'cifar10',
    count,
    height: CIFAR_SIDE,
    width: CIFAR_SIDE,
    channels: 3,
    numClasses: 10,
    pixels,
    labels,
    mean,
    std,
    classNames: CIFAR10_CLASSES,
  };
}
