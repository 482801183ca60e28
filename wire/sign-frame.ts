/**
 * Signing an already encoded frame (PROTOCOL.md §1.1 "Signed frames"): what transport wrappers
 * use to sign every message a component publishes without touching the code that encodes it.
 * `signFrame(encodeX(h, body), signer)` is byte for byte `encodeX(h, body, { signer })`, and
 * with `embedKey` byte for byte `encodeX(h, body, { signer, embedKey: true })`. Pure.
 */
import { parseFrame, sealFrame } from './codec-header.ts';
import type { MessageHeader } from './codec-types.ts';
import type { FrameSigner } from './signature.ts';

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
  const body = Uint8Array.from(frame.subarray(0, h.headerLength + h.payloadLength));
  body[4] = 0; // an old signature and key are dropped
  return sealFrame('sign', body, signer, opts.embedKey === true);
}

/** The frame's header without any expectation (size limit aside): what wrappers route on. */
export function frameHeader(frame: Uint8Array): MessageHeader {
  return parseFrame('message', frame, ANY_SIZE);
}
