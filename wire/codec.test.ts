import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
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
  frameOverhead,
  globalSize,
  MessageType,
  peekHeader,
  uploadSize,
  type ValueType,
} from './codec.ts';
import { makeClassMasks } from './masks.ts';
import { Rng } from '../common/rng.ts';
import { fixCrc, hexToBytes, throwsExactly, toHex } from '../test/helpers/codec.ts';

const AGG = { experiment: 'e1', sender: 'agg', round: 0 };
const A1 = { experiment: 'e1', sender: 'a1', round: 1 };

// ------------------------------------------------------------------------------- golden bytes

const MASKS_PARAMS_HEX = [
  '5450', // magic "TP"
  '01', // version 1
  '01', // type 1 = MASKS
  '00', // flags
  '02 6531', // experiment "e1"
  '03 616767', // sender "agg"
  '00000000', // round 0
  '11000000', // payload length 17
  '0a00', // K = 10
  'f401', // d = 500
  '3200', // s = 50
  '00', // mode 0 = generator parameters
  'cdcccc3d', // ratio float32 0x3dcccccd = 0.1
  '2a000000', // seed 42
  'e803', // candidates 1000
  '5655de0a', // CRC-32 0x0ade5556
].join('');

test('golden: MASKS mode 0 (generator parameters)', () => {
  const b = encodeMasks(AGG, { mode: 'params', params: { numClasses: 10, featureDim: 500, ratio: 0.1, seed: 42, candidates: 1000 } });
  assert.equal(toHex(b), MASKS_PARAMS_HEX.replace(/ /g, ''));
  const m = decodeMasks(hexToBytes(MASKS_PARAMS_HEX), { K: 10, d: 500, s: 50 });
  assert.equal(m.body.mode, 'params');
  const ref = makeClassMasks({ numClasses: 10, featureDim: 500, ratio: 0.1, seed: 42, candidates: 1000 });
  assert.deepEqual(m.body.masks, ref);
});

const MASKS_BITSETS_HEX = [
  '5450 01 01 00 026531 03616767 00000000', // magic, v1, MASKS, flags, "e1", "agg", round 0
  '0b000000', // payload length 11
  '0200', // K = 2
  '0a00', // d = 10
  '0300', // s = 3
  '01', // mode 1 = explicit bitsets, ceil(10/8) = 2 bytes per row
  '03 02', // class 0: dims 0,1 (byte 0 bits 0,1) and 9 (byte 1 bit 1)
  '0c 01', // class 1: dims 2,3 (byte 0 bits 2,3) and 8 (byte 1 bit 0)
  '1b02a7cb', // CRC-32 0xcba7021b
].join('');

test('golden: MASKS mode 1 (explicit bitsets, LSB-first)', () => {
  const rows = new Uint8Array(20);
  for (const t of [0, 1, 9]) rows[t] = 1;
  for (const t of [2, 3, 8]) rows[10 + t] = 1;
  const masks = { params: { numClasses: 2, featureDim: 10, ratio: 0.3, seed: 0 }, blockSize: 5, blocksPerClass: 0, codes: [], masks: rows, indices: [], s: 3 };
  assert.equal(toHex(encodeMasks(AGG, { mode: 'bitsets', masks })), MASKS_BITSETS_HEX.replace(/ /g, ''));
  const m = decodeMasks(hexToBytes(MASKS_BITSETS_HEX));
  assert.equal(m.body.mode, 'bitsets');
  assert.deepEqual(m.body.masks.masks, rows);
  assert.deepEqual(m.body.masks.indices, [Int32Array.from([0, 1, 9]), Int32Array.from([2, 3, 8])]);
  assert.equal(m.body.masks.s, 3);
});

