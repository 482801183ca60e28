/**
 * The common frame: header, payload, CRC-32 (PROTOCOL.md "Frame").
 *
 *   0  2  magic "TP" (0x54 0x50)
 *   2  1  version (1)
 *   3  1  message type
 *   4  1  flags (bit 0 = signed; other bits 0)
 *   5  1  experiment id length E, then E ASCII bytes
 *   .  1  sender id length S, then S ASCII bytes
 *   .  4  round (u32 LE)
 *   .  4  payload length P (u32 LE), then P payload bytes
 *   . 32  the signer's Ed25519 public key (flag bit 1 only)
 *   . 64  Ed25519 signature of every byte before it (signed frames only)
 *   .  4  CRC-32 of every byte before it (u32 LE)
 */
import { crc32 } from './crc32.ts';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MESSAGE_TYPE_NAMES,
  MessageType,
  PROTOCOL_VERSION,
  type DecodeExpect,
  type HeaderFields,
  type MessageHeader,
} from './codec-types.ts';
import { checkIdString, checkUint, fail, hex2, hex8, idFromBytes, Writer } from './codec-io.ts';
import { FLAG_KEY, FLAG_SIGNED, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type FrameSigner, type FrameVerifier } from './signature.ts';

/** Frame bytes that are not payload: 19 + experiment length + sender length. */
export function frameOverhead(experiment: string, sender: string): number {
  return 19 + experiment.length + sender.length;
}

function typeLabel(t: number): string {
  const name = MESSAGE_TYPE_NAMES[t];
  return name === undefined ? String(t) : `${t} (${name})`;
}

function checkMaxBytes(ctx: string, maxBytes: unknown): number {
  if (typeof maxBytes !== 'number' || !(maxBytes >= 0) || !Number.isFinite(maxBytes)) {
    fail('E_CODEC_FIELD', `${ctx}: maxBytes must be a finite number >= 0, got ${String(maxBytes)}`, { got: maxBytes });
  }
  return maxBytes;
}

/** Encoder side: validate header fields (E_CODEC_FIELD). */
export function checkHeaderFields(ctx: string, h: HeaderFields): void {
  checkIdString(ctx, 'experiment id', h.experiment);
  checkIdString(ctx, 'sender id', h.sender);
  checkUint(ctx, 'round', h.round, 0, 0xffffffff);
}

