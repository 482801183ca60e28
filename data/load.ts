/**
 * Data source selection: IDX (MNIST / Fashion-MNIST), CIFAR-10 binary batches or an image folder
 * (`root/<class>/<image>.png`, data/image-folder.ts), detected from the files or named.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { CIFAR_SUBDIR, loadCifar10 } from './cifar.ts';
import { DEFAULT_DATA_DIR, isDirectory, loadIdxDataset, missingDirError, type Split } from './idx.ts';
import { isImageFolder, loadImageFolder, type ImageShape } from './image-folder.ts';
import type { ImageDataset } from './types.ts';

export { DEFAULT_DATA_DIR } from './idx.ts';

export type DataFormat = 'idx' | 'cifar10' | 'image-folder';
/** What a config names: a format, or 'auto' (detected from the files). */
export type DataSource = 'auto' | DataFormat;
export const DATA_SOURCES: readonly DataSource[] = Object.freeze(['auto', 'idx', 'cifar10', 'image-folder']);

const IDX_RE = /^(train|t10k)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$/;
const CIFAR_RE = /^(data_batch_[1-5]|test_batch)\.bin$/;
const EXPECTED =
  'IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) ' +
  `or CIFAR-10 binary batches (data_batch_1.bin..data_batch_5.bin, test_batch.bin, optionally under ${CIFAR_SUBDIR}/) ` +
  'or an image folder (DIR/<class>/<image>.png)';

/** Which loader fits the files in `dir`. */
export function detectFormat(dir: string): DataFormat {
  if (!isDirectory(dir)) throw missingDirError(dir, EXPECTED);
  const names = readdirSync(dir);
  if (names.some((n) => IDX_RE.test(n))) return 'idx';
  if (names.some((n) => CIFAR_RE.test(n))) return 'cifar10';
  const sub = join(dir, CIFAR_SUBDIR);
  if (isDirectory(sub) && readdirSync(sub).some((n) => CIFAR_RE.test(n))) return 'cifar10';
  if (isImageFolder(dir)) return 'image-folder';
  const hint = dir === DEFAULT_DATA_DIR ? '; install it with `apt-get install dataset-fashion-mnist`' : '';
  throw new TinyProtoError('E_DATA_MISSING', `${dir}: no recognised data set (expected ${EXPECTED})${hint}`, { dir });
}

export interface LoadOptions {
  readonly name?: string;
  /** The format, or 'auto' (default): detected. */
  readonly source?: DataSource;
  /** image-folder only: the shape images are converted to (default 28x28x1) and the classes in label order (default: the folder names, sorted). */
  readonly imageShape?: ImageShape;
  readonly imageClasses?: readonly string[] | null;
}

/** The format of `dir`: `source` when it names one, else detected. */
export function resolveFormat(dir: string, source: DataSource = 'auto'): DataFormat {
  return source === 'auto' ? detectFormat(dir) : source;
}

/**
 * Load the data set in `dir` (default: Fashion-MNIST from the apt package), detecting its format
 * unless `opts.source` names it. An image folder has no train/test split: only 'all' reads one.
 */
export function loadDataset(dir: string = DEFAULT_DATA_DIR, split: Split = 'all', opts: LoadOptions = {}): ImageDataset {
  const format = resolveFormat(dir, opts.source);
  const o = opts.name === undefined ? { split } : { split, name: opts.name };
  if (format === 'image-folder') {
    if (split !== 'all') throw new TinyProtoError('E_CONFIG', `${dir}: an image folder has no ${split} split; read it whole ('all')`, { dir, split });
    return loadImageFolder(dir, {
      ...(opts.name === undefined ? {} : { name: opts.name }),
      ...(opts.imageShape === undefined ? {} : { shape: opts.imageShape }),
      classes: opts.imageClasses ?? null,
    });
  }
  return format === 'idx' ? loadIdxDataset(dir, o) : loadCifar10(dir, o);
}