const ROUND_HEX = [
  '5450 01 02 00 026531 03616767', // magic, v1, ROUND, flags, "e1", "agg"
  '01000000', // round 1
  '1e000000', // payload length 30
  '00', // method 0 = tinyproto
  '01', // upload value type 1 = float16
  '00008056febc7842', // deadline float64 1700000000000 (0x4278bcfe56800000)
  '00002041', // lambda float32 10
  '0ad7233c', // lr float32 0.01 (0x3c23d70a)
  '2000', // batch size 32
  '0100', // local epochs 1
  '0200', // 2 selected agents
  '02 6131', // "a1"
  '02 6132', // "a2"
  'c99dd38c', // CRC-32 0x8cd39dc9
].join('');

test('golden: ROUND', () => {
  const body = { method: 'tinyproto', valueType: 'float16', deadlineMs: 1.7e12, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: ['a1', 'a2'] } as const;
  const b = encodeRound({ ...AGG, round: 1 }, { ...body, selected: [...body.selected] });
  assert.equal(toHex(b), ROUND_HEX.replace(/ /g, ''));
  const r = decodeRound(hexToBytes(ROUND_HEX), { round: 1 });
  assert.deepEqual(r.body, { ...body, selected: ['a1', 'a2'] }); // lr comes back as 0.01, not 0.009999999776
});

const UPLOAD_HEX = [
  '5450 01 03 00 026531 026131', // magic, v1, UPLOAD, flags, "e1", "a1"
  '01000000', // round 1
  '1a000000', // payload length 26
  '0a00', // K = 10
  '1400', // d = 20
  '0200', // s = 2
  '00', // layout 0 = sparse
  '00', // value type 0 = float32
  '02 02', // presence bitmap: class 1 (byte 0 bit 1), class 9 (byte 1 bit 1)
  '0000803f 000000c0', // class 1: 1.0, -2.0
  '0000003f 0000803e', // class 9: 0.5, 0.25
  '04cfb4cf', // CRC-32 0xcfb4cf04
].join('');

const UPLOAD_F16_HEX = [
  '5450 01 03 00 026531 026131 01000000', // header as above
  '12000000', // payload length 18
  '0a00 1400 0200 00', // K 10, d 20, s 2, sparse
  '01', // value type 1 = float16
  '02 02', // classes 1 and 9
  '003c 00c0', // class 1: half 0x3c00 = 1.0, 0xc000 = -2.0
  '0038 0034', // class 9: 0x3800 = 0.5, 0x3400 = 0.25
  'bf9c4674', // CRC-32 0x74469cbf
].join('');

test('golden: UPLOAD float32 and float16 (classes given out of order are sorted)', () => {
  const protos = [
    { classId: 9, values: new Float32Array([0.5, 0.25]) },
    { classId: 1, values: new Float32Array([1, -2]) },
  ];
  for (const [vt, hex] of [['float32', UPLOAD_HEX], ['float16', UPLOAD_F16_HEX]] as const) {
    const b = encodeUpload(A1, { K: 10, d: 20, s: 2, layout: 'sparse', valueType: vt, prototypes: protos });
    assert.equal(toHex(b), hex.replace(/ /g, ''));
    assert.equal(b.length, uploadSize(10, 2, 2, vt, A1));
    const u = decodeUpload(hexToBytes(hex), { experiment: 'e1', round: 1, K: 10, d: 20, s: 2 });
    assert.deepEqual(u.body, { K: 10, d: 20, s: 2, layout: 'sparse', valueType: vt, prototypes: [protos[1], protos[0]] });
  }
});

const GLOBAL_HEX = [
  '5450 01 04 00 026531 03616767 01000000', // magic, v1, GLOBAL, flags, "e1", "agg", round 1
  '19000000', // payload length 25
  '0300 0200 0200', // K 3, d 2, s 2
  '01', // layout 1 = dense
  '02', // value type 2 = int8
  '05', // presence: classes 0 and 2
  '0200', // class 0: 2 contributors
  '0402013c', // class 0 scale float32(1/127) = 0x3c010204
  '7f c0', // q = 127 (1.0), -64 (-0.5/scale = -63.5, half away from zero)
  '0100', // class 2: 1 contributor
  '00000000', // scale 0 (all values zero)
  '00 00', // q = 0, 0
  'fdcaa9f7', // CRC-32 0xf7a9cafd
].join('');

