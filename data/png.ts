/**
 * A PNG decoder for the image-folder data source: 8-bit greyscale, greyscale+alpha, RGB, RGBA and
 * palette images (bit depth 8, palette also 1/2/4), not interlaced, inflated with node:zlib and
 * every chunk's CRC checked. Anything else fails with E_DATA_UNSUPPORTED, a damaged file with
 * E_DATA_CORRUPT or E_DATA_TRUNCATED; every error names the file.
 */
import { crc32, inflateSync } from 'node:zlib';
import { TinyProtoError } from '../common/errors.ts';

export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** PNG colour types (IHDR). */
export const PNG_COLOR = Object.freeze({ gray: 0, rgb: 2, palette: 3, grayAlpha: 4, rgba: 6 });

/** A decoded image: interleaved 8-bit samples, `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
export interface DecodedImage {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  readonly data: Uint8Array;
}

/** Largest image accepted (pixels): a guard against a header that asks for gigabytes. */
export const PNG_MAX_PIXELS = 64 * 1024 * 1024;

const CHANNELS: Record<number, 1 | 2 | 3 | 4> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const COLOR_NAMES: Record<number, string> = { 0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'greyscale+alpha', 6: 'RGBA' };

function corrupt(file: string, what: string): TinyProtoError {
  return new TinyProtoError('E_DATA_CORRUPT', `${file}: corrupt PNG: ${what}`, { file });
}

function truncated(file: string, what: string): TinyProtoError {
  return new TinyProtoError('E_DATA_TRUNCATED', `${file}: truncated PNG: ${what}`, { file });
}

function unsupported(file: string, what: string): TinyProtoError {
  return new TinyProtoError(
    'E_DATA_UNSUPPORTED',
    `${file}: unsupported PNG: ${what} (supported: 8-bit greyscale, greyscale+alpha, RGB, RGBA and palette images, not interlaced; convert it, e.g. \`convert in.png -depth 8 -interlace none out.png\`)`,
    { file },
  );
}

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
}

function readHeader(d: Uint8Array, file: string): Header {
  if (d.length !== 13) throw corrupt(file, `IHDR is ${d.length} bytes, not 13`);
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const h = { width: v.getUint32(0), height: v.getUint32(4), bitDepth: d[8]!, colorType: d[9]! };
  if (h.width === 0 || h.height === 0) throw corrupt(file, `image size ${h.width}x${h.height}`);
  if (CHANNELS[h.colorType] === undefined) throw corrupt(file, `colour type ${h.colorType} does not exist`);
  if (d[10] !== 0 || d[11] !== 0) throw corrupt(file, `compression method ${d[10]} / filter method ${d[11]} (only 0 exists)`);
  if (d[12] === 1) throw unsupported(file, 'Adam7 interlacing');
  if (d[12] !== 0) throw corrupt(file, `interlace method ${d[12]}`);
  const paletteDepth = h.colorType === PNG_COLOR.palette && [1, 2, 4, 8].includes(h.bitDepth);
  if (h.bitDepth !== 8 && !paletteDepth) throw unsupported(file, `${COLOR_NAMES[h.colorType]} at bit depth ${h.bitDepth}`);
  if (h.width * h.height > PNG_MAX_PIXELS) throw unsupported(file, `${h.width}x${h.height} is over ${PNG_MAX_PIXELS} pixels`);
  return h;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Reverses the per-scanline filters in place; returns the rows without their filter bytes. */
function unfilter(raw: Uint8Array, h: Header, file: string): Uint8Array {
  const bpp = Math.max(1, (CHANNELS[h.colorType]! * h.bitDepth) >> 3);
  const stride = Math.ceil((h.width * CHANNELS[h.colorType]! * h.bitDepth) / 8);
  const need = (stride + 1) * h.height;
  if (raw.length < need) throw truncated(file, `image data inflates to ${raw.length} bytes, ${need} needed for ${h.width}x${h.height}`);
  const out = new Uint8Array(stride * h.height);
  for (let y = 0; y < h.height; y++) {
    const type = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x]!;
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
      let r: number;
      if (type === 0) r = v;
      else if (type === 1) r = v + a;
      else if (type === 2) r = v + b;
      else if (type === 3) r = v + ((a + b) >> 1);
      else if (type === 4) r = v + paeth(a, b, c);
      else throw corrupt(file, `scanline ${y} has filter type ${type} (0-4 exist)`);
      out[row + x] = r & 0xff;
    }
  }
  return out;
}

