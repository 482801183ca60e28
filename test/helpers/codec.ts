/**
 * Test helpers for the codec tests (not exported from wire/codec.ts): an independent frame
 * builder (does not use the codec), CRC fix-up and an exact-error assertion.
 */
import assert from 'node:assert/strict';
import { crc32 } from '../../wire/crc32.ts';
import { TinyProtoError, type ErrorCode } from '../../common/errors.ts';
import type { TelemetryBody } from '../../wire/codec-types.ts';

export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/[^0-9a-fA-F]/g, '');
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Build a frame by hand: header fields, raw payload hex, CRC (optionally wrong). */
export function rawFrame(o: {
  type: number;
  payload: string;
  experiment?: string;
  sender?: string;
  round?: number;
  flags?: number;
  version?: number;
  payloadLength?: number;
}): Uint8Array {
  const exp = Buffer.from(o.experiment ?? 'e1', 'latin1');
  const snd = Buffer.from(o.sender ?? 'a1', 'latin1');
  const payload = hexToBytes(o.payload);
  const head = Buffer.alloc(5 + 1 + exp.length + 1 + snd.length + 8);
  let p = 0;
  head[p++] = 0x54;
  head[p++] = 0x50;
  head[p++] = o.version ?? 1;
  head[p++] = o.type;
  head[p++] = o.flags ?? 0;
  head[p++] = exp.length;
  exp.copy(head, p);
  p += exp.length;
  head[p++] = snd.length;
  snd.copy(head, p);
  p += snd.length;
  head.writeUInt32LE(o.round ?? 1, p);
  head.writeUInt32LE(o.payloadLength ?? payload.length, p + 4);
  const body = Buffer.concat([head, payload]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(body), 0);
  return Uint8Array.from(Buffer.concat([body, crc]));
}

/** Recompute the trailing CRC after a mutation (in place; returns the buffer). */
export function fixCrc(b: Uint8Array): Uint8Array {
  if (b.length < 4) return b;
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(b.length - 4, crc32(b, 0, b.length - 4), true);
  return b;
}

export function throwsExactly(fn: () => unknown, code: ErrorCode, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TinyProtoError, `expected TinyProtoError, got ${String(e)}`);
    assert.equal(e.code, code, `code (message was: ${e.message})`);
    assert.equal(e.message, message);
    return true;
  });
}

/** The TELEMETRY golden body (wire/codec-telemetry.test.ts, PROTOCOL.md): every optional field present. */
export const TELEMETRY_BODY: TelemetryBody = {
  family: 'resnet8',
  board: 'rpi4b',
  phases: { dataLoad: 0, train: 2.5, prototypes: 0.125, encode: 0.01, upload: 0.02, waitGlobal: 0.5, evaluate: 0.25, round: 3.405 },
  memory: { peakRssBytes: 200e6, heapUsedBytes: 50e6, engineBytes: 10e6, engineTensors: 42, wasmHeapBytes: 16777216, freeSystemBytes: 6e9 },
  cpu: { userSeconds: 2.75, systemSeconds: 0.125 },
  net: { bytesSent: 1200, bytesReceived: 900 },
  temperatureC: 48.5,
  energy: { joules: 12.5, source: 'rapl', detail: 'intel-rapl:0' },
  accuracy: { head: 0.5, prototype: 0.625, testCount: 100 },
  at: 1.7e12,
};
