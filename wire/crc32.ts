/**
 * CRC-32 (IEEE 802.3 / zlib / PNG): reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF,
 * final XOR 0xFFFFFFFF. Table-driven, one byte per step. crc32("123456789") = 0xCBF43926.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC-32 over bytes[start, end). `previous` is the CRC of the bytes before (0 to
 * start a fresh CRC), so crc32(b) === crc32Update(crc32(b.subarray(0, i)), b.subarray(i)).
 */
export function crc32Update(previous: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of bytes[start, end) as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32Update(0, bytes, start, end);
}
