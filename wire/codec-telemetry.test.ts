/** TELEMETRY (type 6): golden bytes, round trips with and without every nullable, record helpers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage,
  decodeTelemetry,
  encodeTelemetry,
  ENERGY_SOURCES,
  frameOverhead,
  MessageType,
  peekHeader,
  telemetryParts,
  telemetryRecord,
  telemetrySize,
  type TelemetryBody,
} from './codec.ts';
import type { RoundTelemetry } from './telemetry.ts';
import { hexToBytes, TELEMETRY_BODY, toHex } from '../test/helpers/codec.ts';

const A1 = { experiment: 'e1', sender: 'a1', round: 3 };

const TELEMETRY_HEX = [
  '5450 01 06 00 026531 026131', // magic, v1, type 6 = TELEMETRY, flags 0, experiment "e1", sender "a1"
  '03000000', // round 3
  'a2000000', // payload length 162 = 110 fixed + 8 wasm + 4 temperature + 12 accuracy + 8 family + 6 board + 14 detail
  '0f', // presence flags: wasmHeapBytes, temperatureC, accuracy, accuracy.prototype
  '00', // energy source 0 = rapl
  '00000000', // phases.dataLoad f32 0
  '00002040', // phases.train f32 2.5
  '0000003e', // phases.prototypes f32 0.125
  '0ad7233c', // phases.encode f32 0.01 (0x3c23d70a)
  '0ad7a33c', // phases.upload f32 0.02 (0x3ca3d70a)
  '0000003f', // phases.waitGlobal f32 0.5
  '0000803e', // phases.evaluate f32 0.25
  '85eb5940', // phases.round f32 3.405 (0x4059eb85)
  '00003040', // cpu.userSeconds f32 2.75
  '0000003e', // cpu.systemSeconds f32 0.125
  '00c2eb0b 00000000', // memory.peakRssBytes u64 200000000
  '80f0fa02 00000000', // memory.heapUsedBytes u64 50000000
  '80969800 00000000', // memory.engineBytes u64 10000000
  '2a000000', // memory.engineTensors u32 42
  '00bca065 01000000', // memory.freeSystemBytes u64 6000000000 (0x1_65a0bc00)
  'b0040000 00000000', // net.bytesSent u64 1200
  '84030000 00000000', // net.bytesReceived u64 900
  '0000000000002940', // energy.joules f64 12.5
  '00008056febc7842', // at f64 1700000000000
  '00000001 00000000', // [flag 0x01] memory.wasmHeapBytes u64 16777216
  '00004242', // [flag 0x02] temperatureC f32 48.5
  '0000003f', // [flag 0x04] accuracy.head f32 0.5
  '64000000', // [flag 0x04] accuracy.testCount u32 100
  '0000203f', // [flag 0x08] accuracy.prototype f32 0.625
  '07 7265736e657438', // family "resnet8"
  '05 7270693462', // board "rpi4b"
  '0c00 696e74656c2d7261706c3a30', // energy.detail: 12 bytes "intel-rapl:0"
  'f526867f', // CRC-32 0x7f8626f5
].join('');

const MINIMAL_BODY: TelemetryBody = {
  ...TELEMETRY_BODY,
  family: '',
  board: 'x86-generic',
  memory: { ...TELEMETRY_BODY.memory, wasmHeapBytes: null },
  temperatureC: null,
  energy: { joules: 3, source: 'estimate', detail: '' },
  accuracy: null,
};

const TELEMETRY_MINIMAL_HEX = [
  '5450 01 06 00 026531 026131 01000000', // TELEMETRY, "e1", "a1", round 1
  '7d000000', // payload length 125 = 110 fixed + 1 family + 12 board + 2 detail
  '00', // presence flags: no wasmHeapBytes, temperatureC or accuracy
  '04', // energy source 4 = estimate
  '00000000 00002040 0000003e 0ad7233c 0ad7a33c 0000003f 0000803e 85eb5940', // phases as above
  '00003040 0000003e', // cpu as above
  '00c2eb0b00000000 80f0fa0200000000 8096980000000000 2a000000 00bca06501000000', // memory as above
  'b004000000000000 8403000000000000', // net as above
  '0000000000000840', // energy.joules f64 3
  '00008056febc7842', // at f64 1700000000000
  '00', // family "" (unknown)
  '0b 7838362d67656e65726963', // board "x86-generic"
  '0000', // energy.detail ""
  'd4217912', // CRC-32 0x127921d4
].join('');

test('golden: TELEMETRY with every optional field', () => {
  const b = encodeTelemetry(A1, TELEMETRY_BODY);
  assert.equal(toHex(b), TELEMETRY_HEX.replace(/ /g, ''));
  assert.equal(b.length, 185);
  assert.equal(b.length, telemetrySize(TELEMETRY_BODY, A1));
  const m = decodeTelemetry(hexToBytes(TELEMETRY_HEX), { experiment: 'e1', round: 3 });
  assert.equal(m.type, MessageType.Telemetry);
  assert.deepEqual(m.body, TELEMETRY_BODY); // 0.01 / 0.02 / 3.405 come back as written (shortest float32 decimal)
  assert.deepEqual({ experiment: m.header.experiment, sender: m.header.sender, round: m.header.round }, A1);
});

test('golden: TELEMETRY without the nullable fields', () => {
  const b = encodeTelemetry({ ...A1, round: 1 }, MINIMAL_BODY);
  assert.equal(toHex(b), TELEMETRY_MINIMAL_HEX.replace(/ /g, ''));
  assert.equal(b.length, telemetrySize(MINIMAL_BODY, A1));
  assert.deepEqual(decodeTelemetry(b).body, MINIMAL_BODY);
});

test('decodeMessage / peekHeader accept type 6; telemetryRecord and telemetryParts are inverses', () => {
  for (const hex of [TELEMETRY_HEX, TELEMETRY_MINIMAL_HEX]) {
    const buf = hexToBytes(hex);
    const h = peekHeader(buf, { type: MessageType.Telemetry });
    assert.equal(h.type, 6);
    assert.equal(h.headerLength + 4, frameOverhead(h.experiment, h.sender));
    const m = decodeMessage(buf);
    if (m.type !== MessageType.Telemetry) return assert.fail('narrowing');
    const rec: RoundTelemetry = telemetryRecord(m);
    assert.equal(rec.agent, 'a1');
    assert.equal(rec.experiment, 'e1');
    assert.equal(rec.round, h.round);
    const parts = telemetryParts(rec);
    assert.deepEqual(parts.header, { experiment: 'e1', sender: 'a1', round: h.round });
    assert.deepEqual(parts.body, m.body);
    assert.equal(toHex(encodeTelemetry(parts.header, parts.body)), hex.replace(/ /g, ''));
    // a whole record is accepted as the body when its ids match the header
    assert.equal(toHex(encodeTelemetry(parts.header, rec)), hex.replace(/ /g, ''));
  }
});

test('round trip: every combination of the nullable fields, every energy source', () => {
  let n = 0;
  for (const wasmHeapBytes of [null, 0, 2 ** 40 + 1]) {
    for (const temperatureC of [null, -12.25, 0, 85.5]) {
      for (const accuracy of [null, { head: 0, prototype: null, testCount: 0 }, { head: 1, prototype: 0.3, testCount: 4294967295 }]) {
        const source = ENERGY_SOURCES[n++ % ENERGY_SOURCES.length]!;
        const body: TelemetryBody = {
          ...TELEMETRY_BODY,
          memory: { ...TELEMETRY_BODY.memory, wasmHeapBytes },
          temperatureC,
          accuracy,
          energy: { joules: 0.1 * n, source, detail: `${source}/é✓🚀` },
        };
        const b = encodeTelemetry(A1, body);
        assert.equal(b.length, telemetrySize(body, A1));
        assert.deepEqual(decodeTelemetry(b).body, body);
      }
    }
  }
  assert.equal(n, 36);
});

test('round trip: limits (2^53-1 byte counts, 32-char ids, 256-byte detail) and float32 rounding', () => {
  const max: TelemetryBody = {
    ...TELEMETRY_BODY,
    family: 'f'.repeat(32),
    board: 'B-0._'.repeat(6) + 'zz',
    memory: { peakRssBytes: Number.MAX_SAFE_INTEGER, heapUsedBytes: 0, engineBytes: 2 ** 32, engineTensors: 4294967295, wasmHeapBytes: 2 ** 32 - 1, freeSystemBytes: 2 ** 52 },
    net: { bytesSent: 0, bytesReceived: Number.MAX_SAFE_INTEGER - 1 },
    energy: { joules: 1e300, source: 'ina3221', detail: 'é'.repeat(128) },
    at: 0,
  };
  const longIds = { experiment: 'x'.repeat(32), sender: 'y'.repeat(32), round: 4294967295 };
  const maxBuf = encodeTelemetry(longIds, { ...max, temperatureC: -40, accuracy: { head: 1, prototype: 1, testCount: 1 } });
  assert.equal(maxBuf.length, 541); // the largest TELEMETRY message (PROTOCOL.md §6)
  assert.deepEqual(decodeTelemetry(encodeTelemetry(A1, max)).body, max);
  // seconds / accuracy / temperature are float32: an arbitrary double decodes to the shortest
  // decimal of its float32, joules / at / byte counts are exact
  const odd: TelemetryBody = {
    ...TELEMETRY_BODY,
    phases: { ...TELEMETRY_BODY.phases, train: 0.1 + 0.2, round: 1234.56789012 },
    temperatureC: 41.123456789,
    accuracy: { head: 2 / 3, prototype: 1 / 3, testCount: 3 },
    energy: { ...TELEMETRY_BODY.energy, joules: 0.1 + 0.2 },
    at: 1712345678901.25,
  };
  const d = decodeTelemetry(encodeTelemetry(A1, odd)).body;
  assert.equal(d.phases.train, 0.3);
  assert.equal(d.phases.round, 1234.5679);
  assert.equal(d.temperatureC, 41.123455);
  assert.deepEqual(d.accuracy, { head: 0.6666667, prototype: 0.33333334, testCount: 3 });
  assert.equal(d.energy.joules, 0.1 + 0.2);
  assert.equal(d.at, 1712345678901.25);
});

test('PROTOCOL.md lists both TELEMETRY golden messages', async () => {
  const { readFileSync } = await import('node:fs');
  const md = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
  const inline = [...md.matchAll(/`(5450[0-9a-f ]+)`/g)].map((m) => m[1]!.replace(/ /g, ''));
  for (const hex of [TELEMETRY_HEX, TELEMETRY_MINIMAL_HEX]) assert.ok(inline.includes(hex.replace(/ /g, '')), hex.slice(0, 40));
});
