/**
 * The binary codec: encodeX / decodeX for every message of PROTOCOL.md, peekHeader, decodeMessage
 * and size helpers. The only place in the project that knows byte offsets (together with the
 * codec-*.ts parts it is split into).
 *
 * Decoders are pure and validate everything before returning: size limit first, then magic,
 * version, declared lengths, CRC, trailing bytes, type, flags, identifiers, the caller's
 * expectations (type, experiment, round, K/d/s), then the body. Every failure is a
 * TinyProtoError with a specific code (PROTOCOL.md "Errors").
 */
import {
  MessageType,
  type DecodeExpect,
  type DecodedExperiment,
  type DecodedGlobal,
  type DecodedMasks,
  type DecodedMessage,
  type DecodedPartial,
  type DecodedReceipt,
  type DecodedRound,
  type DecodedStatus,
  type DecodedTelemetry,
  type DecodedUpload,
  type EncodeOptions,
  type ExperimentBody,
  type GlobalBody,
  type HeaderFields,
  type MasksBody,
  type MessageHeader,
  type PartialBody,
  type ReceiptBody,
  type RoundBody,
  type StatusBody,
  type TelemetryBody,
  type UploadBody,
  type ValueType,
} from './codec-types.ts';
import { Reader } from './codec-io.ts';
import { checkEncodedSize, checkHeaderExpect, checkHeaderFields, checkSignature, encodeFrame, frameOverhead, parseFrame } from './codec-header.ts';
import { decodeReceiptBody, encodeReceiptBody } from './codec-receipt.ts';
import { decodeExperimentBody, encodeExperimentBody } from './codec-experiment.ts';
import { decodePartialBody, encodePartialBody } from './codec-partial.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './signature.ts';
import { crc32 } from './crc32.ts';
import { checkPrototypeBody, checkTrainSamples, decodePrototypeBody, encodePrototypeBody, prototypeBodySize } from './codec-values.ts';
import {
  decodeMasksBody,
  decodeRoundBody,
  decodeStatusBody,
  encodeMasksBody,
  encodeRoundBody,
  encodeStatusBody,
} from './codec-bodies.ts';
import { decodeTelemetryBody, encodeTelemetryBody, telemetryBodySize } from './codec-telemetry.ts';
import type { RoundTelemetry } from './telemetry.ts';

export * from './codec-types.ts';
export { assignmentOf } from './codec-experiment.ts';
export { frameOverhead, checkSignature } from './codec-header.ts';
export { bytesPerValue, int8Scale, quantizeInt8 } from './codec-values.ts';

const CTX: Record<MessageType, string> = {
  [MessageType.Masks]: 'masks',
  [MessageType.Round]: 'round',
  [MessageType.Upload]: 'upload',
  [MessageType.Global]: 'global',
  [MessageType.Status]: 'status',
  [MessageType.Telemetry]: 'telemetry',
  [MessageType.Receipt]: 'receipt',
  [MessageType.Experiment]: 'experiment',
  [MessageType.Partial]: 'partial',
};

const NO_EXPECT: DecodeExpect = Object.freeze({});

// ------------------------------------------------------------------------------------ encoders

