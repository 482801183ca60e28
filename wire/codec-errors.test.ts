/** One exact error (code AND message) for every kind of bad input, encoder and decoder side. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  decodeGlobal,
  decodeMasks,
  decodeMessage,
  decodeRound,
  decodeStatus,
  decodeTelemetry,
  decodeUpload,
  encodeGlobal,
  encodeMasks,
  encodeRound,
  encodeStatus,
  encodeTelemetry,
  encodeUpload,
  MessageType,
  peekHeader,
  uploadSize,
  type TelemetryBody,
  type UploadBody,
} from './codec.ts';
import { crc32 } from './crc32.ts';
import { fixCrc, rawFrame, TELEMETRY_BODY, throwsExactly } from '../test/helpers/codec.ts';

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

test('E_CODEC_TYPE: unknown (0, >= 10), not the expected type; 6 (TELEMETRY), 7 (RECEIPT), 8 (PARTIAL) and 9 (EXPERIMENT) are known types', () => {
  throwsExactly(() => decodeMessage(rawFrame({ type: 10, payload: '' })), 'E_CODEC_TYPE', 'message: unknown message type 10');
  assert.equal(peekHeader(rawFrame({ type: 9, payload: '' })).type, MessageType.Experiment);
  assert.equal(peekHeader(rawFrame({ type: 8, payload: '' })).type, MessageType.Partial);
  assert.equal(peekHeader(rawFrame({ type: 7, payload: '' })).type, MessageType.Receipt);
  throwsExactly(() => decodeMessage(rawFrame({ type: 0, payload: '' })), 'E_CODEC_TYPE', 'message: unknown message type 0');
  assert.equal(peekHeader(rawFrame({ type: 6, payload: '00' })).type, MessageType.Telemetry);
  throwsExactly(() => decodeMessage(rawFrame({ type: 6, payload: '00' })), 'E_CODEC_TRUNCATED', 'telemetry: truncated: energy.source needs 1 bytes at payload offset 1, 0 remain');
  throwsExactly(() => decodeTelemetry(up()), 'E_CODEC_TYPE', 'telemetry: expected message type 6 (TELEMETRY), got 3 (UPLOAD)');
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
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, flags: 2, payload: '' })), 'E_CODEC_FIELD', 'upload: reserved flags 0x02 set (only bit 0, signed, and with it bit 1, key, are defined in version 1)');
  throwsExactly(() => decodeUpload(rawFrame({ type: 3, flags: 0x80, payload: '' })), 'E_CODEC_FIELD', 'upload: reserved flags 0x80 set (only bit 0, signed, and with it bit 1, key, are defined in version 1)');
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

// ------------------------------------------------------------------------------------ TELEMETRY
// The minimal golden TELEMETRY payload (codec-telemetry.test.ts) split into its parts, so each
// case below patches exactly one field by payload offset (PROTOCOL.md §3.6).
const TEL_FIXED = [
  '00 04', // 0 flags, 1 energy source (estimate)
  '00000000 00002040 0000003e 0ad7233c 0ad7a33c 0000003f 0000803e 85eb5940', // 2 phases
  '00003040 0000003e', // 34 cpu.userSeconds, 38 cpu.systemSeconds
  '00c2eb0b00000000 80f0fa0200000000 8096980000000000 2a000000 00bca06501000000', // 42 memory
  'b004000000000000 8403000000000000', // 78 net.bytesSent, 86 net.bytesReceived
  '0000000000000840', // 94 energy.joules 3
  '00008056febc7842', // 102 at
].join('');
const TEL_STRINGS = '00 0b7838362d67656e65726963 0000'; // family "", board "x86-generic", detail ""

/** A TELEMETRY frame: the minimal payload with bytes patched at payload offsets, optional fields, strings. */
function tel(patch: Record<number, string> = {}, optional = '', strings = TEL_STRINGS, extra = ''): Uint8Array {
  const p = Buffer.from(TEL_FIXED.replace(/ /g, ''), 'hex');
  for (const [at, hex] of Object.entries(patch)) Buffer.from(hex.replace(/ /g, ''), 'hex').copy(p, Number(at));
  return rawFrame({ type: 6, payload: `${p.toString('hex')} ${optional} ${strings} ${extra}` });
}
const T1 = { experiment: 'e1', sender: 'a1', round: 1 };
const telBody = (o: Partial<TelemetryBody>): TelemetryBody => ({ ...TELEMETRY_BODY, ...o });

