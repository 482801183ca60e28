/**
 * The arithmetic behind `npm run bench:comm`, kept apart from the benchmark (which opens sockets
 * and trains) so that `comm-sizes.test.ts` can check it against the codec without either.
 *
 * Three levels of bytes per client per round:
 *   - payload: the prototype values only (METHOD.md "Communication arithmetic"), plus the
 *     per-class f32 scale for int8, which is part of the values' encoding;
 *   - message: the whole codec message (PROTOCOL.md: header, K/d/s/layout/type, presence bitmap,
 *     [contributor counts], values, CRC), i.e. the MQTT PUBLISH payload;
 *   - MQTT: the PUBLISH packet that carries the message plus the PUBACK that acknowledges it
 *     (QoS 1). The benchmark measures this on real sockets; `mqttPublishBytes` is the expected
 *     value it is compared with.
 * The formulas here are written out independently of `wire/codec-values.ts` on purpose.
 */
import { encodeGlobal, encodeUpload } from '../wire/codec.ts';
import type { Layout, ValueType } from '../wire/codec-types.ts';
import { agentTopic, aggregatorTopic } from '../wire/topics.ts';
import { Rng } from '../common/rng.ts';
import { blocksPerClassFor } from '../wire/masks.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

/** The paper's setting (METHOD.md): K = 10, d = 500, r = 10 % so s = 50. Ids as in PROTOCOL.md §6. */
export const COMM_SETTING = Object.freeze({
  K: SETUP_DEFAULTS.numClasses,
  d: SETUP_DEFAULTS.featureDim,
  ratio: SETUP_DEFAULTS.ratio,
  // s = k * floor(d / K) (wire/masks.ts)
  s: blocksPerClassFor(SETUP_DEFAULTS.numClasses, SETUP_DEFAULTS.ratio) * Math.floor(SETUP_DEFAULTS.featureDim / SETUP_DEFAULTS.numClasses),
  experiment: 'cifar10',
  agent: 'agent-01',
  // the agent's training-sample count, which every agent's UPLOAD carries (4 bytes; the paper's
  // CIFAR-10 setting: 45,000 training images over 20 clients)
  trainSamples: 2250,
  aggregator: 'aggregator',
});

export interface Encoding {
  readonly label: string;
  readonly method: 'fedproto' | 'tinyproto';
  readonly layout: Layout;
  readonly valueType: ValueType;
  /** Values per class: d (dense FedProto) or the mask's s (TinyProto). */
  readonly s: number;
}

export const ENCODINGS: readonly Encoding[] = Object.freeze([
  { label: 'FedProto float32', method: 'fedproto', layout: 'dense', valueType: 'float32', s: COMM_SETTING.d },
  { label: 'TinyProto float32', method: 'tinyproto', layout: 'sparse', valueType: 'float32', s: COMM_SETTING.s },
  { label: 'TinyProto float16', method: 'tinyproto', layout: 'sparse', valueType: 'float16', s: COMM_SETTING.s },
  { label: 'TinyProto int8', method: 'tinyproto', layout: 'sparse', valueType: 'int8', s: COMM_SETTING.s },
] satisfies Encoding[]);

/** Classes held by the uploading client. */
export const CLASS_COUNTS: readonly number[] = Object.freeze([1, 3, 10]);

const VALUE_BYTES: Record<ValueType, number> = { float32: 4, float16: 2, int8: 1 };
const INT8_SCALE_BYTES = 4;

/** Value bytes of one class: s values, plus the f32 scale for int8. */
export function classValueBytes(enc: Encoding): number {
  return enc.s * VALUE_BYTES[enc.valueType] + (enc.valueType === 'int8' ? INT8_SCALE_BYTES : 0);
}

/** Payload (values only) of `classes` prototypes: METHOD.md's classes * s (or d) * 4 for float32. */
export function payloadBytes(enc: Encoding, classes: number): number {
  return classes * classValueBytes(enc);
}

/** Frame overhead: magic 2, version, type, flags, id lengths 2, ids, round 4, length 4, CRC 4. */
export function frameBytes(experiment: string, sender: string): number {
  return 2 + 1 + 1 + 1 + 1 + experiment.length + 1 + sender.length + 4 + 4 + 4;
}

