/** One exact error (code AND message) for every kind of bad input, encoder and decoder side. */
import { test } from 'node:test';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  decodeGlobal,
  decodeMasks,
  decodeMessage,
  decodeRound,
  decodeStatus,
  decodeUpload,
  encodeGlobal,
  encodeMasks,
  encodeRound,
  encodeStatus,
  encodeUpload,
  MessageType,
  peekHeader,
  uploadSize,
  type UploadBody,
} from './codec.ts';
import { crc32 } from './crc32.ts';
import { fixCrc, rawFrame, throwsExactly } from './codec-test-util.ts';

const A1 = { experiment: 'e1', sender: 'a1', round: 1 };
const UPLOAD_BODY: UploadBody = {
  K: 10,
  d: 20,
  s: 2,
  layout: 'sparse',
  valueType: 'float32',
  prototypes: [
    { classId: 1, values: new Float32Array([1, -2]) },
    { classId: 9, values: new Float32Array([0.5, 0.25]) },
  ],
};
const up = (): Uint8Array => encodeUpload(A1, UPLOAD_BODY); // 49 bytes: header 19, payload 26, CRC 4
// UPLOAD payload prefix: K 10, d 20, s 2, sparse, float32
const UP_HEAD = '0a00 1400 0200 00 00';

test('E_CODEC_OVERSIZE: decoder checks the size limit first; encoder refuses to build', () => {
  throwsExactly(() => decodeUpload(up(), { maxBytes: 40 }), 'E_CODEC_OVERSIZE', 'upload: message is 49 bytes, limit 40');
  throwsExactly(() => decodeMessage(new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1)), 'E_CODEC_OVERSIZE', 'message: message is 262145 bytes, limit 262144');
  throwsExactly(() => encodeUpload(A1, UPLOAD_BODY, { maxBytes: 48 }), 'E_CODEC_OVERSIZE', 'upload: encoded message would be 49 bytes, limit 48');
  const big = { K: 100, d: 700, s: 700, layout: 'dense', valueType: 'float32', prototypes: Array.from({ length: 100 }, (_, classId) => ({ classId, values: new Float32Array(700) })) } as const;
  const size = uploadSize(100, 100, 700, 'float32', A1);
  throwsExactly(() => encodeUpload(A1, { ...big, prototypes: [...big.prototypes] }), 'E_CODEC_OVERSIZE', `upload: encoded message would be ${size} bytes, limit 262144`);
  throwsExactly(() => encodeStatus(A1, { state: 'idle', timeMs: 0, lastRound: 0, modelFamily: '', note: '' }, { maxBytes: 10 }), 'E_CODEC_OVERSIZE', 'status: encoded message would be 39 bytes, limit 10');
});

test('E_CODEC_TRUNCATED: header, declared payload, CRC, body', () => {
  throwsExactly(() => decodeUpload(new Uint8Array(0)), 'E_CODEC_TRUNCATED', 'upload: truncated: header needs at least 2 bytes, 0 available');
  throwsExactly(() => decodeUpload(up().subarray(0, 10)), 'E_CODEC_TRUNCATED', 'upload: truncated: header needs at least 19 bytes, 10 available');
  throwsExactly(() => decodeUpload(up().subarray(0, 39)), 'E_CODEC_TRUNCATED', 'upload: truncated: payload declares 26 bytes, 20 available');
  throwsExactly(() => decodeUpload(up().subarray(0, 47)), 'E_CODEC_TRUNCATED', 'upload: truncated: CRC needs 4 bytes, 2 available');
  // a body that declares more than the payload holds (class 1 present, only one float32 value)
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: `${UP_HEAD} 0200 0000803f` })), 'E_CODEC_TRUNCATED', 'upload: truncated: 1 present classes x 8 bytes needs 8 bytes at payload offset 10, 4 remain');
  throwsExactly(() => decodeStatus(rawFrame({ type: 5, payload: '02 00008056febc7842' })), 'E_CODEC_TRUNCATED', 'status: truncated: last round needs 4 bytes at payload offset 9, 0 remain');
});