test('TELEMETRY decoder: one exact error per invalid field kind', () => {
  assert.equal(decodeTelemetry(tel()).body.board, 'x86-generic'); // the unpatched payload is valid
  // flags and enums
  throwsExactly(() => decodeTelemetry(tel({ 0: '10' })), 'E_CODEC_FIELD', 'telemetry: presence flags 0x10 have undefined bits set (defined: 0x0f)');
  throwsExactly(() => decodeTelemetry(tel({ 0: '80' })), 'E_CODEC_FIELD', 'telemetry: presence flags 0x80 have undefined bits set (defined: 0x0f)');
  throwsExactly(() => decodeTelemetry(tel({ 0: '08' }, '0000003f')), 'E_CODEC_FIELD', 'telemetry: presence flags 0x08 mark accuracy.prototype without accuracy');
  throwsExactly(() => decodeTelemetry(tel({ 1: '05' })), 'E_CODEC_FIELD', 'telemetry: energy.source 5 is not defined (0..4)');
  // float32 seconds: NaN / Inf and negative
  throwsExactly(() => decodeTelemetry(tel({ 6: '0000c07f' })), 'E_NON_FINITE', 'telemetry: phases.train is not a finite float32 (NaN)');
  throwsExactly(() => decodeTelemetry(tel({ 30: '0000807f' })), 'E_NON_FINITE', 'telemetry: phases.round is not a finite float32 (Infinity)');
  throwsExactly(() => decodeTelemetry(tel({ 14: '000080bf' })), 'E_CODEC_FIELD', 'telemetry: phases.encode must be >= 0, got -1');
  throwsExactly(() => decodeTelemetry(tel({ 38: '000080ff' })), 'E_NON_FINITE', 'telemetry: cpu.systemSeconds is not a finite float32 (-Infinity)');
  throwsExactly(() => decodeTelemetry(tel({ 34: '000000c0' })), 'E_CODEC_FIELD', 'telemetry: cpu.userSeconds must be >= 0, got -2');
  // u64 byte counts above 2^53 - 1
  throwsExactly(() => decodeTelemetry(tel({ 70: '0000000000002000' })), 'E_CODEC_FIELD', 'telemetry: memory.freeSystemBytes must be an integer in [0, 9007199254740991], got 9007199254740992');
  throwsExactly(() => decodeTelemetry(tel({ 86: 'ffffffffffffffff' })), 'E_CODEC_FIELD', 'telemetry: net.bytesReceived must be an integer in [0, 9007199254740991], got 18446744073709551615');
  // float64 joules / at
  throwsExactly(() => decodeTelemetry(tel({ 94: '000000000000f8ff' })), 'E_NON_FINITE', 'telemetry: energy.joules is not finite (NaN)');
  throwsExactly(() => decodeTelemetry(tel({ 94: '000000000000f0bf' })), 'E_CODEC_FIELD', 'telemetry: energy.joules must be >= 0, got -1');
  throwsExactly(() => decodeTelemetry(tel({ 102: '000000000000f07f' })), 'E_NON_FINITE', 'telemetry: at is not finite (Infinity)');
  throwsExactly(() => decodeTelemetry(tel({ 102: '000000000000f0bf' })), 'E_CODEC_FIELD', 'telemetry: at must be >= 0, got -1');
  // optional fields: wasm heap above 2^53 - 1, temperature NaN, accuracy outside [0, 1]
  throwsExactly(() => decodeTelemetry(tel({ 0: '01' }, '0000000000004000')), 'E_CODEC_FIELD', 'telemetry: memory.wasmHeapBytes must be an integer in [0, 9007199254740991], got 18014398509481984');
  throwsExactly(() => decodeTelemetry(tel({ 0: '02' }, '0000c0ff')), 'E_NON_FINITE', 'telemetry: temperatureC is not a finite float32 (NaN)');
  throwsExactly(() => decodeTelemetry(tel({ 0: '04' }, '0000c03f 64000000')), 'E_CODEC_FIELD', 'telemetry: accuracy.head must be in [0, 1], got 1.5');
  throwsExactly(() => decodeTelemetry(tel({ 0: '04' }, '0000807f 64000000')), 'E_NON_FINITE', 'telemetry: accuracy.head is not a finite float32 (Infinity)');
  throwsExactly(() => decodeTelemetry(tel({ 0: '0c' }, '0000003f 64000000 000000bf')), 'E_CODEC_FIELD', 'telemetry: accuracy.prototype must be in [0, 1], got -0.5');
  // ids and the detail string
  throwsExactly(() => decodeTelemetry(tel({}, '', '01 20 00 0000')), 'E_CODEC_FIELD', 'telemetry: family contains invalid character 0x20 at position 0 (allowed: A-Za-z0-9._-)');
  throwsExactly(() => decodeTelemetry(tel({}, '', `00 21 ${'62'.repeat(33)} 0000`)), 'E_CODEC_FIELD', 'telemetry: board has 33 characters, must be 0..32');
  throwsExactly(() => decodeTelemetry(tel({}, '', `00 00 0101 ${'61'.repeat(257)}`)), 'E_CODEC_FIELD', 'telemetry: energy.detail is 257 UTF-8 bytes, limit 256');
  throwsExactly(() => decodeTelemetry(tel({}, '', '00 00 0200 c328')), 'E_CODEC_FIELD', 'telemetry: energy.detail is not valid UTF-8');
  // truncated body (fixed part, an optional field the flags announce, a string) and trailing bytes
  throwsExactly(() => decodeTelemetry(rawFrame({ type: 6, payload: TEL_FIXED.replace(/ /g, '').slice(0, 100) })), 'E_CODEC_TRUNCATED', 'telemetry: truncated: memory.heapUsedBytes needs 8 bytes at payload offset 50, 0 remain');
  throwsExactly(() => decodeTelemetry(tel({ 0: '01' }, '', '')), 'E_CODEC_TRUNCATED', 'telemetry: truncated: memory.wasmHeapBytes needs 8 bytes at payload offset 110, 0 remain');
  throwsExactly(() => decodeTelemetry(tel({}, '', '00 00 0300 6162')), 'E_CODEC_TRUNCATED', 'telemetry: truncated: energy.detail needs 3 bytes at payload offset 114, 2 remain');
  throwsExactly(() => decodeTelemetry(tel({}, '', TEL_STRINGS, 'ff')), 'E_CODEC_TRAILING', 'telemetry: payload declares 126 bytes but the body uses 125');
  // decodeMessage reports the same errors under the telemetry context
  throwsExactly(() => decodeMessage(tel({ 1: '09' })), 'E_CODEC_FIELD', 'telemetry: energy.source 9 is not defined (0..4)');
});