test('golden: GLOBAL int8 dense', () => {
  const body = {
    K: 3,
    d: 2,
    s: 2,
    layout: 'dense',
    valueType: 'int8',
    prototypes: [
      { classId: 0, contributors: 2, values: new Float32Array([1, -0.5]) },
      { classId: 2, contributors: 1, values: new Float32Array([0, 0]) },
    ],
  } as const;
  const b = encodeGlobal({ ...AGG, round: 1 }, { ...body, prototypes: [...body.prototypes] });
  assert.equal(toHex(b), GLOBAL_HEX.replace(/ /g, ''));
  assert.equal(b.length, globalSize(3, 2, 2, 'int8', AGG));
  const g = decodeGlobal(hexToBytes(GLOBAL_HEX));
  const scale = Math.fround(1 / 127);
  assert.deepEqual(g.body.prototypes[0]!.values, new Float32Array([127 * scale, -64 * scale]));
  assert.equal(g.body.prototypes[0]!.contributors, 2);
  assert.deepEqual(g.body.prototypes[1], { classId: 2, contributors: 1, values: new Float32Array(2) });
});

const STATUS_HEX = [
  '5450 01 05 00 026531 026131', // magic, v1, STATUS, flags, "e1", "a1"
  '02000000', // round 2
  '19000000', // payload length 25
  '02', // state 2 = training
  '00008056febc7842', // time float64 1700000000000
  '01000000', // last completed round 1
  '07 7265736e657438', // model family "resnet8"
  '0200 6f6b', // note: 2 bytes "ok"
  '38362d2f', // CRC-32 0x2f2d3638
].join('');

test('golden: STATUS, and peekHeader / decodeMessage on every golden message', () => {
  const body = { state: 'training', timeMs: 1.7e12, lastRound: 1, modelFamily: 'resnet8', note: 'ok' } as const;
  assert.equal(toHex(encodeStatus({ ...A1, round: 2 }, body)), STATUS_HEX.replace(/ /g, ''));
  assert.deepEqual(decodeStatus(hexToBytes(STATUS_HEX)).body, body);
  const all: Array<[string, number]> = [
    [MASKS_PARAMS_HEX, MessageType.Masks],
    [MASKS_BITSETS_HEX, MessageType.Masks],
    [ROUND_HEX, MessageType.Round],
    [UPLOAD_HEX, MessageType.Upload],
    [UPLOAD_F16_HEX, MessageType.Upload],
    [GLOBAL_HEX, MessageType.Global],
    [STATUS_HEX, MessageType.Status],
  ];
  for (const [hex, type] of all) {
    const buf = hexToBytes(hex);
    const h = peekHeader(buf);
    assert.equal(h.type, type);
    assert.equal(h.totalLength, buf.length);
    assert.equal(h.headerLength + h.payloadLength + 4, buf.length);
    assert.equal(h.headerLength + 4, frameOverhead(h.experiment, h.sender));
    assert.equal(decodeMessage(buf).type, type);
  }
  const msg = decodeMessage(hexToBytes(STATUS_HEX), { type: MessageType.Status });
  if (msg.type === MessageType.Status) assert.equal(msg.body.modelFamily, 'resnet8');
  else assert.fail('narrowing');
});

// -------------------------------------------------------------------------------- round trips

function randomValues(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(10) === 0 ? 0 : rng.normal() * 3;
  return v;
}