/** Refuse a message that would exceed maxBytes (before building it). */
export function checkEncodedSize(ctx: string, size: number, maxBytes: number | undefined): void {
  const limit = checkMaxBytes(ctx, maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  if (size > limit) {
    fail('E_CODEC_OVERSIZE', `${ctx}: encoded message would be ${size} bytes, limit ${limit}`, {
      size,
      limit,
    });
  }
}

/** Wrap an encoded payload in header + CRC. */
export function encodeFrame(
  ctx: string,
  h: HeaderFields,
  type: MessageType,
  payload: Uint8Array,
  maxBytes: number | undefined,
  signer?: FrameSigner,
  embedKey = false,
): Uint8Array {
  checkHeaderFields(ctx, h);
  const withKey = signer !== undefined && embedKey;
  const sigBytes = signer === undefined ? 0 : SIGNATURE_BYTES + (withKey ? PUBLIC_KEY_BYTES : 0);
  const total = frameOverhead(h.experiment, h.sender) + payload.length + sigBytes;
  checkEncodedSize(ctx, total, maxBytes);
  const w = new Writer(total);
  w.u8(0x54); // 'T'
  w.u8(0x50); // 'P'
  w.u8(PROTOCOL_VERSION);
  w.u8(type);
  w.u8(0); // flags (set by sealFrame when signed)
  w.shortAscii(h.experiment);
  w.shortAscii(h.sender);
  w.u32(h.round);
  w.u32(payload.length);
  w.bytes(payload);
  return sealFrame(ctx, w.finish(), signer, withKey);
}

/**
 * Completes a frame from its header and payload (`body`, flags 0): unsigned, it appends the CRC;
 * with a signer it sets flag bit 0 (and bit 1 with `withKey`), appends the key when embedded
 * and the Ed25519 signature of every byte before it, then the CRC. The one place frames are
 * signed (encodeX with a signer, and wire/sign-frame.ts).
 */
export function sealFrame(ctx: string, body: Uint8Array, signer: FrameSigner | undefined, withKey: boolean): Uint8Array {
  const keyBytes = signer !== undefined && withKey ? PUBLIC_KEY_BYTES : 0;
  const sigBytes = signer === undefined ? 0 : SIGNATURE_BYTES;
  const total = body.length + keyBytes + sigBytes + 4;
  const out = new Uint8Array(total);
  out.set(body);
  if (signer !== undefined) {
    out[4] = keyBytes > 0 ? FLAG_SIGNED | FLAG_KEY : FLAG_SIGNED;
    if (keyBytes > 0) {
      if (signer.publicKey.length !== PUBLIC_KEY_BYTES) fail('E_CODEC_SIGNATURE', `${ctx}: signer's public key is ${signer.publicKey.length} bytes, expected ${PUBLIC_KEY_BYTES}`);
      out.set(signer.publicKey, body.length);
    }
    const sig = signer.sign(out.subarray(0, body.length + keyBytes));
    if (sig.length !== SIGNATURE_BYTES) fail('E_CODEC_SIGNATURE', `${ctx}: signer returned ${sig.length} bytes, expected ${SIGNATURE_BYTES}`);
    out.set(sig, body.length + keyBytes);
  }
  new DataView(out.buffer).setUint32(total - 4, crc32(out, 0, total - 4), true);
  return out;
}

/** The bytes a frame's signature covers: header, payload and the embedded key if any. */
export function signedPart(frame: Uint8Array, h: MessageHeader): Uint8Array {
  return frame.subarray(0, h.headerLength + h.payloadLength + (h.signerKey === null ? 0 : PUBLIC_KEY_BYTES));
}

function u32le(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/**
 * Parse and verify the frame: size limit, magic, version, lengths, CRC, trailing bytes, known
 * type, flags, identifiers. Does not apply `expect` beyond maxBytes.
 */
export function parseFrame(ctx: string, buf: Uint8Array, maxBytes: number | undefined): MessageHeader {
  if (!(buf instanceof Uint8Array)) {
    fail('E_CODEC_FIELD', `${ctx}: input must be a Uint8Array`, { got: typeof buf });
  }
  const limit = checkMaxBytes(ctx, maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const len = buf.length;
  if (len > limit) fail('E_CODEC_OVERSIZE', `${ctx}: message is ${len} bytes, limit ${limit}`, { size: len, limit });
  const needHeader = (n: number): void => {
    if (len < n) {
      fail('E_CODEC_TRUNCATED', `${ctx}: truncated: header needs at least ${n} bytes, ${len} available`, {
        needed: n,
        available: len,
      });
    }
  };
  needHeader(2);
  if (buf[0] !== 0x54 || buf[1] !== 0x50) {
    fail('E_CODEC_MAGIC', `${ctx}: bad magic ${hex2(buf[0]!)} ${hex2(buf[1]!)}, expected 0x54 0x50 ("TP")`, {
      expected: [0x54, 0x50],
      got: [buf[0], buf[1]],
    });
  }
  needHeader(3);
  const version = buf[2]!;
  if (version !== PROTOCOL_VERSION) {
    fail('E_CODEC_VERSION', `${ctx}: unsupported protocol version ${version} (this decoder speaks ${PROTOCOL_VERSION})`, {
      expected: PROTOCOL_VERSION,
      got: version,
    });
  }
  needHeader(6);
  const type = buf[3]!;
  const flags = buf[4]!;
  const expLen = buf[5]!;
  const senderAt = 6 + expLen;
  needHeader(senderAt + 1);
  const senderLen = buf[senderAt]!;
  const roundAt = senderAt + 1 + senderLen;
  const headerLength = roundAt + 8;
  needHeader(headerLength);
  const round = u32le(buf, roundAt);
  const payloadLength = u32le(buf, roundAt + 4);
  const available = len - headerLength;
  if (available < payloadLength) {
    fail('E_CODEC_TRUNCATED', `${ctx}: truncated: payload declares ${payloadLength} bytes, ${available} available`, {
      declared: payloadLength,
      available,
    });
  }
  const keyBytes = flags & FLAG_SIGNED && flags & FLAG_KEY ? PUBLIC_KEY_BYTES : 0;
  const sigBytes = flags & FLAG_SIGNED ? SIGNATURE_BYTES + keyBytes : 0;
  const crcAt = headerLength + payloadLength + sigBytes;
  if (sigBytes > 0 && len - headerLength - payloadLength < sigBytes) {
    fail('E_CODEC_TRUNCATED', `${ctx}: truncated: signature needs ${sigBytes} bytes, ${len - headerLength - payloadLength} available`, {
      needed: sigBytes,
      available: len - headerLength - payloadLength,
    });
  }
  if (len - crcAt < 4) {
    fail('E_CODEC_TRUNCATED', `${ctx}: truncated: CRC needs 4 bytes, ${len - crcAt} available`, {
      needed: 4,
      available: len - crcAt,
    });
  }
  const stored = u32le(buf, crcAt);
  const computed = crc32(buf, 0, crcAt);
  if (stored !== computed) {
    fail('E_CODEC_CRC', `${ctx}: CRC mismatch: computed ${hex8(computed)}, message has ${hex8(stored)}`, {
      expected: computed,
      got: stored,
    });
  }
  const totalLength = crcAt + 4;
  if (len > totalLength) {
    fail('E_CODEC_TRAILING', `${ctx}: ${len - totalLength} trailing bytes after the CRC`, {
      expected: totalLength,
      got: len,
    });
  }
  if (type < MessageType.Masks || type > MessageType.Partial) {
    fail('E_CODEC_TYPE', `${ctx}: unknown message type ${type}`, { got: type });
  }
  if ((flags & ~(FLAG_SIGNED | FLAG_KEY)) !== 0 || (flags & FLAG_KEY && !(flags & FLAG_SIGNED))) {
    const bad = flags & FLAG_SIGNED ? flags & ~(FLAG_SIGNED | FLAG_KEY) : flags & ~FLAG_SIGNED;
    fail('E_CODEC_FIELD', `${ctx}: reserved flags ${hex2(bad)} set (only bit 0, signed, and with it bit 1, key, are defined in version 1)`, { got: flags });
  }
  const experiment = idFromBytes(ctx, 'experiment id', buf.subarray(6, 6 + expLen));
  const sender = idFromBytes(ctx, 'sender id', buf.subarray(senderAt + 1, senderAt + 1 + senderLen));
  return {
    version,
    type: type as MessageType,
    flags,
    experiment,
    sender,
    round,
    headerLength,
    payloadLength,
    totalLength,
    crc: stored,
    signature: sigBytes > 0 ? buf.subarray(headerLength + payloadLength + keyBytes, crcAt) : null,
    signerKey: keyBytes > 0 ? buf.subarray(headerLength + payloadLength, headerLength + payloadLength + keyBytes) : null,
  };
}

/**
 * Check a frame's signature with `verifier` (E_CODEC_SIGNATURE when the frame is unsigned or the
 * signature does not verify). `buf` is the frame `h` was parsed from.
 */
export function checkSignature(ctx: string, buf: Uint8Array, h: MessageHeader, verifier: FrameVerifier): void {
  if (h.signature === null) {
    fail('E_CODEC_SIGNATURE', `${ctx}: unsigned message from "${h.sender}" (a signature is required)`, { sender: h.sender });
  }
  if (!verifier.verify(signedPart(buf, h), h.signature)) {
    fail('E_CODEC_SIGNATURE', `${ctx}: signature from "${h.sender}" does not verify`, { sender: h.sender });
  }
}

/** Apply the header-level expectations: type, experiment, round, minRound. */
export function checkHeaderExpect(ctx: string, h: MessageHeader, want: MessageType | undefined, e: DecodeExpect): void {
  for (const t of [want, e.type]) {
    if (t !== undefined && h.type !== t) {
      fail('E_CODEC_TYPE', `${ctx}: expected message type ${typeLabel(t)}, got ${typeLabel(h.type)}`, {
        expected: t,
        got: h.type,
      });
    }
  }
  if (e.experiment !== undefined && h.experiment !== e.experiment) {
    fail('E_EXPERIMENT', `${ctx}: experiment "${h.experiment}" does not match expected "${e.experiment}"`, {
      expected: e.experiment,
      got: h.experiment,
    });
  }
  if (e.round !== undefined && h.round !== e.round) {
    fail('E_ROUND', `${ctx}: round ${h.round} does not match expected round ${e.round}`, {
      expected: e.round,
      got: h.round,
    });
  }
  if (e.minRound !== undefined && h.round < e.minRound) {
    fail('E_ROUND', `${ctx}: stale round ${h.round} < minimum ${e.minRound}`, { minRound: e.minRound, got: h.round });
  }
}