test('TELEMETRY encoder: refuses invalid records with the same codes', () => {
  const mem = TELEMETRY_BODY.memory;
  const enc = (o: Partial<TelemetryBody>) => () => encodeTelemetry(T1, telBody(o));
  throwsExactly(enc({ phases: { ...TELEMETRY_BODY.phases, train: NaN } }), 'E_NON_FINITE', 'telemetry: phases.train is not a finite float32 (NaN)');
  throwsExactly(enc({ phases: { ...TELEMETRY_BODY.phases, round: 1e39 } }), 'E_NON_FINITE', 'telemetry: phases.round is not a finite float32 (1e+39)');
  throwsExactly(enc({ phases: { ...TELEMETRY_BODY.phases, upload: -0.5 } }), 'E_CODEC_FIELD', 'telemetry: phases.upload must be >= 0, got -0.5');
  throwsExactly(enc({ cpu: { userSeconds: 1, systemSeconds: -1 } }), 'E_CODEC_FIELD', 'telemetry: cpu.systemSeconds must be >= 0, got -1');
  throwsExactly(enc({ memory: { ...mem, peakRssBytes: 1.5 } }), 'E_CODEC_FIELD', 'telemetry: memory.peakRssBytes must be an integer in [0, 9007199254740991], got 1.5');
  throwsExactly(enc({ memory: { ...mem, wasmHeapBytes: 2 ** 53 } }), 'E_CODEC_FIELD', 'telemetry: memory.wasmHeapBytes must be an integer in [0, 9007199254740991], got 9007199254740992');
  throwsExactly(enc({ memory: { ...mem, engineTensors: -1 } }), 'E_CODEC_FIELD', 'telemetry: memory.engineTensors must be an integer in [0, 4294967295], got -1');
  throwsExactly(enc({ net: { bytesSent: Infinity, bytesReceived: 0 } }), 'E_NON_FINITE', 'telemetry: net.bytesSent is not finite (Infinity)');
  throwsExactly(enc({ net: { bytesSent: 0, bytesReceived: -1 } }), 'E_CODEC_FIELD', 'telemetry: net.bytesReceived must be an integer in [0, 9007199254740991], got -1');
  throwsExactly(enc({ temperatureC: Infinity }), 'E_NON_FINITE', 'telemetry: temperatureC is not a finite float32 (Infinity)');
  throwsExactly(enc({ energy: { joules: NaN, source: 'rapl', detail: '' } }), 'E_NON_FINITE', 'telemetry: energy.joules is not finite (NaN)');
  throwsExactly(enc({ energy: { joules: -1, source: 'rapl', detail: '' } }), 'E_CODEC_FIELD', 'telemetry: energy.joules must be >= 0, got -1');
  throwsExactly(enc({ energy: { joules: 1, source: 'battery' as never, detail: '' } }), 'E_CODEC_FIELD', 'telemetry: energy.source must be one of rapl, ina3221, pmic, hwmon, estimate, got battery');
  throwsExactly(enc({ energy: { joules: 1, source: 'pmic', detail: 'é'.repeat(129) } }), 'E_CODEC_FIELD', 'telemetry: energy.detail is 258 UTF-8 bytes, limit 256');
  throwsExactly(enc({ energy: { joules: 1, source: 'pmic', detail: 'x\ud800' } }), 'E_CODEC_FIELD', 'telemetry: energy.detail is not well-formed UTF-16 (lone surrogate)');
  throwsExactly(enc({ accuracy: { head: 1.01, prototype: null, testCount: 1 } }), 'E_CODEC_FIELD', 'telemetry: accuracy.head must be in [0, 1], got 1.01');
  throwsExactly(enc({ accuracy: { head: 1, prototype: NaN, testCount: 1 } }), 'E_NON_FINITE', 'telemetry: accuracy.prototype is not a finite float32 (NaN)');
  throwsExactly(enc({ accuracy: { head: 1, prototype: null, testCount: 2.5 } }), 'E_CODEC_FIELD', 'telemetry: accuracy.testCount must be an integer in [0, 4294967295], got 2.5');
  throwsExactly(enc({ at: -1 }), 'E_CODEC_FIELD', 'telemetry: at must be >= 0, got -1');
  throwsExactly(enc({ family: 'res net' }), 'E_CODEC_FIELD', 'telemetry: family contains invalid character 0x20 at position 3 (allowed: A-Za-z0-9._-)');
  throwsExactly(enc({ board: 'b'.repeat(33) }), 'E_CODEC_FIELD', 'telemetry: board has 33 characters, must be 0..32');
  throwsExactly(enc({ memory: null as never }), 'E_CODEC_FIELD', 'telemetry: memory must be an object, got null');
  throwsExactly(() => encodeTelemetry(T1, { ...TELEMETRY_BODY, agent: 'a2' } as TelemetryBody), 'E_CODEC_FIELD', 'telemetry: record agent "a2" differs from the header sender id "a1"');
  throwsExactly(() => encodeTelemetry(T1, { ...TELEMETRY_BODY, round: 2 } as TelemetryBody), 'E_CODEC_FIELD', 'telemetry: record round 2 differs from the header round 1');
  throwsExactly(() => encodeTelemetry({ ...T1, sender: '' }, TELEMETRY_BODY), 'E_CODEC_FIELD', 'telemetry: sender id has 0 characters, must be 1..32');
  throwsExactly(() => encodeTelemetry(T1, TELEMETRY_BODY, { maxBytes: 100 }), 'E_CODEC_OVERSIZE', 'telemetry: encoded message would be 185 bytes, limit 100');
});