test('E_CODEC_MAGIC and E_CODEC_VERSION', () => {
  const b = up();
  b[0] = 0x55;
  throwsExactly(() => decodeUpload(b), 'E_CODEC_MAGIC', 'upload: bad magic 0x55 0x50, expected 0x54 0x50 ("TP")');
  throwsExactly(() => decodeMessage(new TextEncoder().encode('{"json":1}')), 'E_CODEC_MAGIC', 'message: bad magic 0x7b 0x22, expected 0x54 0x50 ("TP")');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, version: 2, payload: '' })), 'E_CODEC_VERSION', 'upload: unsupported protocol version 2 (this decoder speaks 1)');
});

test('E_CODEC_TYPE: unknown, reserved TELEMETRY, not the expected type', () => {
  throwsExactly(() => decodeMessage(rawFrame({ type: 9, payload: '' })), 'E_CODEC_TYPE', 'message: unknown message type 9');
  throwsExactly(() => decodeMessage(rawFrame({ type: 0, payload: '' })), 'E_CODEC_TYPE', 'message: unknown message type 0');
  throwsExactly(() => peekHeader(rawFrame({ type: 6, payload: '00' })), 'E_CODEC_TYPE', 'message: message type 6 (TELEMETRY) is reserved, not supported in protocol version 1');
  const status = encodeStatus(A1, { state: 'idle', timeMs: 0, lastRound: 0, modelFamily: '', note: '' });
  throwsExactly(() => decodeUpload(status), 'E_CODEC_TYPE', 'upload: expected message type 3 (UPLOAD), got 5 (STATUS)');
  throwsExactly(() => decodeMessage(status, { type: MessageType.Global }), 'E_CODEC_TYPE', 'message: expected message type 4 (GLOBAL), got 5 (STATUS)');
  throwsExactly(() => decodeMasks(up()), 'E_CODEC_TYPE', 'masks: expected message type 1 (MASKS), got 3 (UPLOAD)');
});

test('E_CODEC_CRC', () => {
  const b = up();
  b[30] = b[30]! ^ 0x01;
  const computed = crc32(b, 0, 45).toString(16).padStart(8, '0');
  throwsExactly(() => decodeUpload(b), 'E_CODEC_CRC', `upload: CRC mismatch: computed 0x${computed}, message has 0xcfb4cf04`);
});

test('E_CODEC_TRAILING: bytes after the CRC, payload longer than the body', () => {
  const b = new Uint8Array([...up(), 0]);
  throwsExactly(() => decodeUpload(b), 'E_CODEC_TRAILING', 'upload: 1 trailing bytes after the CRC');
  const extra = rawFrame({ type: 3, payload: `${UP_HEAD} 0200 0000803f 000000c0 ff` });
  throwsExactly(() => decodeUpload(extra), 'E_CODEC_TRAILING', 'upload: payload declares 19 bytes but the body uses 18');
  const round = rawFrame({ type: 2, payload: '00 00 0000000000000000 00000000 00000000 0100 0100 0000 00' });
  throwsExactly(() => decodeRound(round), 'E_CODEC_TRAILING', 'round: payload declares 25 bytes but the body uses 24');
});

