/**
 * Seeded fuzz (in the spirit of mqtt-packet's testRandom.js): decoders either return a value or
 * throw a TinyProtoError, never anything else; random valid messages round-trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage,
  encodeGlobal,
  encodeMasks,
  encodeRound,
  encodeStatus,
  encodeTelemetry,
  encodeUpload,
  ENERGY_SOURCES,
  MessageType,
  peekHeader,
  type DecodeExpect,
  type TelemetryBody,
  type ValueType,
} from './codec.ts';
import { makeClassMasks } from './masks.ts';
import { TinyProtoError, type ErrorCode } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import { fixCrc } from '../test/helpers/codec.ts';

const ID_CHARS = 'abcXYZ019._-';
const NOTE_CHARS = ['a', 'Z', ' ', 'é', '✓', '🚀', '\n'];
const VTS: ValueType[] = ['float32', 'float16', 'int8'];

function id(rng: Rng, min = 1): string {
  let s = '';
  const n = min + rng.int(33 - min);
  for (let i = 0; i < n; i++) s += ID_CHARS[rng.int(ID_CHARS.length)];
  return s;
}

function values(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  const mag = [1e-6, 1, 100, 3e4][rng.int(4)]!;
  for (let i = 0; i < n; i++) v[i] = rng.int(8) === 0 ? 0 : Math.max(-6e4, Math.min(6e4, rng.normal() * mag));
  return v;
}

interface Sample {
  buf: Uint8Array;
  type: MessageType;
  check: (m: ReturnType<typeof decodeMessage>) => void;
}

function randomMessage(rng: Rng): Sample {
  const h = { experiment: id(rng), sender: id(rng), round: rng.nextUint32() };
  const type = (1 + rng.int(6)) as MessageType;
  switch (type) {
    case MessageType.Masks: {
      const K = 2 + rng.int(11);
      const params = { numClasses: K, featureDim: K + rng.int(60), ratio: [0.1, 0.2, 0.5, 1][rng.int(4)]!, seed: rng.nextUint32(), candidates: 1 + rng.int(50) };
      const body = rng.int(2) === 0 ? ({ mode: 'params', params } as const) : ({ mode: 'bitsets', masks: makeClassMasks(params) } as const);
      const ref = body.mode === 'params' ? makeClassMasks(params) : body.masks;
      return {
        buf: encodeMasks(h, body),
        type,
        check: (m) => {
          assert.equal(m.type, MessageType.Masks);
          if (m.type === MessageType.Masks) assert.deepEqual(m.body.masks.masks, ref.masks);
        },
      };
    }
    case MessageType.Round: {
      const body = {
        method: (['tinyproto', 'fedproto', 'local'] as const)[rng.int(3)]!,
        valueType: VTS[rng.int(3)]!,
        deadlineMs: Math.floor(rng.next() * 2e12),
        lambda: [0, 1, 10][rng.int(3)]!,
        lr: [0.01, 0.1, 0.5][rng.int(3)]!,
        batchSize: 1 + rng.int(256),
        localEpochs: rng.int(5),
        selected: [...new Set(Array.from({ length: rng.int(4) }, () => id(rng)))],
      };
      return { buf: encodeRound(h, body), type, check: (m) => assert.deepEqual(m.body, body) };
    }
    case MessageType.Upload:
    case MessageType.Global: {
      const K = 1 + rng.int(20);
      const d = 1 + rng.int(40);
      const layout = rng.int(2) === 0 ? 'sparse' : 'dense';
      const s = layout === 'dense' ? d : 1 + rng.int(d);
      const valueType = VTS[rng.int(3)]!;
      const prototypes: Array<{ classId: number; values: Float32Array; contributors: number }> = [];
      for (let j = 0; j < K; j++) if (rng.int(2) === 0) prototypes.push({ classId: j, values: values(rng, s), contributors: rng.int(70000) % 65536 });
      const body = { K, d, s, layout, valueType, prototypes } as const;
      // half the uploads report a training-sample count (1..2^31), half are an older agent's
      const trainSamples = type === MessageType.Upload && rng.int(2) === 0 ? 1 + rng.int(2 ** 31) : undefined;
      const buf = type === MessageType.Upload ? encodeUpload(h, { ...body, prototypes, trainSamples }) : encodeGlobal(h, { ...body, prototypes });
      return {
        buf,
        type,
        check: (m) => {
          assert.ok(m.type === MessageType.Upload || m.type === MessageType.Global);
          if (m.type !== MessageType.Upload && m.type !== MessageType.Global) return;
          assert.deepEqual(m.body.prototypes.map((p) => p.classId), prototypes.map((p) => p.classId));
          if (m.type === MessageType.Upload) assert.equal(m.body.trainSamples, trainSamples);
          if (valueType === 'float32') m.body.prototypes.forEach((p, i) => assert.deepEqual(p.values, prototypes[i]!.values));
        },
      };
    }
    case MessageType.Telemetry: {
      const body = randomTelemetry(rng);
      return { buf: encodeTelemetry(h, body), type, check: (m) => assert.deepEqual(m.body, float32View(body)) };
    }
    default: {
      let note = '';
      for (let i = rng.int(40); i > 0; i--) note += NOTE_CHARS[rng.int(NOTE_CHARS.length)];
      const body = {
        state: (['offline', 'online', 'training', 'uploading', 'idle'] as const)[rng.int(5)]!,
        timeMs: rng.next() * 2e12,
        lastRound: rng.nextUint32(),
        modelFamily: rng.int(3) === 0 ? '' : id(rng),
        note,
      };
      return { buf: encodeStatus(h, body), type, check: (m) => assert.deepEqual(m.body, body) };
    }
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function randomTelemetry(rng: Rng): TelemetryBody {
  const secs = (): number => [0, rng.next() * 1e-3, rng.next() * 10, rng.next() * 1e5][rng.int(4)]!;
  const bytes = (): number => Math.min(MAX_SAFE, Math.floor(rng.next() * [1e3, 2 ** 32, 2 ** 40, 2 ** 53][rng.int(4)]!));
  const frac = (): number => [0, 1, rng.next(), rng.int(101) / 100][rng.int(4)]!;
  let detail = '';
  for (let i = rng.int(3) === 0 ? 0 : rng.int(60); i > 0; i--) detail += NOTE_CHARS[rng.int(NOTE_CHARS.length)];
  return {
    family: id(rng, 0),
    board: id(rng, 0),
    phases: { dataLoad: secs(), train: secs(), prototypes: secs(), encode: secs(), upload: secs(), waitGlobal: secs(), evaluate: secs(), round: secs() },
    memory: {
      peakRssBytes: bytes(),
      heapUsedBytes: bytes(),
      engineBytes: bytes(),
      engineTensors: rng.nextUint32(),
      wasmHeapBytes: rng.int(2) === 0 ? null : bytes(),
      freeSystemBytes: bytes(),
    },
    cpu: { userSeconds: secs(), systemSeconds: secs() },
    net: { bytesSent: bytes(), bytesReceived: bytes() },
    temperatureC: rng.int(2) === 0 ? null : rng.normal() * 30 + 40,
    energy: { joules: rng.next() * 1e4, source: ENERGY_SOURCES[rng.int(ENERGY_SOURCES.length)]!, detail },
    accuracy: rng.int(3) === 0 ? null : { head: frac(), prototype: rng.int(2) === 0 ? null : frac(), testCount: rng.nextUint32() },
    at: rng.next() * 2e12,
  };
}

/** What a decoder returns for `b`: the float32 fields as the shortest decimal of their float32. */
function float32View(b: TelemetryBody): TelemetryBody {
  const f = (v: number): number => {
    const x = Math.fround(v);
    for (let p = 1; p <= 9; p++) if (Math.fround(Number(x.toPrecision(p))) === x) return Number(x.toPrecision(p));
    return x;
  };
  const ph = b.phases;
  return {
    ...b,
    phases: { dataLoad: f(ph.dataLoad), train: f(ph.train), prototypes: f(ph.prototypes), encode: f(ph.encode), upload: f(ph.upload), waitGlobal: f(ph.waitGlobal), evaluate: f(ph.evaluate), round: f(ph.round) },
    cpu: { userSeconds: f(b.cpu.userSeconds), systemSeconds: f(b.cpu.systemSeconds) },
    temperatureC: b.temperatureC === null ? null : f(b.temperatureC),
    accuracy: b.accuracy === null ? null : { head: f(b.accuracy.head), prototype: b.accuracy.prototype === null ? null : f(b.accuracy.prototype), testCount: b.accuracy.testCount },
  };
}