for (const K of [10, 100]) {
  for (const layout of ['sparse', 'dense'] as const) {
    for (const valueType of ['float32', 'float16', 'int8'] as ValueType[]) {
      test(`round trip UPLOAD and GLOBAL: K=${K} d=500 ${layout} ${valueType}`, () => {
        const d = 500;
        const masks = makeClassMasks({ numClasses: K, featureDim: d, ratio: 0.1, seed: 3 });
        const s = layout === 'sparse' ? masks.s : d;
        const rng = new Rng(K * 7 + s);
        const present = Array.from({ length: K }, (_, j) => j).filter(() => rng.next() < 0.4);
        const prototypes = present.map((classId) => ({ classId, values: randomValues(rng, s), contributors: 1 + rng.int(20) }));
        const ids = { experiment: 'exp.1', sender: 'agent-07', round: 5 };
        const up = encodeUpload(ids, { K, d, s, layout, valueType, prototypes: prototypes.map(({ classId, values }) => ({ classId, values })) });
        assert.equal(up.length, uploadSize(K, present.length, s, valueType, ids));
        const gl = encodeGlobal({ ...ids, sender: 'aggregator' }, { K, d, s, layout, valueType, prototypes });
        assert.equal(gl.length, globalSize(K, present.length, s, valueType, { ...ids, sender: 'aggregator' }));
        const u = decodeUpload(up, { experiment: 'exp.1', round: 5, K, d, s });
        const g = decodeGlobal(gl, { experiment: 'exp.1', minRound: 5, K, d, s });
        assert.deepEqual(u.header.sender, 'agent-07');
        for (const dec of [u.body, g.body]) {
          assert.equal(dec.prototypes.length, present.length);
          dec.prototypes.forEach((p, i) => {
            const src = prototypes[i]!;
            assert.equal(p.classId, src.classId);
            assert.equal(p.values.length, s);
            let maxAbs = 0;
            for (const x of src.values) maxAbs = Math.max(maxAbs, Math.abs(x));
            const scale = Math.fround(maxAbs / 127);
            for (let t = 0; t < s; t++) {
              const v = src.values[t]!;
              const x = p.values[t]!;
              if (valueType === 'float32') assert.equal(x, v);
              else if (valueType === 'float16') assert.ok(Math.abs(x - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `${x} vs ${v}`);
              else assert.ok(Math.abs(x - v) <= (scale / 2) * (1 + 1e-6) + Math.abs(v) * 2 ** -23, `${x} vs ${v}`);
            }
          });
        }
        g.body.prototypes.forEach((p, i) => assert.equal(p.contributors, prototypes[i]!.contributors));
      });
    }
  }
}

test('round trip MASKS: generator parameters and explicit bitsets, K=10 and K=100', () => {
  for (const K of [10, 100]) {
    const params = { numClasses: K, featureDim: 500, ratio: 0.1, seed: 1234, candidates: 200 };
    const ref = makeClassMasks(params);
    const m0 = decodeMasks(encodeMasks(AGG, { mode: 'params', params }), { K, d: 500, s: ref.s });
    assert.deepEqual(m0.body.masks, ref);
    const m1 = decodeMasks(encodeMasks(AGG, { mode: 'bitsets', masks: ref }), { K, d: 500, s: ref.s });
    assert.deepEqual(m1.body.masks.masks, ref.masks);
    assert.deepEqual(m1.body.masks.indices, ref.indices);
    assert.deepEqual(m1.body.masks.codes, ref.codes); // block-structured rows give back the codes
    assert.equal(m1.body.masks.blocksPerClass, ref.blocksPerClass);
    assert.equal(m1.body.masks.blockSize, ref.blockSize);
    assert.ok(Number.isNaN(m1.body.masks.params.seed)); // explicit masks cannot be regenerated
  }
});

test('round trip ROUND (everyone, fedproto, int8) and STATUS (UTF-8 note, empty family)', () => {
  const body = { method: 'fedproto', valueType: 'int8', deadlineMs: 1712345678901.5, lambda: 0.5, lr: 0.05, batchSize: 64, localEpochs: 2, selected: [] } as const;
  assert.deepEqual(decodeRound(encodeRound(A1, { ...body, selected: [] })).body, { ...body, selected: [] });
  for (const state of ['offline', 'online', 'training', 'uploading', 'idle'] as const) {
    const st = { state, timeMs: 1.5e12, lastRound: 4294967295, modelFamily: '', note: 'grüße ✓ 🚀 '.repeat(state.length) };
    assert.deepEqual(decodeStatus(encodeStatus(A1, st)).body, st);
  }
  const max = { state: 'idle', timeMs: 0, lastRound: 0, modelFamily: 'efficientnet-lite', note: 'é'.repeat(128) } as const;
  assert.deepEqual(decodeStatus(encodeStatus(A1, max)).body, max);
});

test('sizes: 3-class UPLOAD, K=10 d=500 s=50 (TinyProto) vs dense (FedProto)', () => {
  const ids = { experiment: 'cifar10', sender: 'agent-01' };
  assert.equal(frameOverhead(ids.experiment, ids.sender), 34); // 19 + 7 + 8
  assert.equal(uploadSize(10, 3, 50, 'float32', ids), 34 + 10 + 3 * 200);
  assert.equal(uploadSize(10, 3, 50, 'float16', ids), 34 + 10 + 3 * 100);
  assert.equal(uploadSize(10, 3, 50, 'int8', ids), 34 + 10 + 3 * 54);
  assert.equal(uploadSize(10, 3, 500, 'float32', ids), 34 + 10 + 3 * 2000);
});

test('decoders accept a Node Buffer view at a non-zero offset (as MQTT clients deliver)', () => {
  const msg = hexToBytes(UPLOAD_F16_HEX);
  const pool = Buffer.alloc(msg.length + 13);
  pool.set(msg, 13);
  const view = pool.subarray(13);
  assert.equal(view.byteOffset, 13);
  assert.deepEqual(decodeUpload(view).body.prototypes[1]!.values, new Float32Array([0.5, 0.25]));
});

test('PROTOCOL.md: every hex example decodes', async () => {
  const { readFileSync } = await import('node:fs');
  const md = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
  const inline = [...md.matchAll(/`(5450[0-9a-f ]+)`/g)].map((m) => m[1]!);
  const block = /```\n(54 50[\s\S]*?)```/.exec(md)?.[1];
  assert.ok(block !== undefined && inline.length >= 5);
  for (const hex of [...inline, block]) assert.ok(decodeMessage(hexToBytes(hex)).header.totalLength > 0);
  assert.equal(toHex(hexToBytes(block)), UPLOAD_HEX.replace(/ /g, ''));
});

test('ROUND by rank threshold (fleets too large to list): count 0xFFFF, then the u64 threshold', () => {
  const body = { method: 'tinyproto', valueType: 'float32', deadlineMs: 1.7e12, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: [] as string[], rankThreshold: 2 ** 52 + 5 } as const;
  const b = encodeRound({ ...AGG, round: 4 }, { ...body, selected: [] });
  const h = peekHeader(b);
  // the payload ends with ffff and the threshold as lo u32, hi u32
  assert.equal(Buffer.from(b.subarray(h.headerLength + 22, h.headerLength + h.payloadLength)).toString('hex'), 'ffff' + '05000000' + '00001000');
  assert.equal(h.payloadLength, 32);
  assert.deepEqual(decodeRound(b).body, { ...body, selected: [] });
  throwsExactly(() => encodeRound(AGG, { ...body, selected: ['a1'] }), 'E_CODEC_FIELD', 'round: a round selects by list or by rank threshold, not both');
  throwsExactly(() => encodeRound(AGG, { ...body, selected: [], rankThreshold: 2 ** 53 }), 'E_CODEC_FIELD', 'round: rank threshold must be an integer in [0, 9007199254740991], got 9007199254740992');
  const bad = Uint8Array.from(b);
  bad[h.headerLength + 31] = 0x20; // high word 0x20100000 > 0x001fffff
  fixCrc(bad);
  throwsExactly(() => decodeRound(bad), 'E_CODEC_FIELD', 'round: rank threshold must be an integer in [0, 9007199254740991], got 2310346608841064453');
});
