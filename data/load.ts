/** Format auto-detection: IDX (MNIST / Fashion-MNIST) or CIFAR-10 binary batches. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { CIFAR_SUBDIR, loadCifar10 } from './cifar.ts';
import { DEFAULT_DATA_DIR, isDirectory, loadIdxDataset, missingDirError, type Split } from './idx.ts';
import type { ImageDataset } from './types.ts';

export { DEFAULT_DATA_DIR } from './idx.ts';

export type DataFormat = 'idx' | 'cifar10';

const IDX_RE = /^(train|t10k)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$/;
const CIFAR_RE = /^(data_batch_[1-5]|test_batch)\.bin$/;
const EXPECTED =
  'IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) ' +
  `or CIFAR-10 binary batches (data_batch_1.bin..data_batch_5.bin, test_batch.bin, optionally under ${CIFAR_SUBDIR}/)`;

/** Which loader fits the files in `dir`. */
export function detectFormat(dir: string): DataFormat {
  if (!isDirectory(dir)) throw missingDirError(dir, EXPECTED);
  const names = readdirSync(dir);
  if (names.some((n) => IDX_RE.test(n))) return 'idx';
  if (names.some((n) => CIFAR_RE.test(n))) return 'cifar10';
  const sub = join(dir, CIFAR_SUBDIR);
  if (isDirectory(sub) && readdirSync(sub).some((n) => CIFAR_RE.test(n))) return 'cifar10';
  const hint = dir === DEFAULT_DATA_DIR ? '; install it with `apt-get install dataset-fashion-mnist`' : '';
  throw new TinyProtoError('E_DATA_MISSING', `${dir}: no recognised data set (expected ${EXPECTED})${hint}`, { dir });
}

/** Load the data set in `dir` (default: Fashion-MNIST from the apt package), detecting its format. */
export function loadDataset(dir: string = DEFAULT_DATA_DIR, split: Split = 'all', opts: { name?: string } = {}): ImageDataset {
  const format = detectFormat(dir);
  const o = opts.name === undefined ? { split } : { split, name: opts.name };
  return format === 'idx' ? loadIdxDataset(dir, o) : loadCifar10(dir, o);
}
