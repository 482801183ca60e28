/**
 * The simulation sends its prototypes through the real wire codec, so that the values clients
 * and server see are exactly what the agents and aggregator would exchange (float32, float16 or
 * int8), and the byte counts are those of real messages.
 */
import { decodeGlobal, decodeUpload, encodeGlobal, encodeUpload } from '../wire/codec.ts';
import { bytesPerValue } from '../wire/codec-values.ts';
import type { Layout, ValueType } from '../wire/codec-types.ts';

export interface WireContext {
  readonly experiment: string;
  readonly round: number;
  readonly K: number;
  readonly d: number;
  /** Values per class: the mask's s (TinyProto) or d (FedProto). */
  readonly s: number;
  readonly layout: Layout;
  readonly valueType: ValueType;
}

export interface WireResult {
  /** What the receiver decodes (quantised for float16 / int8). */
  readonly prototypes: Map<number, Float32Array>;
  /** The encoded message: header, body and CRC. */
  readonly messageBytes: number;
  /** The value bytes alone (plus the per-class scale for int8): METHOD.md's payload. */
  readonly payloadBytes: number;
}

function valueBytes(classes: number, s: number, vt: ValueType): number {
  return classes * (s * bytesPerValue(vt) + (vt === 'int8' ? 4 : 0));
}

/** A client's upload as it crosses the wire, with its training-sample count as an agent sends it (null: without). */
export function uploadThroughWire(client: number, prototypes: ReadonlyMap<number, Float32Array>, ctx: WireContext, trainSamples: number | null = null): WireResult {
  const bytes = encodeUpload(
    { experiment: ctx.experiment, sender: `client-${client}`, round: ctx.round },
    {
      K: ctx.K,
      d: ctx.d,
      s: ctx.s,
      layout: ctx.layout,
      valueType: ctx.valueType,
      prototypes: [...prototypes].sort((a, b) => a[0] - b[0]).map(([classId, values]) => ({ classId, values })),
      trainSamples: trainSamples !== null && trainSamples > 0 ? trainSamples : null,
    },
  );
  const m = decodeUpload(bytes, { experiment: ctx.experiment, round: ctx.round, K: ctx.K, d: ctx.d, s: ctx.s });
  return {
    prototypes: new Map(m.body.prototypes.map((p) => [p.classId, p.values])),
    messageBytes: bytes.length,
    payloadBytes: valueBytes(prototypes.size, ctx.s, ctx.valueType),
  };
}

/** The global prototypes as they cross the wire to every client. */
export function globalThroughWire(prototypes: ReadonlyMap<number, Float32Array>, contributors: Int32Array, ctx: WireContext): WireResult {
  const bytes = encodeGlobal(
    { experiment: ctx.experiment, sender: 'aggregator', round: ctx.round },
    {
      K: ctx.K,
      d: ctx.d,
      s: ctx.s,
      layout: ctx.layout,
      valueType: ctx.valueType,
      prototypes: [...prototypes].sort((a, b) => a[0] - b[0]).map(([classId, values]) => ({ classId, values, contributors: contributors[classId] ?? 0 })),
    },
  );
  const m = decodeGlobal(bytes, { experiment: ctx.experiment, round: ctx.round, K: ctx.K, d: ctx.d, s: ctx.s });
  return {
    prototypes: new Map(m.body.prototypes.map((p) => [p.classId, p.values])),
    messageBytes: bytes.length,
    payloadBytes: valueBytes(prototypes.size, ctx.s, ctx.valueType),
  };
}