export function encodeMasks(h: HeaderFields, body: MasksBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('masks', h);
  return encodeFrame('masks', h, MessageType.Masks, encodeMasksBody('masks', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

export function encodeRound(h: HeaderFields, body: RoundBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('round', h);
  return encodeFrame('round', h, MessageType.Round, encodeRoundBody('round', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

/** UPLOAD and GLOBAL share one body layout; GLOBAL adds contributor counts. Size is checked before encoding. */
function encodePrototypeMessage(what: 'upload' | 'global', type: MessageType, h: HeaderFields, body: UploadBody | GlobalBody, opts?: EncodeOptions): Uint8Array {
  const isGlobal = what === 'global';
  checkHeaderFields(what, h);
  const present = checkPrototypeBody(what, body, isGlobal).length;
  const samples = isGlobal ? null : checkTrainSamples(what, (body as UploadBody).trainSamples);
  const size = frameOverhead(h.experiment, h.sender) + prototypeBodySize(body.K, present, body.s, body.valueType, isGlobal, samples !== null) + (opts?.signer ? SIGNATURE_BYTES + (opts.embedKey ? PUBLIC_KEY_BYTES : 0) : 0);
  checkEncodedSize(what, size, opts?.maxBytes);
  return encodeFrame(what, h, type, encodePrototypeBody(what, body, isGlobal), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

export function encodeUpload(h: HeaderFields, body: UploadBody, opts?: EncodeOptions): Uint8Array {
  return encodePrototypeMessage('upload', MessageType.Upload, h, body, opts);
}

export function encodeGlobal(h: HeaderFields, body: GlobalBody, opts?: EncodeOptions): Uint8Array {
  return encodePrototypeMessage('global', MessageType.Global, h, body, opts);
}

export function encodeStatus(h: HeaderFields, body: StatusBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('status', h);
  return encodeFrame('status', h, MessageType.Status, encodeStatusBody('status', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

/** TELEMETRY: header = experiment id, sender = the agent, round; body = the rest of the record. */
export function encodeTelemetry(h: HeaderFields, body: TelemetryBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('telemetry', h);
  return encodeFrame('telemetry', h, MessageType.Telemetry, encodeTelemetryBody('telemetry', h, body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

/**
 * What a RECEIPT names an upload by: the CRC-32 of the UPLOAD's payload (its body bytes), which
 * signing the frame does not change. Validates the frame first (any decode error is thrown).
 */
export function uploadPayloadCrc(frame: Uint8Array, expect: DecodeExpect = NO_EXPECT): number {
  return payloadCrc(frame, peekHeader(frame, expect));
}

/** The CRC-32 of the payload of `frame`, whose header `h` was already parsed. */
export function payloadCrc(frame: Uint8Array, h: MessageHeader): number {
  return crc32(frame, h.headerLength, h.headerLength + h.payloadLength);
}

/** RECEIPT: the aggregator's end-to-end acknowledgement of one upload (header round = the upload's). */
export function encodeReceipt(h: HeaderFields, body: ReceiptBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('receipt', h);
  return encodeFrame('receipt', h, MessageType.Receipt, encodeReceiptBody('receipt', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

/** EXPERIMENT: the announcement of an experiment to a fleet (header round 0, sender the aggregator). */
export function encodeExperiment(h: HeaderFields, body: ExperimentBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('experiment', h);
  return encodeFrame('experiment', h, MessageType.Experiment, encodeExperimentBody('experiment', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

/** PARTIAL: a relay's float64 sums of one round and its contributing agents (sender = the relay). */
export function encodePartial(h: HeaderFields, body: PartialBody, opts?: EncodeOptions): Uint8Array {
  checkHeaderFields('partial', h);
  return encodeFrame('partial', h, MessageType.Partial, encodePartialBody('partial', body), opts?.maxBytes, opts?.signer, opts?.embedKey);
}

// ------------------------------------------------------------------------------------ decoders

/** Validate the frame (size, magic, version, lengths, CRC, type, flags, ids) and return the header. */
export function peekHeader(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): MessageHeader {
  const h = parseFrame('message', buf, expect.maxBytes);
  checkHeaderExpect('message', h, undefined, expect);
  if (expect.verifier !== undefined) checkSignature('message', buf, h, expect.verifier);
  return h;
}

function open(ctx: string, type: MessageType, buf: Uint8Array, e: DecodeExpect): { h: MessageHeader; r: Reader } {
  const h = parseFrame(ctx, buf, e.maxBytes);
  checkHeaderExpect(ctx, h, type, e);
  if (e.verifier !== undefined) checkSignature(ctx, buf, h, e.verifier);
  return { h, r: new Reader(buf, ctx, h.headerLength, h.headerLength + h.payloadLength) };
}

export function decodeMasks(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedMasks {
  const { h, r } = open('masks', MessageType.Masks, buf, expect);
  return { type: MessageType.Masks, header: h, body: decodeMasksBody(r, expect) };
}

export function decodeRound(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedRound {
  const { h, r } = open('round', MessageType.Round, buf, expect);
  return { type: MessageType.Round, header: h, body: decodeRoundBody(r) };
}

export function decodeUpload(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedUpload {
  const { h, r } = open('upload', MessageType.Upload, buf, expect);
  const b = decodePrototypeBody(r, expect, false);
  return { type: MessageType.Upload, header: h, body: b };
}

export function decodeGlobal(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedGlobal {
  const { h, r } = open('global', MessageType.Global, buf, expect);
  return { type: MessageType.Global, header: h, body: decodePrototypeBody(r, expect, true) };
}

export function decodeStatus(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedStatus {
  const { h, r } = open('status', MessageType.Status, buf, expect);
  return { type: MessageType.Status, header: h, body: decodeStatusBody(r) };
}

export function decodeTelemetry(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedTelemetry {
  const { h, r } = open('telemetry', MessageType.Telemetry, buf, expect);
  return { type: MessageType.Telemetry, header: h, body: decodeTelemetryBody(r) };
}

export function decodeReceipt(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedReceipt {
  const { h, r } = open('receipt', MessageType.Receipt, buf, expect);
  return { type: MessageType.Receipt, header: h, body: decodeReceiptBody(r) };
}

export function decodeExperiment(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedExperiment {
  const { h, r } = open('experiment', MessageType.Experiment, buf, expect);
  return { type: MessageType.Experiment, header: h, body: decodeExperimentBody(r) };
}

export function decodePartial(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedPartial {
  const { h, r } = open('partial', MessageType.Partial, buf, expect);
  return { type: MessageType.Partial, header: h, body: decodePartialBody(r, expect) };
}

/** Decode any message; the result is a union discriminated by `type` (a MessageType). */
export function decodeMessage(buf: Uint8Array, expect: DecodeExpect = NO_EXPECT): DecodedMessage {
  const h = parseFrame('message', buf, expect.maxBytes);
  checkHeaderExpect('message', h, undefined, expect);
  if (expect.verifier !== undefined) checkSignature('message', buf, h, expect.verifier);
  const ctx = CTX[h.type];
  const r = new Reader(buf, ctx, h.headerLength, h.headerLength + h.payloadLength);
  switch (h.type) {
    case MessageType.Masks:
      return { type: h.type, header: h, body: decodeMasksBody(r, expect) };
    case MessageType.Round:
      return { type: h.type, header: h, body: decodeRoundBody(r) };
    case MessageType.Upload:
      return { type: h.type, header: h, body: decodePrototypeBody(r, expect, false) };
    case MessageType.Global:
      return { type: h.type, header: h, body: decodePrototypeBody(r, expect, true) };
    case MessageType.Status:
      return { type: h.type, header: h, body: decodeStatusBody(r) };
    case MessageType.Telemetry:
      return { type: h.type, header: h, body: decodeTelemetryBody(r) };
    case MessageType.Receipt:
      return { type: h.type, header: h, body: decodeReceiptBody(r) };
    case MessageType.Experiment:
      return { type: h.type, header: h, body: decodeExperimentBody(r) };
    case MessageType.Partial:
      return { type: h.type, header: h, body: decodePartialBody(r, expect) };
  }
}

// ------------------------------------------------------------------------------------ TELEMETRY

/** The whole RoundTelemetry of a decoded TELEMETRY: experiment, agent (sender) and round from the header. */
export function telemetryRecord(m: { header: HeaderFields; body: TelemetryBody }): RoundTelemetry {
  const b = m.body;
  return {
    experiment: m.header.experiment,
    agent: m.header.sender,
    round: m.header.round,
    family: b.family,
    board: b.board,
    phases: b.phases,
    memory: b.memory,
    cpu: b.cpu,
    net: b.net,
    temperatureC: b.temperatureC,
    energy: b.energy,
    accuracy: b.accuracy,
    at: b.at,
  };
}

/** Split a RoundTelemetry into the header fields and the body `encodeTelemetry` takes. */
export function telemetryParts(rec: RoundTelemetry): { header: HeaderFields; body: TelemetryBody } {
  const { experiment, agent, round, ...body } = rec;
  return { header: { experiment, sender: agent, round }, body };
}

// -------------------------------------------------------------------------------- size helpers

export interface MessageIds {
  experiment: string;
  sender: string;
}

/**
 * UPLOAD payload bytes: 8 + [4 with the training-sample count] + ceil(K/8) + present * ([4 if
 * int8] + s * bytesPerValue).
 */
export function uploadBodySize(K: number, presentCount: number, s: number, valueType: ValueType, withTrainSamples = false): number {
  return prototypeBodySize(K, presentCount, s, valueType, false, withTrainSamples);
}

/** Whole UPLOAD message bytes (header + payload + CRC) for the given ids. */
export function uploadSize(K: number, presentCount: number, s: number, valueType: ValueType, ids: MessageIds, withTrainSamples = false): number {
  return frameOverhead(ids.experiment, ids.sender) + uploadBodySize(K, presentCount, s, valueType, withTrainSamples);
}

/** GLOBAL payload bytes: like UPLOAD plus 2 (contributor count) per present class. */
export function globalBodySize(K: number, presentCount: number, s: number, valueType: ValueType): number {
  return prototypeBodySize(K, presentCount, s, valueType, true);
}

export function globalSize(K: number, presentCount: number, s: number, valueType: ValueType, ids: MessageIds): number {
  return frameOverhead(ids.experiment, ids.sender) + globalBodySize(K, presentCount, s, valueType);
}

/** Whole TELEMETRY message bytes for a (valid) body: 19 + E + S + 110 + optional fields + strings. */
export function telemetrySize(body: TelemetryBody, ids: MessageIds): number {
  return frameOverhead(ids.experiment, ids.sender) + telemetryBodySize(body);
}