/** Fixed prototype body: K, d, s (u16 each), layout, value type, then ceil(K/8) bitmap bytes. */
export function prototypeHeaderBytes(K: number): number {
  return 2 + 2 + 2 + 1 + 1 + Math.ceil(K / 8);
}

/** The whole UPLOAD message (what the agent publishes). */
export function uploadMessageBytes(enc: Encoding, classes: number, K = COMM_SETTING.K, experiment = COMM_SETTING.experiment, sender = COMM_SETTING.agent): number {
  return frameBytes(experiment, sender) + prototypeHeaderBytes(K) + TRAIN_SAMPLES_BYTES + payloadBytes(enc, classes);
}

/** The whole GLOBAL message (what every agent receives): 2 more bytes per class (contributors). */
export function globalMessageBytes(enc: Encoding, classes: number, K = COMM_SETTING.K, experiment = COMM_SETTING.experiment, sender = COMM_SETTING.aggregator): number {
  return frameBytes(experiment, sender) + prototypeHeaderBytes(K) + classes * (2 + classValueBytes(enc));
}

export function uploadTopic(experiment = COMM_SETTING.experiment, agent = COMM_SETTING.agent): string {
  return agentTopic(experiment, 'upload', agent);
}

export function globalTopic(experiment = COMM_SETTING.experiment): string {
  return aggregatorTopic(experiment, 'global');
}

/** Bytes of an MQTT "remaining length" varint. */
export function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/**
 * One QoS 1 PUBLISH packet: fixed header byte + remaining-length varint + topic (u16 length +
 * bytes) + packet id (2) + [MQTT 5: properties length varint + properties] + payload.
 */
export function mqttPublishBytes(topic: string, payload: number, protocolVersion: 4 | 5, propertyBytes = 0): number {
  const props = protocolVersion === 5 ? varintBytes(propertyBytes) + propertyBytes : 0;
  const remaining = 2 + Buffer.byteLength(topic) + 2 + props + payload;
  return 1 + varintBytes(remaining) + remaining;
}

/**
 * A PUBACK: 4 bytes (fixed header, length 2, packet id). MQTT 5 allows omitting the reason code
 * when it is 0 and there are no properties; brokers and MQTT.js do, so it is 4 bytes there too.
 */
export const MQTT_PUBACK_BYTES = 4;

/** Deterministic prototype values of a plausible magnitude (count-scaled prototypes are O(10..100)). */
function values(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * 40;
  return v;
}

/** The u32 training-sample count an agent's UPLOAD carries (PROTOCOL.md, layout bit 7). */
export const TRAIN_SAMPLES_BYTES = 4;

/** A real UPLOAD message of `classes` classes (0..classes-1), with the training-sample count, as an agent sends it. */
export function makeUploadMessage(enc: Encoding, classes: number, round = 1, seed = 7): Uint8Array {
  const rng = new Rng(seed);
  return encodeUpload(
    { experiment: COMM_SETTING.experiment, sender: COMM_SETTING.agent, round },
    {
      K: COMM_SETTING.K,
      d: COMM_SETTING.d,
      s: enc.s,
      layout: enc.layout,
      valueType: enc.valueType,
      prototypes: Array.from({ length: classes }, (_, classId) => ({ classId, values: values(rng, enc.s) })),
      trainSamples: COMM_SETTING.trainSamples,
    },
  );
}

/** A real GLOBAL message with `classes` classes (0..classes-1), each from 3 contributors. */
export function makeGlobalMessage(enc: Encoding, classes: number = COMM_SETTING.K, round = 1, seed = 11): Uint8Array {
  const rng = new Rng(seed);
  return encodeGlobal(
    { experiment: COMM_SETTING.experiment, sender: COMM_SETTING.aggregator, round },
    {
      K: COMM_SETTING.K,
      d: COMM_SETTING.d,
      s: enc.s,
      layout: enc.layout,
      valueType: enc.valueType,
      prototypes: Array.from({ length: classes }, (_, classId) => ({ classId, values: values(rng, enc.s), contributors: 3 })),
    },
  );
}