test('E_CODEC_FIELD: ids, flags, enums, bitsets, selections, notes, int8', () => {
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, flags: 1, payload: '' })), 'E_CODEC_FIELD', 'upload: reserved flags 0x01 set (must be 0 in version 1)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, experiment: 'e 1', payload: '' })), 'E_CODEC_FIELD', 'upload: experiment id contains invalid character 0x20 at position 1 (allowed: A-Za-z0-9._-)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, sender: '', payload: '' })), 'E_CODEC_FIELD', 'upload: sender id has 0 characters, must be 1..32');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, sender: 'x'.repeat(33), payload: '' })), 'E_CODEC_FIELD', 'upload: sender id has 33 characters, must be 1..32');
  throwsExactly(() => encodeUpload({ ...A1, sender: 'a/1' }, UPLOAD_BODY), 'E_CODEC_FIELD', 'upload: sender id contains invalid character 0x2f at position 1 (allowed: A-Za-z0-9._-)');
  throwsExactly(() => encodeUpload({ ...A1, round: -1 }, UPLOAD_BODY), 'E_CODEC_FIELD', 'upload: round must be an integer in [0, 4294967295], got -1');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 02 00 0000' })), 'E_CODEC_FIELD', 'upload: layout 2 is not defined (0..1)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 03 0000' })), 'E_CODEC_FIELD', 'upload: value type 3 is not defined (0..2)');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, valueType: 'bf16' as never }), 'E_CODEC_FIELD', 'upload: value type must be one of float32, float16, int8, got bf16');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 02 0200 00000000 80 00' })), 'E_CODEC_FIELD', 'upload: class 1 value 0 is int8 -128 (allowed -127..127)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 02 0200 000080bf 00 00' })), 'E_CODEC_FIELD', 'upload: class 1 int8 scale -1 is negative');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, prototypes: [UPLOAD_BODY.prototypes[0]!, UPLOAD_BODY.prototypes[0]!] }), 'E_CODEC_FIELD', 'upload: class 1 appears more than once');
  // MASKS: bitset row with the wrong popcount, padding bits, unknown mode, s not matching the generator
  throwsExactly(() => decodeMasks(rawFrame({ type: 1, payload: '0200 0a00 0300 01 0302 0c00' })), 'E_CODEC_FIELD', 'masks: class 1 bitset has 2 ones, expected s = 3');
  throwsExactly(() => decodeMasks(rawFrame({ type: 1, payload: '0200 0a00 0300 01 0304 0c01' })), 'E_CODEC_FIELD', 'masks: class 0 bitset has padding bits set beyond d = 10');
  throwsExactly(() => decodeMasks(rawFrame({ type: 1, payload: '0200 0a00 0300 02' })), 'E_CODEC_FIELD', 'masks: mask mode 2 is not defined (0..1)');
  throwsExactly(() => decodeMasks(rawFrame({ type: 1, payload: '0a00 f401 3100 00 cdcccc3d 2a000000 e803' })), 'E_CODEC_FIELD', 'masks: s = 49 does not match the generator parameters (s = 50)');
  throwsExactly(() => decodeMasks(rawFrame({ type: 1, payload: '0a00 f401 3200 00 0000c03f 2a000000 e803' })), 'E_CODEC_FIELD', 'masks: ratio must satisfy 0 < ratio <= 1, got 1.5');
  throwsExactly(() => encodeMasks(A1, { mode: 'params', params: { numClasses: 10, featureDim: 500, ratio: 0.1, seed: -1 } }), 'E_CODEC_FIELD', 'masks: seed must be an integer in [0, 4294967295], got -1');
  // ROUND / STATUS
  throwsExactly(() => decodeRound(rawFrame({ type: 2, payload: '03 00 0000000000000000 00000000 00000000 0100 0100 0000' })), 'E_CODEC_FIELD', 'round: method 3 is not defined (0..2)');
  throwsExactly(() => decodeRound(rawFrame({ type: 2, payload: '00 00 0000000000000000 00000000 00000000 0000 0100 0000' })), 'E_CODEC_FIELD', 'round: batch size must be >= 1, got 0');
  throwsExactly(() => decodeRound(rawFrame({ type: 2, payload: '00 00 0000000000000000 00000000 00000000 0100 0100 0200 026131 026131' })), 'E_CODEC_FIELD', 'round: selected agent "a1" appears more than once');
  throwsExactly(() => decodeStatus(rawFrame({ type: 5, payload: '05 0000000000000000 00000000 00 0000' })), 'E_CODEC_FIELD', 'status: state 5 is not defined (0..4)');
  throwsExactly(() => decodeStatus(rawFrame({ type: 5, payload: '00 0000000000000000 00000000 00 0101' })), 'E_CODEC_FIELD', 'status: note is 257 UTF-8 bytes, limit 256');
  throwsExactly(() => decodeStatus(rawFrame({ type: 5, payload: '00 0000000000000000 00000000 00 0200 c328' })), 'E_CODEC_FIELD', 'status: note is not valid UTF-8');
  throwsExactly(() => encodeStatus(A1, { state: 'idle', timeMs: 0, lastRound: 0, modelFamily: '', note: 'x'.repeat(257) }), 'E_CODEC_FIELD', 'status: note is 257 UTF-8 bytes, limit 256');
});

