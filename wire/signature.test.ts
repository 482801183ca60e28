import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { decodeMessage, decodeReceipt, decodeRound, encodeReceipt, encodeRound, peekHeader, MessageType, type RoundBody } from './codec.ts';
import { ed25519Signer, ed25519Verifier, generateSigningKey, parsePublicKey, publicKeyHex, SIGNATURE_BYTES } from './signature.ts';
import { crc32 } from './crc32.ts';
import { fixCrc, throwsExactly } from '../test/helpers/codec.ts';
import { TinyProtoError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';

// RFC 8032 section 7.1, test 1: the secret key (seed) and its public key.
const SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const PEM = createPrivateKey({ key: Buffer.from('302e020100300506032b657004220420' + SEED, 'hex'), format: 'der', type: 'pkcs8' })
  .export({ format: 'pem', type: 'pkcs8' })
  .toString();

const generateRsaPem = (): string => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

const ROUND: RoundBody = { method: 'tinyproto', valueType: 'float32', deadlineMs: 1_700_000_000_000, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: [] };
const H = { experiment: 'e1', sender: 'aggregator', round: 3 };

test('the signer derives the RFC 8032 public key; keys print and parse as hex or base64', () => {
  const signer = ed25519Signer(PEM);
  assert.equal(publicKeyHex(signer.publicKey), PUBLIC);
  assert.deepEqual(parsePublicKey(PUBLIC), signer.publicKey);
  assert.deepEqual(parsePublicKey(Buffer.from(PUBLIC, 'hex').toString('base64')), signer.publicKey);
  throwsExactly(() => parsePublicKey('abcd'), 'E_KEY', 'public key must be 64 hex digits or base64 of 32 bytes, got "abcd"');
  assert.throws(() => ed25519Signer('not a key'), (e: unknown) => (e as { code?: string }).code === 'E_KEY' && /^cannot read the Ed25519 private key/.test((e as Error).message));
  assert.throws(() => ed25519Signer(createPrivateKey({ key: generateRsaPem(), format: 'pem' }).export({ format: 'pem', type: 'pkcs8' }).toString()), /signing key must be Ed25519, got rsa/);
});

test('a signed frame: flag bit 0, the payload, a 64-byte Ed25519 signature of every byte before it, then the CRC', () => {
  const unsigned = encodeRound(H, ROUND);
  const signed = encodeRound(H, ROUND, { signer: ed25519Signer(PEM) });
  assert.equal(signed.length, unsigned.length + SIGNATURE_BYTES);
  assert.equal(signed[4], 0x01);
  // Independent construction: the unsigned bytes with the flag set, signed by node:crypto directly.
  const body = Buffer.from(unsigned.subarray(0, unsigned.length - 4));
  body[4] = 0x01;
  const sig = sign(null, body, createPrivateKey(PEM));
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(Buffer.concat([body, sig])), 0);
  assert.deepEqual(Buffer.from(signed), Buffer.concat([body, sig, crc]));
  const h = peekHeader(signed, { verifier: ed25519Verifier(PUBLIC) });
  assert.deepEqual(Buffer.from(h.signature!), sig);
  assert.equal(h.totalLength, signed.length);
  assert.deepEqual(decodeRound(signed, { verifier: ed25519Verifier(PUBLIC) }).body, ROUND);
  // Without a verifier a signed frame decodes like any other (the signature is not checked).
  assert.deepEqual(decodeRound(signed).body, ROUND);
});

test('E_CODEC_SIGNATURE: unsigned, wrong key, tampered signature (CRC fixed up)', () => {
  const other = ed25519Verifier(generateSigningKey().publicKey);
  const v = ed25519Verifier(PUBLIC);
  throwsExactly(() => decodeRound(encodeRound(H, ROUND), { verifier: v }), 'E_CODEC_SIGNATURE', 'round: unsigned message from "aggregator" (a signature is required)');
  const signed = encodeRound(H, ROUND, { signer: ed25519Signer(PEM) });
  throwsExactly(() => decodeRound(signed, { verifier: other }), 'E_CODEC_SIGNATURE', 'round: signature from "aggregator" does not verify');
  const bad = Uint8Array.from(signed);
  bad[bad.length - 10]! ^= 1;
  new DataView(bad.buffer).setUint32(bad.length - 4, crc32(bad, 0, bad.length - 4), true);
  throwsExactly(() => decodeMessage(bad, { verifier: v }), 'E_CODEC_SIGNATURE', 'message: signature from "aggregator" does not verify');
  // A forged payload under a copied signature does not verify either.
  const forged = encodeRound(H, { ...ROUND, lambda: 1000 }, { signer: ed25519Signer(generateSigningKey().privateKeyPem) });
  forged.set(signed.subarray(signed.length - 68, signed.length - 4), forged.length - 68);
  new DataView(forged.buffer).setUint32(forged.length - 4, crc32(forged, 0, forged.length - 4), true);
  throwsExactly(() => decodeRound(forged, { verifier: v }), 'E_CODEC_SIGNATURE', 'round: signature from "aggregator" does not verify');
});

