/**
 * IDX files (MNIST / Fashion-MNIST format), optionally gzipped.
 * Layout: 2 zero bytes, 1 type byte (0x08 = unsigned byte), 1 byte ndims,
 * ndims big-endian uint32 sizes, then the data in row-major order.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TinyProtoError } from '../common/errors.ts';
import { channelStats } from './stats.ts';
import { concatParts } from './batch.ts';
import type { ImageDataset } from './types.ts';

/** Where `apt-get install dataset-fashion-mnist` puts Fashion-MNIST. */
export const DEFAULT_DATA_DIR = '/usr/share/datasets/fashion-mnist';
export const DEFAULT_DATA_HINT = 'install it with `apt-get install dataset-fashion-mnist`';

export type Split = 'train' | 'test' | 'all';

export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Gunzip when the buffer starts with the gzip magic; otherwise return it unchanged. */
export function maybeGunzip(buf: Uint8Array, fileName: string): Uint8Array {
  if (!isGzip(buf)) return buf;
  try {
    return gunzipSync(buf);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'Z_BUF_ERROR' ? ' (the file looks cut short; re-download it)' : '';
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: corrupt gzip data: ${err.message}${hint}`, {
      file: fileName,
      zlibCode: err.code,
    });
  }
}

/** Parse an IDX buffer (gzipped or not). Only the unsigned-byte type (0x08) is supported. */
export function parseIdx(buf: Uint8Array, fileName: string): IdxArray {
  const raw = maybeGunzip(buf, fileName);
  if (raw.length < 4) {
    throw new TinyProtoError('E_DATA_TRUNCATED', `${fileName}: truncated: ${raw.length} bytes, too short for an IDX header (4 bytes)`, { file: fileName });
  }
  if (raw[0] !== 0 || raw[1] !== 0) {
    const got = Array.from(raw.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: bad magic: expected an IDX file starting with 00 00, found ${got}`, { file: fileName });
  }
  const type = raw[2]!;
  if (type !== 0x08) {
    const hex = `0x${type.toString(16).padStart(2, '0')}`;
    const known = IDX_TYPES[type];
    const what = known === undefined ? `unknown data type ${hex}` : `unsupported data type ${hex} (${known})`;
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: ${what}; only unsigned byte (0x08) IDX files are supported`, { file: fileName, type });
  }
  const ndims = raw[3]!;
  if (ndims < 1) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: IDX header declares 0 dimensions`, { file: fileName });
  }
  const headerLen = 4 + 4 * ndims;
  if (raw.length < headerLen) {
    throw new TinyProtoError('E_DATA_TRUNCATED', `${fileName}: truncated: IDX header needs ${headerLen} bytes for ${ndims} dimensions, found ${raw.length}`, { file: fileName });
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  if (!Number.isSafeInteger(size)) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: IDX dimensions [${dims.join(', ')}] are implausibly large`, { file: fileName, dims });
  }
  const found = raw.length - headerLen;
  if (found < size) {
    throw new TinyProtoError('E_DATA_TRUNCATED', `${fileName}: truncated: header declares ${size} bytes of data, found ${found}`, { file: fileName, dims, expected: size, found });
  }
  if (found > size) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${fileName}: ${found - size} unexpected trailing bytes after the ${size} bytes of data declared by the header [${dims.join(', ')}]`, { file: fileName, dims, expected: size, found });
  }
  return { dims, data: raw.subarray(headerLen, headerLen + size) };
}

/** Read and parse one IDX file (gzipped or not). */
export function readIdxFile(path: string): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new TinyProtoError('E_DATA_MISSING', `${path}: cannot read IDX file: ${(e as Error).message}`, { file: path });
  }
  return parseIdx(buf, path);
}

/** Error for a missing data directory, with the apt hint when it is the default one. */
export function missingDirError(dir: string, expected: string): TinyProtoError {
  const hint = resolve(dir) === DEFAULT_DATA_DIR ? `; ${DEFAULT_DATA_HINT}` : '';
  return new TinyProtoError('E_DATA_MISSING', `data directory ${dir} does not exist or is not a directory (expected ${expected})${hint}`, { dir });
}