/** Decode, and insist that any failure is a TinyProtoError; count codes. */
function probe(buf: Uint8Array, seen: Map<ErrorCode, number>, expect?: DecodeExpect): void {
  try {
    decodeMessage(buf, expect);
  } catch (e) {
    assert.ok(e instanceof TinyProtoError, `non-TinyProtoError thrown: ${String(e)}`);
    seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
  }
  try {
    peekHeader(buf);
  } catch (e) {
    assert.ok(e instanceof TinyProtoError, `peekHeader threw ${String(e)}`);
  }
}

test('fuzz: random buffers (raw, "TP\\x01"-prefixed, CRC-fixed) only ever throw TinyProtoError', () => {
  const rng = new Rng(20250704);
  const seen = new Map<ErrorCode, number>();
  for (let iter = 0; iter < 4000; iter++) {
    const b = new Uint8Array(rng.int(64));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
    if (iter % 2 === 1 && b.length >= 3) b.set([0x54, 0x50, 0x01]);
    if (iter % 4 === 3) fixCrc(b);
    probe(b, seen);
  }
  for (const code of ['E_CODEC_MAGIC', 'E_CODEC_TRUNCATED'] as const) assert.ok((seen.get(code) ?? 0) > 0, code);
});

test('fuzz: valid messages with byte mutations, truncations, extensions (with and without CRC fix-up)', () => {
  const rng = new Rng(42);
  const corpus = Array.from({ length: 150 }, () => randomMessage(rng));
  const seen = new Map<ErrorCode, number>();
  for (let iter = 0; iter < 8000; iter++) {
    const src = corpus[rng.int(corpus.length)]!.buf;
    let b: Uint8Array;
    const kind = rng.int(4);
    if (kind === 0) {
      b = src.slice(0, rng.int(src.length)); // truncation
    } else if (kind === 1) {
      b = new Uint8Array(src.length + 1 + rng.int(8)); // extension
      b.set(src);
      for (let i = src.length; i < b.length; i++) b[i] = rng.int(256);
    } else {
      b = src.slice();
      for (let n = 1 + rng.int(3); n > 0; n--) {
        const at = rng.int(b.length);
        b[at] = rng.int(2) === 0 ? b[at]! ^ (1 << rng.int(8)) : rng.int(256);
      }
    }
    if (rng.int(2) === 0) fixCrc(b); // reach the validation behind the CRC
    probe(b, seen, rng.int(4) === 0 ? { K: 10, d: 20, minRound: 5 } : undefined);
  }
  for (const code of ['E_CODEC_CRC', 'E_CODEC_TRUNCATED', 'E_CODEC_TRAILING', 'E_CODEC_FIELD', 'E_SHAPE', 'E_CODEC_TYPE', 'E_CODEC_VERSION', 'E_CODEC_MAGIC']) {
    assert.ok((seen.get(code as ErrorCode) ?? 0) > 0, `fuzz never produced ${code}: ${JSON.stringify([...seen])}`);
  }
});