test('E_CODEC_TRUNCATED: a signed flag without room for the signature', () => {
  const unsigned = Uint8Array.from(encodeRound(H, ROUND));
  unsigned[4] = 1;
  new DataView(unsigned.buffer).setUint32(unsigned.length - 4, crc32(unsigned, 0, unsigned.length - 4), true);
  throwsExactly(() => decodeRound(unsigned), 'E_CODEC_TRUNCATED', 'round: truncated: signature needs 64 bytes, 4 available');
});

test('RECEIPT: golden bytes, both directions, and its errors', () => {
  const body = { agent: 'agent-1', outcome: 'rejected' as const, uploadCrc: 0xcbf43926, code: 'E_ROUND' };
  const buf = encodeReceipt({ experiment: 'e1', sender: 'aggregator', round: 2 }, body);
  const hex =
    '5450' + '01' + '07' + '00' + '02' + '6531' + '0a' + Buffer.from('aggregator').toString('hex') + '02000000' + '15000000' +
    '07' + Buffer.from('agent-1').toString('hex') + '02' + '2639f4cb' + '07' + Buffer.from('E_ROUND').toString('hex');
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(Buffer.from(hex, 'hex')), 0);
  assert.equal(Buffer.from(buf).toString('hex'), hex + crc.toString('hex'));
  const d = decodeMessage(buf);
  assert.equal(d.type, MessageType.Receipt);
  assert.deepEqual(decodeReceipt(buf).body, body);
  const ok = { agent: 'agent-1', outcome: 'accepted' as const, uploadCrc: 7, code: '' };
  assert.deepEqual(decodeReceipt(encodeReceipt(H, ok, { signer: ed25519Signer(PEM) }), { verifier: ed25519Verifier(PUBLIC) }).body, ok);
  throwsExactly(() => encodeReceipt(H, { ...ok, code: 'E_ROUND' }), 'E_CODEC_FIELD', 'receipt: an accepted receipt carries no code, got "E_ROUND"');
  throwsExactly(() => encodeReceipt(H, { ...body, code: 'round' }), 'E_CODEC_FIELD', 'receipt: a rejection needs an error code like E_ROUND, got "round"');
  throwsExactly(() => encodeReceipt(H, { ...ok, outcome: 'lost' as never }), 'E_CODEC_FIELD', 'receipt: outcome must be one of accepted, duplicate, rejected, got lost');
});

test('fuzz: signed RECEIPT and ROUND frames, mutated (CRC fixed up or not), only ever throw TinyProtoError; no mutation verifies', () => {
  const rng = new Rng(31337);
  const signer = ed25519Signer(PEM);
  const verifier = ed25519Verifier(PUBLIC);
  const corpus = Array.from({ length: 40 }, (_, i) =>
    i % 2 === 0
      ? encodeReceipt({ ...H, round: rng.nextUint32() }, { agent: `a${rng.int(1000)}`, outcome: 'rejected', uploadCrc: rng.nextUint32(), code: 'E_DUPLICATE' }, { signer })
      : encodeRound({ ...H, round: 1 + rng.int(100) }, { ...ROUND, batchSize: 1 + rng.int(100) }, { signer }),
  );
  const seen = new Map<string, number>();
  for (let iter = 0; iter < 3000; iter++) {
    const b = corpus[rng.int(corpus.length)]!.slice();
    for (let n = 1 + rng.int(3); n > 0; n--) b[rng.int(b.length - 4)]! ^= 1 << rng.int(8);
    if (rng.int(2) === 0) fixCrc(b);
    try {
      decodeMessage(b, { verifier });
      assert.fail('a mutated signed frame verified');
    } catch (e) {
      assert.ok(e instanceof TinyProtoError, `not a TinyProtoError: ${String(e)}`);
      seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
    }
  }
  for (const code of ['E_CODEC_CRC', 'E_CODEC_SIGNATURE']) assert.ok((seen.get(code) ?? 0) > 0, `never ${code}: ${JSON.stringify([...seen])}`);
});
