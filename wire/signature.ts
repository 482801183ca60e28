/**
 * Ed25519 signatures on frames (PROTOCOL.md "Signed frames"). A signed frame sets flag bit 0 and
 * carries a 64-byte Ed25519 signature between the payload and the CRC; the signature covers every
 * byte before it (header with the flag set, then the payload). The codec takes a signer when
 * encoding and a verifier when decoding, so key storage stays outside the wire format.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { TinyProtoError } from '../common/errors.ts';

export const FLAG_SIGNED = 0x01;
/** Flag bit 1 (only with bit 0): the signer's raw 32-byte public key precedes the signature. */
export const FLAG_KEY = 0x02;
export const SIGNATURE_BYTES = 64;
export const PUBLIC_KEY_BYTES = 32;

/** Signs frames; `publicKey` is the raw 32-byte Ed25519 key (what receivers pin). */
export interface FrameSigner {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}

/** Checks a frame's signature against one key. */
export interface FrameVerifier {
  readonly publicKey: Uint8Array;
  verify(data: Uint8Array, signature: Uint8Array): boolean;
}


function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - PUBLIC_KEY_BYTES));
}

/** A verifier from a raw 32-byte public key (hex, base64 or bytes). */
export function ed25519Verifier(publicKey: Uint8Array | string): FrameVerifier {
  const raw = typeof publicKey === 'string' ? parsePublicKey(publicKey) : publicKey;
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new TinyProtoError('E_KEY', `Ed25519 public key must be ${PUBLIC_KEY_BYTES} bytes, got ${raw.length}`);
  }
  // imported as a JWK: OpenSSL 3 decodes a DER SubjectPublicKeyInfo through its decoder
  // framework, about 90-120 us a key here against 12-20 us for the same key as a JWK, which
  // mattered when thousands of agents make first contact in one round
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' });
  const pinned = new Uint8Array(raw);
  return {
    publicKey: pinned,
    verify: (data, signature) => signature.length === SIGNATURE_BYTES && verify(null, data, key, signature),
  };
}

/** A signer from a PEM (PKCS#8) Ed25519 private key. */
export function ed25519Signer(privateKeyPem: string): FrameSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (e) {
    throw new TinyProtoError('E_KEY', `cannot read the Ed25519 private key: ${(e as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TinyProtoError('E_KEY', `signing key must be Ed25519, got ${String(key.asymmetricKeyType)}`);
  }
  const publicKey = rawPublicKey(createPublicKey(key));
  return { publicKey, sign: (data) => new Uint8Array(sign(null, data, key)) };
}

/** A new Ed25519 key pair: the private key as PEM, the public key raw. */
export function generateSigningKey(): { privateKeyPem: string; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: rawPublicKey(publicKey) };
}

/** Hex of a raw public key: how keys are printed, configured and pinned. */
export function publicKeyHex(raw: Uint8Array): string {
  return Buffer.from(raw).toString('hex');
}

/** A raw public key from 64 hex digits or base64 of 32 bytes. */
export function parsePublicKey(text: string): Uint8Array {
  const t = text.trim();
  const raw = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (raw.length !== PUBLIC_KEY_BYTES) {
    throw new TinyProtoError('E_KEY', `public key must be 64 hex digits or base64 of ${PUBLIC_KEY_BYTES} bytes, got "${t.slice(0, 80)}"`);
  }
  return new Uint8Array(raw);
}
