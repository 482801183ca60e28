/**
 * A small PNG encoder for tests of data/png.ts and data/image-folder.ts: any colour type and bit
 * depth the decoder meets, a chosen filter per scanline, optional palette and tRNS, and raw chunk
 * control to build damaged files. Independent of the decoder (its own filters and chunk writer).
 */
import { crc32, deflateSync } from 'node:zlib';

export interface PngSpec {
  width: number;
  height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  bitDepth?: number;
  /** Samples (or palette indices), row-major, unpacked: one value per sample. */
  samples: ArrayLike<number>;
  palette?: number[];
  transparency?: number[];
  /** Filter type per scanline (0-4), cycling; default 0. */
  filters?: number[];
  interlace?: number;
  /** Extra chunks before IEND. */
  extra?: { type: string; data: Uint8Array }[];
}

const SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PER_PIXEL: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Packs and filters the rows (the raw zlib stream content). */
export function scanlines(s: PngSpec): Buffer {
  const depth = s.bitDepth ?? 8;
  const spp = PER_PIXEL[s.colorType]!;
  const stride = Math.ceil((s.width * spp * depth) / 8);
  const bpp = Math.max(1, (spp * depth) >> 3);
  const rows: Buffer[] = [];
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < s.height; y++) {
    const row = Buffer.alloc(stride);
    for (let i = 0; i < s.width * spp; i++) {
      const v = s.samples[y * s.width * spp + i]!;
      if (depth === 8) row[i] = v;
      else {
        const bit = i * depth;
        row[bit >> 3]! |= v << (8 - depth - (bit & 7));
      }
    }
    const f = s.filters === undefined ? 0 : s.filters[y % s.filters.length]!;
    const out = Buffer.alloc(stride + 1);
    out[0] = f;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? row[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, c);
      out[x + 1] = (row[x]! - pred) & 0xff;
    }
    rows.push(out);
    prev = row;
  }
  return Buffer.concat(rows);
}

export function encodePng(s: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.bitDepth ?? 8;
  ihdr[9] = s.colorType;
  ihdr[12] = s.interlace ?? 0;
  const parts = [SIG, chunk('IHDR', ihdr)];
  if (s.palette) parts.push(chunk('PLTE', Buffer.from(s.palette)));
  if (s.transparency) parts.push(chunk('tRNS', Buffer.from(s.transparency)));
  const z = deflateSync(scanlines(s));
  // two IDAT chunks: the decoder must join them
  const half = z.length >> 1;
  parts.push(chunk('IDAT', z.subarray(0, half)), chunk('IDAT', z.subarray(half)));
  for (const e of s.extra ?? []) parts.push(chunk(e.type, e.data));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** A w x h greyscale PNG whose every pixel is `value`. */
export function solidGray(w: number, h: number, value: number): Buffer {
  return encodePng({ width: w, height: h, colorType: 0, samples: new Array<number>(w * h).fill(value) });
}