test('E_EXPERIMENT and E_ROUND (mismatch and stale)', () => {
  throwsExactly(() => decodeUpload(up(), { experiment: 'e2' }), 'E_EXPERIMENT', 'upload: experiment "e1" does not match expected "e2"');
  throwsExactly(() => decodeUpload(up(), { round: 2 }), 'E_ROUND', 'upload: round 1 does not match expected round 2');
  throwsExactly(() => decodeUpload(up(), { minRound: 2 }), 'E_ROUND', 'upload: stale round 1 < minimum 2');
  throwsExactly(() => peekHeader(up(), { experiment: 'x' }), 'E_EXPERIMENT', 'message: experiment "e1" does not match expected "x"');
});

test('E_SHAPE: expected K/d/s, s > d, dense s != d, bitmap beyond K, encoder lengths', () => {
  throwsExactly(() => decodeUpload(up(), { K: 100 }), 'E_SHAPE', 'upload: K = 10 does not match expected K = 100');
  throwsExactly(() => decodeUpload(up(), { d: 500 }), 'E_SHAPE', 'upload: d = 20 does not match expected d = 500');
  throwsExactly(() => decodeUpload(up(), { s: 50 }), 'E_SHAPE', 'upload: s = 2 does not match expected s = 50');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 1500 00 00 0000' })), 'E_SHAPE', 'upload: s = 21 exceeds d = 20');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 01 00 0000' })), 'E_SHAPE', 'upload: dense layout needs s = d, got s = 2, d = 20');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 00 0004' })), 'E_SHAPE', 'upload: presence bitmap has bits set beyond K = 10 (last byte 0x04)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0000 1400 0200 00 00' })), 'E_SHAPE', 'upload: K must be >= 1, got 0');
  throwsExactly(() => decodeMasks(encodeMasks(A1, { mode: 'params', params: { numClasses: 10, featureDim: 500, ratio: 0.1, seed: 1 } }), { s: 40 }), 'E_SHAPE', 'masks: s = 50 does not match expected s = 40');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, prototypes: [{ classId: 1, values: new Float32Array(3) }] }), 'E_SHAPE', 'upload: class 1 has 3 values, expected s = 2 (Float32Array)');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, prototypes: [{ classId: 10, values: new Float32Array(2) }] }), 'E_SHAPE', 'upload: class id 10 out of range [0, 10)');
  throwsExactly(() => encodeGlobal(A1, { ...UPLOAD_BODY, layout: 'dense', prototypes: [] }), 'E_SHAPE', 'global: dense layout needs s = d, got s = 2, d = 20');
});

test('E_NON_FINITE: decoded values and scales, encoder inputs', () => {
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: `${UP_HEAD} 0200 0000c07f 00000000` })), 'E_NON_FINITE', 'upload: class 1 value 0 is not finite (NaN)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 01 0200 0000 007c' })), 'E_NON_FINITE', 'upload: class 1 value 1 is not finite (Infinity)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, payload: '0a00 1400 0200 00 02 0200 0000807f 00 00' })), 'E_NON_FINITE', 'upload: class 1 int8 scale is not finite (Infinity)');
  throwsExactly(() => decodeGlobal(rawFrame({ type: 4, payload: '0a00 1400 0200 00 02 0200 0100 ffff7f7f 7f 00' })), 'E_NON_FINITE', 'global: class 1 value 0 is not finite (Infinity)');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, prototypes: [{ classId: 3, values: new Float32Array([0, NaN]) }] }), 'E_NON_FINITE', 'upload: class 3 value 1 is not finite (NaN)');
  throwsExactly(() => encodeUpload(A1, { ...UPLOAD_BODY, valueType: 'float16', prototypes: [{ classId: 3, values: new Float32Array([70000, 0]) }] }), 'E_NON_FINITE', 'upload: class 3 value 0 = 70000 overflows float16 (max 65504)');
  throwsExactly(() => encodeRound(A1, { method: 'local', valueType: 'float32', deadlineMs: NaN, lambda: 1, lr: 1, batchSize: 1, localEpochs: 1, selected: [] }), 'E_NON_FINITE', 'round: deadline is not finite (NaN)');
  throwsExactly(() => decodeRound(rawFrame({ type: 2, payload: '00 00 0000000000000000 0000c0ff 00000000 0100 0100 0000' })), 'E_NON_FINITE', 'round: lambda is not a finite float32 (NaN)');
});
