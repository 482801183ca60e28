/**
 * The image-folder data source: a board's own labelled images, `root/<class>/<image>.png`. The
 * classes are the folder names, sorted (or a given list, whose order fixes the labels, so that
 * boards with different folders agree); every image is decoded (data/png.ts), converted to the
 * experiment's channels (greyscale = ITU-R BT.601 luma; alpha composited over black) and resized
 * to its height and width (area average when shrinking, bilinear when enlarging; the aspect ratio
 * is not kept) into the same in-memory ImageDataset the IDX and CIFAR-10 loaders return.
 * Wrong layouts and empty classes fail with E_DATA_LAYOUT, other image formats with
 * E_DATA_UNSUPPORTED, damaged files with E_DATA_CORRUPT / E_DATA_TRUNCATED.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { isDirectory, missingDirError } from './idx.ts';
import { decodePng, type DecodedImage } from './png.ts';
import { channelStats } from './stats.ts';
import type { ImageDataset } from './types.ts';

export interface ImageShape {
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
}

/** Fashion-MNIST's shape, the experiments' default. */
export const DEFAULT_IMAGE_SHAPE: ImageShape = Object.freeze({ height: 28, width: 28, channels: 1 });

export interface ImageFolderOptions {
  /** Shape every image is converted to (default 28x28x1). */
  readonly shape?: ImageShape;
  /** Class names in label order; null/absent = the folder names, sorted. */
  readonly classes?: readonly string[] | null;
  readonly name?: string;
}

const LAYOUT = 'expected ROOT/<class>/<image>.png';
const OTHER_IMAGE_RE = /\.(jpe?g|gif|bmp|webp|tiff?|ppm|pgm)$/i;
const isPng = (name: string): boolean => name.toLowerCase().endsWith('.png');
const hidden = (name: string): boolean => name.startsWith('.');

/** "28x28x1" (height x width x channels; channels 1 or 3). */
export function parseImageShape(text: string): ImageShape {
  const m = /^(\d{1,4})x(\d{1,4})x([13])$/.exec(text.trim());
  const h = m === null ? 0 : Number(m[1]);
  const w = m === null ? 0 : Number(m[2]);
  if (m === null || h < 8 || w < 8) {
    throw new TinyProtoError('E_CONFIG', `invalid image shape "${text}": expected HEIGHTxWIDTHxCHANNELS, sides 8-9999, channels 1 or 3 (e.g. 28x28x1 or 32x32x3)`, { value: text });
  }
  return Object.freeze({ height: h, width: w, channels: Number(m[3]) as 1 | 3 });
}

export const formatImageShape = (s: ImageShape): string => `${s.height}x${s.width}x${s.channels}`;

