import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeGlobal,
  decodeMasks,
  decodeRound,
  decodeStatus,
  decodeUpload,
  encodeGlobal,
  encodeMasks,
  encodeReceipt,
  encodeRound,
  encodeStatus,
  encodeUpload,
  peekHeader,
  type RoundBody,
} from './codec.ts';
import { ed25519Signer, ed25519Verifier, generateSigningKey, FLAG_KEY, FLAG_SIGNED, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './signature.ts';
import { frameHeader, signFrame } from './sign-frame.ts';
import { fixCrc, throwsExactly } from '../test/helpers/codec.ts';

const key = generateSigningKey();
const signer = ed25519Signer(key.privateKeyPem);
const verifier = ed25519Verifier(key.publicKey);
const ROUND: RoundBody = { method: 'tinyproto', valueType: 'float32', deadlineMs: 1_700_000_000_000, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: ['a1', 'a2'] };
const AGG = { experiment: 'e1', sender: 'aggregator', round: 3 };
const A1 = { experiment: 'e1', sender: 'a1', round: 3 };

const frames: Record<string, (opts?: { signer?: typeof signer; embedKey?: boolean }) => Uint8Array> = {
  masks: (o) => encodeMasks({ ...AGG, round: 0 }, { mode: 'params', params: { numClasses: 10, featureDim: 40, ratio: 0.1, seed: 7 } }, o),
  round: (o) => encodeRound(AGG, ROUND, o),
  global: (o) =>
    encodeGlobal(AGG, { K: 4, d: 8, s: 8, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 1, values: new Float32Array(8).fill(0.5), contributors: 2 }] }, o),
  upload: (o) => encodeUpload(A1, { K: 4, d: 8, s: 8, layout: 'dense', valueType: 'float16', prototypes: [{ classId: 2, values: new Float32Array(8).fill(-1.25) }] }, o),
  status: (o) => encodeStatus(A1, { state: 'idle', timeMs: 5, lastRound: 2, modelFamily: 'resnet8', note: '' }, o),
  receipt: (o) => encodeReceipt({ ...AGG, round: 3 }, { agent: 'a1', outcome: 'accepted', code: '', uploadCrc: 0x12345678 }, o),
};

test('signFrame(encodeX(...), signer) is byte for byte encodeX(..., { signer }), with and without the key', () => {
  for (const [name, make] of Object.entries(frames)) {
    const unsigned = make();
    assert.deepEqual(Buffer.from(signFrame(unsigned, signer)), Buffer.from(make({ signer })), name);
    assert.deepEqual(Buffer.from(signFrame(unsigned, signer, { embedKey: true })), Buffer.from(make({ signer, embedKey: true })), `${name} with key`);
    // re-signing a signed frame gives the same bytes (Ed25519 is deterministic)
    assert.deepEqual(Buffer.from(signFrame(make({ signer }), signer, { embedKey: true })), Buffer.from(make({ signer, embedKey: true })), `${name} re-signed`);
  }
  const withKey = signFrame(frames['status']!(), signer, { embedKey: true });
  assert.equal(withKey[4], FLAG_SIGNED | FLAG_KEY);
  assert.equal(withKey.length, frames['status']!().length + PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
  assert.deepEqual(decodeStatus(withKey, { verifier }).body.modelFamily, 'resnet8');
});

test('a frame carrying its key: the header exposes it, the signature covers it, decoders ignore it without a verifier', () => {
  const signed = encodeRound(AGG, ROUND, { signer, embedKey: true });
  const h = peekHeader(signed, { verifier });
  assert.deepEqual(h.signerKey, key.publicKey);
  assert.equal(h.totalLength, signed.length);
  assert.deepEqual(decodeRound(signed).body, ROUND);
  assert.equal(frameHeader(encodeRound(AGG, ROUND)).signerKey, null);
  assert.equal(frameHeader(encodeRound(AGG, ROUND, { signer })).signerKey, null);
  // swapping in another key (CRC fixed up) breaks the signature
  const other = generateSigningKey();
  const forged = Uint8Array.from(signed);
  forged.set(other.publicKey, h.headerLength + h.payloadLength);
  fixCrc(forged);
  throwsExactly(() => decodeRound(forged, { verifier }), 'E_CODEC_SIGNATURE', 'round: signature from "aggregator" does not verify');
  // the key flag without the signed flag is a reserved flag
  const keyOnly = Uint8Array.from(encodeRound(AGG, ROUND));
  keyOnly[4] = FLAG_KEY;
  fixCrc(keyOnly);
  throwsExactly(() => decodeRound(keyOnly), 'E_CODEC_FIELD', 'round: reserved flags 0x02 set (only bit 0, signed, and with it bit 1, key, are defined in version 1)');
});

test('signFrame validates its input and decoders accept what it signs', () => {
  const up = frames['upload']!();
  const damaged = Uint8Array.from(up);
  damaged[damaged.length - 6]! ^= 1;
  assert.throws(() => signFrame(damaged, signer), (e: unknown) => (e as { code?: string }).code === 'E_CODEC_CRC');
  assert.equal(decodeUpload(signFrame(up, signer), { verifier }).header.sender, 'a1');
  assert.equal(decodeGlobal(signFrame(frames['global']!(), signer, { embedKey: true }), { verifier }).body.prototypes[0]!.contributors, 2);
  assert.equal(decodeMasks(signFrame(frames['masks']!(), signer), { verifier }).body.masks.s, 4);
});