test('fuzz: random valid messages round-trip', () => {
  const rng = new Rng(7);
  for (let iter = 0; iter < 8000; iter++) {
    const m = randomMessage(rng);
    const d = decodeMessage(m.buf);
    assert.equal(d.type, m.type);
    assert.equal(d.header.totalLength, m.buf.length);
    m.check(d);
  }
});

test('fuzz: TELEMETRY payload mutations: failures are TinyProtoErrors, successes re-encode to the same bytes', () => {
  const rng = new Rng(606);
  const seen = new Map<ErrorCode, number>();
  let decoded = 0;
  for (let iter = 0; iter < 3000; iter++) {
    const h = { experiment: id(rng), sender: id(rng), round: rng.nextUint32() };
    const src = encodeTelemetry(h, randomTelemetry(rng));
    const { headerLength, payloadLength } = peekHeader(src);
    const b = src.slice();
    for (let n = 1 + rng.int(2); n > 0; n--) {
      const at = headerLength + rng.int(payloadLength);
      const kind = rng.int(4);
      if (kind === 3) b[headerLength] = rng.int(16); // other presence flags: fields shift
      else if (kind === 0) b[at] = b[at]! ^ (1 << rng.int(8));
      else if (kind === 1) b[at] = rng.int(256);
      else b.set([0xff, 0xff].slice(0, headerLength + payloadLength - at), at); // NaN/Inf exponents, u64 high words
    }
    fixCrc(b);
    try {
      const m = decodeMessage(b);
      assert.equal(m.type, MessageType.Telemetry);
      if (m.type !== MessageType.Telemetry) continue;
      assert.deepEqual(encodeTelemetry(m.header, m.body), b); // the encoding is canonical
      decoded++;
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(e instanceof TinyProtoError, `non-TinyProtoError thrown: ${String(e)}`);
      seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
    }
  }
  assert.ok(decoded > 100, `only ${decoded} mutants decoded`);
  for (const code of ['E_CODEC_FIELD', 'E_NON_FINITE', 'E_CODEC_TRUNCATED', 'E_CODEC_TRAILING']) {
    assert.ok((seen.get(code as ErrorCode) ?? 0) > 0, `telemetry fuzz never produced ${code}: ${JSON.stringify([...seen])}`);
  }
});
