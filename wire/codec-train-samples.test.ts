/**
 * UPLOAD's training-sample count (PROTOCOL.md §3.3, bit 7 of byte 6) and PARTIAL's summed
 * counts (§3.8): golden bytes both directions, an older agent's upload (and an older relay's
 * partial) still decodes, exact errors on both sides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGlobal, decodePartial, decodeUpload, encodePartial, encodeUpload, uploadSize, type PartialBody, type UploadBody } from './codec.ts';
import { fixCrc, hexToBytes, rawFrame, throwsExactly, toHex } from '../test/helpers/codec.ts';

const A1 = { experiment: 'e1', sender: 'a1', round: 1 };
const PROTOS = [
  { classId: 1, values: new Float32Array([1, -2]) },
  { classId: 9, values: new Float32Array([0.5, 0.25]) },
];
/** Header of experiment "e1", sender "a1": 19 bytes; the layout byte is payload byte 6. */
const LAYOUT_AT = 19 + 6;
const BODY: UploadBody = { K: 10, d: 20, s: 2, layout: 'sparse', valueType: 'float32', prototypes: PROTOS, trainSamples: 1500 };

/** wire/codec.test.ts's UPLOAD_HEX with the count: 4 more payload bytes, layout byte 0x80. */
const UPLOAD_SAMPLES_HEX = [
  '5450 01 03 00 026531 026131', // magic, v1, UPLOAD, flags, "e1", "a1"
  '01000000', // round 1
  '1e000000', // payload length 30
  '0a00', // K = 10
  '1400', // d = 20
  '0200', // s = 2
  '80', // layout 0 = sparse, bit 7: the training-sample count follows
  '00', // value type 0 = float32
  'dc050000', // training-sample count 1500 (u32)
  '02 02', // presence bitmap: classes 1 and 9
  '0000803f 000000c0', // class 1: 1.0, -2.0
  '0000003f 0000803e', // class 9: 0.5, 0.25
  '981c0540', // CRC-32 0x40051c98
].join('');

test('golden: UPLOAD with the training-sample count, both directions', () => {
  const b = encodeUpload(A1, BODY);
  assert.equal(toHex(b), UPLOAD_SAMPLES_HEX.replace(/ /g, ''));
  assert.equal(b.length, uploadSize(10, 2, 2, 'float32', A1, true));
  assert.equal(b.length, uploadSize(10, 2, 2, 'float32', A1) + 4);
  const u = decodeUpload(hexToBytes(UPLOAD_SAMPLES_HEX), { experiment: 'e1', round: 1, K: 10, d: 20, s: 2 });
  assert.deepEqual(u.body, BODY);
});

test('an upload without the count (an older agent) is byte for byte the version-1 UPLOAD and decodes without it', () => {
  for (const trainSamples of [undefined, null]) {
    const b = encodeUpload(A1, { ...BODY, trainSamples });
    assert.equal(b[LAYOUT_AT], 0x00); // layout byte without bit 7
    const u = decodeUpload(b);
    assert.equal('trainSamples' in u.body, false);
  }
});

test('dense layout and int8 with the count; the extremes 1 and 2^31', () => {
  for (const n of [1, 2 ** 31]) {
    const body: UploadBody = { K: 3, d: 4, s: 4, layout: 'dense', valueType: 'int8', prototypes: [{ classId: 2, values: new Float32Array([1, 0, -1, 0.5]) }], trainSamples: n };
    const b = encodeUpload(A1, body);
    assert.equal(b[LAYOUT_AT], 0x81);
    assert.equal(decodeUpload(b).body.trainSamples, n);
  }
});

test('errors: the count out of range, on either side; GLOBAL has no such bit', () => {
  for (const bad of [0, -1, 1.5, 2 ** 31 + 1, Number.NaN, '7' as unknown as number]) {
    throwsExactly(() => encodeUpload(A1, { ...BODY, trainSamples: bad }), 'E_CODEC_FIELD', `upload: trainSamples must be an integer in [1, 2147483648], got ${String(bad)}`);
  }
  const head = '0a00 1400 0200 80 00';
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: `${head} 00000000 0000` })), 'E_CODEC_FIELD', 'upload: training-sample count 0 is outside 1..2147483648');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: `${head} 01000080 0000` })), 'E_CODEC_FIELD', 'upload: training-sample count 2147483649 is outside 1..2147483648');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: `${head} dc05` })), 'E_CODEC_TRUNCATED', 'upload: truncated: training-sample count needs 4 bytes at payload offset 8, 2 remain');
  // the count is not part of a GLOBAL: bit 7 there is an undefined layout, as before
  throwsExactly(() => decodeGlobal(rawFrame({ type: 4, sender: 'agg', payload: `${head} 0000` })), 'E_CODEC_FIELD', 'global: layout 128 is not defined (0..1)');
  // a decoder of the protocol before the count refused it the same way (layout 128 / 129)
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 82 00 0000' })), 'E_CODEC_FIELD', 'upload: layout 2 is not defined (0..1)');
});

