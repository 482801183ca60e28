/**
 * Signing an already encoded frame (PROTOCOL.md §1.1 "Signed frames"): what transport wrappers
 * use to sign every message a component publishes without touching the code that encodes it.
 * `signFrame(encodeX(h, body), signer)` is byte for byte `encodeX(h, body, { signer })`, and
 * with `embedKey` byte for byte `encodeX(h, body, { signer, embedKey: true })`. Pure.
 */
import { crc32 } from './crc32.ts';
import { parseFrame } from './codec-header.ts';
import { fail } from './codec-io.ts';
import type { MessageHeader } from './codec-types.ts';
import { FLAG_KEY, FLAG_SIGNED, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type FrameSigner } from './signature.ts';

/** No size limit beyond what the frame's own lengths allow: the frame was already encoded. */
const ANY_SIZE = Number.MAX_SAFE_INTEGER;

export interface SignFrameOptions {
  /** Carry the signer's public key in the frame (flag bit 1), for receivers that pin on first contact. */
  embedKey?: boolean;
}

/**
 * Returns `frame` signed by `signer`: flag bit 0 (and bit 1 with `embedKey`) set, the key and the
 * Ed25519 signature of every byte before it inserted after the payload, the CRC recomputed. A
 * frame that is already signed is re-signed (its old key and signature are dropped first).
 * The input is validated like any received frame (E_CODEC_* for a damaged one).
 */
export function signFrame(frame: Uint8Array, signer: FrameSigner, opts: SignFrameOptions = {}): Uint8Array {
  const h = parseFrame('sign', frame, ANY_SIZE);
  const withKey = opts.embedKey === true;
  if (withKey && signer.publicKey.length !== PUBLIC_KEY_BYTES) {
    fail('E_CODEC_SIGNATURE', `sign: signer's public key is ${signer.publicKey.length} bytes, expected ${PUBLIC_KEY_BYTES}`);
  }
  const body = h.headerLength + h.payloadLength;
  const keyBytes = withKey ? PUBLIC_KEY_BYTES : 0;
  const total = body + keyBytes + SIGNATURE_BYTES + 4;
  const out = new Uint8Array(total);
  out.set(frame.subarray(0, body));
  out[4] = withKey ? FLAG_SIGNED | FLAG_KEY : FLAG_SIGNED;
  if (withKey) out.set(signer.publicKey, body);
  const sig = signer.sign(out.subarray(0, body + keyBytes));
  if (sig.length !== SIGNATURE_BYTES) fail('E_CODEC_SIGNATURE', `sign: signer returned ${sig.length} bytes, expected ${SIGNATURE_BYTES}`);
  out.set(sig, body + keyBytes);
  new DataView(out.buffer).setUint32(total - 4, crc32(out, 0, total - 4), true);
  return out;
}

/** The frame's header without any expectation (size limit aside): what wrappers route on. */
export function frameHeader(frame: Uint8Array): MessageHeader {
  return parseFrame('message', frame, ANY_SIZE);
}
