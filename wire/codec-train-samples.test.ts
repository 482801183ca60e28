/**
 * UPLOAD's training-sample count (PROTOCOL.md §3.3, bit 7 of byte 6): golden bytes both
 * directions, an older agent's upload still decodes, exact errors on both sides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGlobal, decodeUpload, encodeUpload, uploadSize, type UploadBody } from './codec.ts';
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
