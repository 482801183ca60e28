/**
 * Typed errors. Every error tinyproto raises on purpose carries a stable `code`
 * so callers (CLI, agent, aggregator) can react without parsing messages.
 */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_DATA_MISSING'
  | 'E_DATA_CORRUPT'
  | 'E_DATA_TRUNCATED'
  // a data source kind (EXPERIMENT announcement) this build cannot load, or that the board's directory does not hold
  | 'E_DATA_SOURCE'
  // an image folder (data/image-folder.ts) laid out wrongly, or an image format it does not read
  | 'E_DATA_LAYOUT'
  | 'E_DATA_UNSUPPORTED'
  | 'E_PARTITION'
  | 'E_MASK'
  | 'E_SHAPE'
  | 'E_NON_FINITE'
  // a client's training blew up: its features came out NaN or infinite (learner/learner.ts)
  | 'E_DIVERGED'
  | 'E_BACKEND'
  | 'E_CPU_BACKEND'
  | 'E_MODEL'
  | 'E_WORKER'
  | 'E_STORE'
  | 'E_SENSOR'
  | 'E_CODEC_TRUNCATED'
  | 'E_CODEC_OVERSIZE'
  | 'E_CODEC_MAGIC'
  | 'E_CODEC_VERSION'
  | 'E_CODEC_TYPE'
  | 'E_CODEC_CRC'
  | 'E_CODEC_TRAILING'
  | 'E_CODEC_FIELD'
  | 'E_CODEC_SIGNATURE'
  | 'E_KEY'
  | 'E_EXPERIMENT'
  | 'E_ROUND'
  // aggregator-side rejections of well-formed messages
  | 'E_UNKNOWN_AGENT'
  // a PARTIAL from a sender that is not a configured relay, or naming an agent already counted
  | 'E_UNKNOWN_RELAY'
  | 'E_PARTIAL_OVERLAP'
  | 'E_NOT_SELECTED'
  | 'E_UPLOAD_FORMAT'
  | 'E_DUPLICATE'
  | 'E_SENDER'
  // a finite value beyond what any honest upload carries (method/robust.ts)
  | 'E_VALUE_BOUND'
  // an upload's training-sample count that differs from what the agent reported before, or is missing where mu needs it
  | 'E_TRAIN_SAMPLES'
  | 'E_NOT_CONNECTED'
  // why an MQTT connection failed (mqtt/failures.ts): host/port unreachable or no answer,
  // credentials refused (CONNACK 4/5; MQTT 5 0x86/0x87/0x8A/0x8C), TLS handshake or
  // certificate, topic access denied (SUBACK/PUBACK failure codes), any other refusal
  | 'E_MQTT_UNREACHABLE'
  | 'E_MQTT_AUTH'
  | 'E_MQTT_TLS'
  | 'E_MQTT_ACL'
  | 'E_MQTT_REFUSED'
  // the broker acknowledged a QoS 1 publish with PUBACK 0x10 (no matching subscribers) or >= 0x80
  | 'E_NOT_DELIVERED'
  // the broker process (mosquitto) could not be prepared, started or reached
  | 'E_BROKER'
  // an argument outside a function's domain (a caller's mistake, not bad input data)
  | 'E_ARGUMENT'
  | 'E_TIMEOUT'
  // a broken internal invariant (also what errorCode reports for untyped errors)
  | 'E_INTERNAL';

export class TinyProtoError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'TinyProtoError';
    this.code = code;
    this.details = details;
  }
}

export function isTinyProtoError(e: unknown, code?: ErrorCode): e is TinyProtoError {
  return e instanceof TinyProtoError && (code === undefined || e.code === code);
}

/** The code of an error for logs and rejection records ('E_INTERNAL' for anything untyped). */
export function errorCode(e: unknown): string {
  return e instanceof TinyProtoError ? e.code : 'E_INTERNAL';
}