/** True when `dir` looks like an image folder: a subfolder holding a .png file. */
export function isImageFolder(dir: string): boolean {
  if (!isDirectory(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some(
    (e) => e.isDirectory() && !hidden(e.name) && readdirSync(join(dir, e.name)).some((n) => isPng(n) && !hidden(n)),
  );
}

export interface ImageFolderListing {
  readonly classes: readonly string[];
  /** Image files (full paths) with their labels, by class then file name. */
  readonly files: readonly { readonly path: string; readonly label: number }[];
}

/** Lists the images and classes of `dir`, checking the layout (no image is read). */
export function listImageFolder(dir: string, classes: readonly string[] | null = null): ImageFolderListing {
  if (!isDirectory(dir)) throw missingDirError(dir, `an image folder (${LAYOUT})`);
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !hidden(e.name));
  const loose = entries.find((e) => e.isFile() && (isPng(e.name) || OTHER_IMAGE_RE.test(e.name)));
  if (loose !== undefined) {
    throw new TinyProtoError('E_DATA_LAYOUT', `${dir}: image ${loose.name} is not in a class folder (${LAYOUT})`, { dir, file: loose.name });
  }
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (folders.length === 0) throw new TinyProtoError('E_DATA_LAYOUT', `${dir}: no class folders (${LAYOUT})`, { dir });
  let names: readonly string[] = folders;
  if (classes !== null) {
    const dup = classes.find((c, i) => classes.indexOf(c) !== i);
    if (dup !== undefined || classes.length < 2) {
      throw new TinyProtoError('E_CONFIG', `image classes must be 2 or more distinct names${dup === undefined ? '' : ` ("${dup}" is repeated)`}`, { classes: [...classes] });
    }
    const unknown = folders.filter((f) => !classes.includes(f));
    if (unknown.length > 0) {
      throw new TinyProtoError('E_DATA_LAYOUT', `${dir}: class folder(s) ${unknown.join(', ')} not among the classes ${classes.join(', ')}`, { dir, unknown });
    }
    names = classes;
  } else if (folders.length < 2) {
    throw new TinyProtoError('E_DATA_LAYOUT', `${dir}: only one class folder (${folders[0]}); a classifier needs 2 or more (${LAYOUT})`, { dir });
  }
  const files: { path: string; label: number }[] = [];
  for (const folder of folders) {
    const sub = join(dir, folder);
    const inside = readdirSync(sub, { withFileTypes: true }).filter((e) => !hidden(e.name));
    const nested = inside.find((e) => e.isDirectory());
    if (nested !== undefined) {
      throw new TinyProtoError('E_DATA_LAYOUT', `${sub}: folder ${nested.name} inside a class folder (${LAYOUT})`, { dir: sub });
    }
    const other = inside.find((e) => !isPng(e.name));
    if (other !== undefined) {
      throw new TinyProtoError('E_DATA_UNSUPPORTED', `${join(sub, other.name)}: not a .png file; an image folder holds PNG images only (convert others, e.g. \`mogrify -format png *.jpg\`)`, { file: join(sub, other.name) });
    }
    const images = inside.map((e) => e.name).sort();
    if (images.length === 0) throw new TinyProtoError('E_DATA_LAYOUT', `${sub}: class "${folder}" has no images`, { dir: sub, class: folder });
    const label = names.indexOf(folder);
    for (const name of images) files.push({ path: join(sub, name), label });
  }
  return { classes: names, files };
}

/** Per output index: the source indices and weights along one axis. */
function axisWeights(src: number, dst: number): { idx: Int32Array; w: Float32Array; per: number } {
  const scale = src / dst;
  const per = dst <= src ? Math.ceil(scale) + 1 : 2;
  const idx = new Int32Array(dst * per);
  const w = new Float32Array(dst * per);
  for (let i = 0; i < dst; i++) {
    if (dst <= src) {
      // area: the source interval [i*scale, (i+1)*scale), each pixel by its overlap
      const a = i * scale;
      const b = a + scale;
      let k = 0;
      for (let j = Math.floor(a); j < b && j < src && k < per; j++, k++) {
        idx[i * per + k] = j;
        w[i * per + k] = (Math.min(b, j + 1) - Math.max(a, j)) / scale;
      }
    } else {
      const c = Math.min(src - 1, Math.max(0, (i + 0.5) * scale - 0.5));
      const j = Math.floor(c);
      idx[i * per] = j;
      idx[i * per + 1] = Math.min(src - 1, j + 1);
      w[i * per] = 1 - (c - j);
      w[i * per + 1] = c - j;
    }
  }
  return { idx, w, per };
}

/** Converts `img` to `shape` (channels, then size), writing shape.height*width*channels bytes at `out[at]`. */
export function convertImage(img: DecodedImage, shape: ImageShape, out: Uint8Array, at = 0): void {
  const { width: sw, height: sh } = img;
  const C = shape.channels;
  const hasAlpha = img.channels === 2 || img.channels === 4;
  const colour = img.channels >= 3;
  // 1. channels, at the source size
  const px = new Float32Array(sw * sh * C);
  for (let p = 0, s = 0; p < sw * sh; p++, s += img.channels) {
    const d = img.data;
    const a = hasAlpha ? d[s + img.channels - 1]! / 255 : 1;
    const r = d[s]!;
    const g = colour ? d[s + 1]! : r;
    const b = colour ? d[s + 2]! : r;
    if (C === 1) px[p] = (colour ? 0.299 * r + 0.587 * g + 0.114 * b : r) * a;
    else {
      px[3 * p] = r * a;
      px[3 * p + 1] = g * a;
      px[3 * p + 2] = b * a;
    }
  }
  // 2. width, then height
  const H = shape.height;
  const W = shape.width;
  const xw = axisWeights(sw, W);
  const rows = new Float32Array(sh * W * C);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let k = 0; k < xw.per; k++) v += xw.w[x * xw.per + k]! * px[(y * sw + xw.idx[x * xw.per + k]!) * C + c]!;
        rows[(y * W + x) * C + c] = v;
      }
    }
  }
  const yw = axisWeights(sh, H);
  for (let y = 0; y < H; y++) {
    for (let i = 0; i < W * C; i++) {
      let v = 0;
      for (let k = 0; k < yw.per; k++) v += yw.w[y * yw.per + k]! * rows[yw.idx[y * yw.per + k]! * W * C + i]!;
      out[at + y * W * C + i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
}

/** Reads the image folder `dir` into an ImageDataset of `opts.shape` (one image decoded at a time). */
export function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): ImageDataset {
  const shape = opts.shape ?? DEFAULT_IMAGE_SHAPE;
  const { classes, files } = listImageFolder(dir, opts.classes ?? null);
  const size = shape.height * shape.width * shape.channels;
  const pixels = new Uint8Array(files.length * size);
  const labels = new Int32Array(files.length);
  files.forEach((f, n) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(f.path);
    } catch (e) {
      throw new TinyProtoError('E_DATA_MISSING', `${f.path}: cannot read (${(e as Error).message})`, { file: f.path });
    }
    convertImage(decodePng(bytes, f.path), shape, pixels, n * size);
    labels[n] = f.label;
  });
  const { mean, std } = channelStats(pixels, shape.channels);
  return {
    name: opts.name ?? `image-folder:${basename(dir)}`,
    count: files.length,
    height: shape.height,
    width: shape.width,
    channels: shape.channels,
    numClasses: classes.length,
    pixels,
    labels,
    mean,
    std,
    classNames: classes,
  };
}