export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Accepted file names for one IDX part, preferred first. */
export function idxCandidates(prefix: 'train' | 't10k', kind: 'images' | 'labels'): string[] {
  const rank = kind === 'images' ? 'idx3' : 'idx1';
  const names: string[] = [];
  for (const sep of ['-', '.']) {
    const base = `${prefix}-${kind}${sep}${rank}-ubyte`;
    names.push(base, `${base}.gz`);
  }
  return names;
}

function findIdxFile(dir: string, prefix: 'train' | 't10k', kind: 'images' | 'labels'): string {
  const names = idxCandidates(prefix, kind);
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  const hint = resolve(dir) === DEFAULT_DATA_DIR ? `; ${DEFAULT_DATA_HINT}` : '';
  throw new TinyProtoError(
    'E_DATA_MISSING',
    `${join(dir, names[1]!)}: missing: expected one of ${names.join(', ')} in ${dir}${hint}`,
    { dir, expected: names },
  );
}

interface IdxPart {
  count: number;
  height: number;
  width: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

function loadIdxPart(dir: string, prefix: 'train' | 't10k', numClasses: number): IdxPart {
  const imgPath = findIdxFile(dir, prefix, 'images');
  const lblPath = findIdxFile(dir, prefix, 'labels');
  const img = readIdxFile(imgPath);
  if (img.dims.length !== 3) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${imgPath}: expected 3 dimensions [count, height, width] for images, found [${img.dims.join(', ')}]`, { file: imgPath, dims: img.dims });
  }
  const lbl = readIdxFile(lblPath);
  if (lbl.dims.length !== 1) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${lblPath}: expected 1 dimension [count] for labels, found [${lbl.dims.join(', ')}]`, { file: lblPath, dims: lbl.dims });
  }
  const [count, height, width] = img.dims as [number, number, number];
  if (lbl.dims[0] !== count) {
    throw new TinyProtoError('E_DATA_CORRUPT', `${lblPath}: label count ${lbl.dims[0]} does not match image count ${count} in ${imgPath}`, { images: imgPath, labels: lblPath, imageCount: count, labelCount: lbl.dims[0] });
  }
  for (let i = 0; i < lbl.data.length; i++) {
    const y = lbl.data[i]!;
    if (y >= numClasses) {
      throw new TinyProtoError('E_DATA_CORRUPT', `${lblPath}: label ${y} at index ${i} is out of range [0, ${numClasses})`, { file: lblPath, index: i, label: y });
    }
  }
  return { count, height, width, pixels: img.data, labels: lbl.data };
}

export interface IdxLoadOptions {
  split: Split;
  /** Data set name; defaults to the directory's base name. `fashion-mnist` / `mnist` get class names. */
  name?: string;
}

/**
 * Load an MNIST-style data set from `dir` (train-/t10k- images+labels, plain or .gz).
 * `all` concatenates train then test.
 */
export function loadIdxDataset(dir: string, opts: IdxLoadOptions): ImageDataset {
  const numClasses = 10;
  if (!isDirectory(dir)) {
    throw missingDirError(dir, 'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz');
  }
  const prefixes: ('train' | 't10k')[] =
    opts.split === 'train' ? ['train'] : opts.split === 'test' ? ['t10k'] : opts.split === 'all' ? ['train', 't10k'] : [];
  if (prefixes.length === 0) {
    throw new TinyProtoError('E_CONFIG', `unknown split '${String(opts.split)}' (expected train, test or all)`);
  }
  const parts = prefixes.map((p) => loadIdxPart(dir, p, numClasses));
  const first = parts[0]!;
  for (const p of parts) {
    if (p.height !== first.height || p.width !== first.width) {
      throw new TinyProtoError('E_DATA_CORRUPT', `${dir}: train images are ${first.height}x${first.width} but test images are ${p.height}x${p.width}`, { dir });
    }
  }
  const count = parts.reduce((s, p) => s + p.count, 0);
  const { pixels, labels } = concatParts(parts);
  const { mean, std } = channelStats(pixels, 1);
  const name = opts.name ?? basename(resolve(dir));
  const lower = name.toLowerCase();
  const classNames =
    lower === 'fashion-mnist' || lower === 'fashion_mnist' || lower === 'fashionmnist'
      ? FASHION_MNIST_CLASSES
      : lower === 'mnist'
        ? MNIST_CLASSES
        : undefined;
  const base = { name, count, height: first.height, width: first.width, channels: 1, numClasses, pixels, labels, mean, std };
  return classNames === undefined ? base : { ...base, classNames };
}
