/**
 * CRC-32 (IEEE 802.3 / zlib / PNG): reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF,
 * final XOR 0xFFFFFFFF. crc32("123456789") = 0xCBF43926.
 *
 * Uses Node's native `zlib.crc32` where present (Node >= 20.15 / 22.2), otherwise a JS
 * slicing-by-8 table (eight bytes per step). Both are exported for tests and benchmarks.
 */
import zlib from 'node:zlib';

const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** The JS fallback: slicing-by-8 over bytes[start, end), continuing `previous`. */
export function crc32UpdateSliced(previous: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  const T = TABLES;
  let c = (previous ^ 0xffffffff) >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + bytes[i + 4]!]! ^
      T[512 + bytes[i + 5]!]! ^
      T[256 + bytes[i + 6]!]! ^
      T[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type NativeCrc = (data: Uint8Array, value?: number) => number;
const native: NativeCrc | null = typeof (zlib as unknown as { crc32?: unknown }).crc32 === 'function' ? (zlib as unknown as { crc32: NativeCrc }).crc32 : null;

/** Whether the native zlib.crc32 is in use. */
export const CRC32_NATIVE = native !== null;

/**
 * Continue a CRC-32 over bytes[start, end). `previous` is the CRC of the bytes before (0 to
 * start a fresh CRC), so crc32(b) === crc32Update(crc32(b.subarray(0, i)), b.subarray(i)).
 */
export function crc32Update(previous: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  // below ~32 bytes the native call's overhead is larger than the table loop
  if (native === null || end - start < 32) return crc32UpdateSliced(previous, bytes, start, end);
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  return native(view, previous >>> 0) >>> 0;
}

/** CRC-32 of bytes[start, end) as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32Update(0, bytes, start, end);
}