/** Palette indices (any bit depth) to RGB or RGBA (RGBA when a tRNS chunk gives alpha). */
function expandPalette(rows: Uint8Array, h: Header, palette: Uint8Array, alpha: Uint8Array | null, file: string): DecodedImage {
  const entries = palette.length / 3;
  const ch = alpha === null ? 3 : 4;
  const data = new Uint8Array(h.width * h.height * ch);
  const stride = Math.ceil((h.width * h.bitDepth) / 8);
  const perByte = 8 / h.bitDepth;
  const mask = (1 << h.bitDepth) - 1;
  let o = 0;
  for (let y = 0; y < h.height; y++) {
    for (let x = 0; x < h.width; x++) {
      const byte = rows[y * stride + Math.floor(x / perByte)]!;
      const i = h.bitDepth === 8 ? byte : (byte >> ((perByte - 1 - (x % perByte)) * h.bitDepth)) & mask;
      if (i >= entries) throw corrupt(file, `pixel (${x}, ${y}) uses palette entry ${i} of ${entries}`);
      data[o++] = palette[3 * i]!;
      data[o++] = palette[3 * i + 1]!;
      data[o++] = palette[3 * i + 2]!;
      if (alpha !== null) data[o++] = i < alpha.length ? alpha[i]! : 255;
    }
  }
  return { width: h.width, height: h.height, channels: ch, data };
}

/** Decodes a PNG file's bytes; `file` names it in errors. */
export function decodePng(buf: Uint8Array, file: string): DecodedImage {
  if (buf.length < PNG_SIGNATURE.length || PNG_SIGNATURE.some((b, i) => buf[i] !== b)) {
    throw corrupt(file, 'no PNG signature (not a PNG file)');
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let header: Header | null = null;
  let palette: Uint8Array | null = null;
  let alpha: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  for (let at = PNG_SIGNATURE.length; !ended; ) {
    if (at + 8 > buf.length) throw truncated(file, `the file ends at byte ${buf.length} before its IEND chunk`);
    const len = view.getUint32(at);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw corrupt(file, `bad chunk type at byte ${at}`);
    if (at + 12 + len > buf.length) throw truncated(file, `chunk ${type} at byte ${at} needs ${len} bytes, the file ends first`);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (crc32(buf.subarray(at + 4, at + 8 + len)) !== view.getUint32(at + 8 + len)) throw corrupt(file, `CRC mismatch in chunk ${type} at byte ${at}`);
    if (header === null && type !== 'IHDR') throw corrupt(file, `first chunk is ${type}, not IHDR`);
    if (type === 'IHDR') {
      if (header !== null) throw corrupt(file, 'a second IHDR chunk');
      header = readHeader(data, file);
    } else if (type === 'PLTE') {
      if (len === 0 || len % 3 !== 0 || len > 768) throw corrupt(file, `PLTE of ${len} bytes`);
      palette = data;
    } else if (type === 'tRNS' && header?.colorType === PNG_COLOR.palette) {
      alpha = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      ended = true;
    } else if ((buf[at + 4]! & 0x20) === 0) {
      // an unknown critical chunk (upper-case first letter) cannot be skipped safely
      throw unsupported(file, `critical chunk ${type}`);
    }
    at += 12 + len;
  }
  if (header === null) throw corrupt(file, 'no IHDR chunk');
  if (idat.length === 0) throw corrupt(file, 'no IDAT chunk (no image data)');
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_BUF_ERROR') throw truncated(file, 'the compressed image data is cut short');
    throw corrupt(file, `image data does not inflate (${err.message})`);
  }
  const rows = unfilter(raw, header, file);
  if (header.colorType === PNG_COLOR.palette) {
    if (palette === null) throw corrupt(file, 'a palette image without a PLTE chunk');
    return expandPalette(rows, header, palette, alpha, file);
  }
  return { width: header.width, height: header.height, channels: CHANNELS[header.colorType]!, data: rows };
}