test('the count is covered by the CRC: a flipped count byte is E_CODEC_CRC, fixed up it decodes to the new value', () => {
  const b = hexToBytes(UPLOAD_SAMPLES_HEX);
  const at = LAYOUT_AT + 2;
  b[at] = 0xdd;
  assert.throws(() => decodeUpload(b), (e: unknown) => (e as { code?: string }).code === 'E_CODEC_CRC');
  fixCrc(b);
  assert.equal(decodeUpload(b).body.trainSamples, 1501);
});

// ------------------------------------------------------------------------------------ PARTIAL

const R1 = { experiment: 'e1', sender: 'r1', round: 1 };
const PARTIAL: PartialBody = {
  K: 10,
  d: 20,
  s: 2,
  layout: 'sparse',
  classes: [
    { classId: 1, contributors: 2, sums: Float64Array.of(1.5, -2) },
    { classId: 9, contributors: 1, sums: Float64Array.of(0.25, 0) },
  ],
  agents: ['a1', 'a2'],
  trainSamples: { agents: 2, total: 360 },
};

/** wire/codec-partial.test.ts's PARTIAL_HEX with the relay's summed counts: 12 more payload bytes, layout 0x80. */
const PARTIAL_SAMPLES_HEX = [
  '5450 01 08 00 026531 027231 01000000', // magic, v1, PARTIAL, flags, "e1", "r1", round 1
  '41000000', // payload length 65
  '0a00 1400 0200', // K 10, d 20, s 2
  '80', // layout 0 = sparse, bit 7: the summed training-sample counts follow the agent count
  '0200', // A = 2 agents
  '02000000', // counts reported by 2 of the relay's agents
  '6801000000000000', // their total: 360 (u64)
  '0202', // classes 1 and 9
  '0200 000000000000f83f 00000000000000c0', // class 1: 2 contributors, 1.5, -2
  '0100 000000000000d03f 0000000000000000', // class 9: 1 contributor, 0.25, 0
  '02 6131 02 6132', // agents "a1", "a2"
  '1a0d7aae', // CRC-32 0xae7a0d1a
].join('');

test('golden: PARTIAL with the relay\'s summed training-sample counts, both directions', () => {
  const b = encodePartial(R1, PARTIAL);
  assert.equal(toHex(b), PARTIAL_SAMPLES_HEX.replace(/ /g, ''));
  assert.deepEqual(decodePartial(hexToBytes(PARTIAL_SAMPLES_HEX), { experiment: 'e1', round: 1, K: 10, d: 20, s: 2 }).body, PARTIAL);
  const old = decodePartial(encodePartial(R1, { ...PARTIAL, trainSamples: null })).body;
  assert.equal('trainSamples' in old, false);
  const big = decodePartial(encodePartial(R1, { ...PARTIAL, trainSamples: { agents: 0xffffffff, total: Number.MAX_SAFE_INTEGER } })).body;
  assert.deepEqual(big.trainSamples, { agents: 0xffffffff, total: Number.MAX_SAFE_INTEGER });
});

test('errors: PARTIAL counts out of range', () => {
  throwsExactly(() => encodePartial(R1, { ...PARTIAL, trainSamples: { agents: 0, total: 5 } }), 'E_CODEC_FIELD', 'partial: trainSamples.agents must be an integer in [1, 4294967295], got 0');
  throwsExactly(() => encodePartial(R1, { ...PARTIAL, trainSamples: { agents: 1, total: 2 ** 53 } }), 'E_CODEC_FIELD', `partial: trainSamples.total must be an integer in [1, ${Number.MAX_SAFE_INTEGER}], got ${2 ** 53}`);
  const head = '0a00 1400 0200 80 0100';
  const tail = '0100 0100 000000000000f03f 0000000000000000 02 6131';
  throwsExactly(() => decodePartial(rawFrame({ type: 8, sender: 'r1', payload: `${head} 00000000 0100000000000000 ${tail}` })), 'E_CODEC_FIELD', 'partial: training-sample counts of 0 agents');
  throwsExactly(() => decodePartial(rawFrame({ type: 8, sender: 'r1', payload: `${head} 01000000 0000000000000000 ${tail}` })), 'E_CODEC_FIELD', 'partial: training-sample total must be >= 1, got 0');
  throwsExactly(() => decodePartial(rawFrame({ type: 8, sender: 'r1', payload: `${head} 01000000 0000000000002000 ${tail}` })), 'E_CODEC_FIELD', `partial: training-sample total must be an integer in [0, ${Number.MAX_SAFE_INTEGER}], got ${2n ** 53n}`);
  throwsExactly(() => decodePartial(rawFrame({ type: 8, sender: 'r1', payload: `${head} 01000000 6801` })), 'E_CODEC_TRUNCATED', 'partial: truncated: training-sample total needs 8 bytes at payload offset 13, 2 remain');
});
