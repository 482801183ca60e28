/**
 * Typed errors. Every error tinyproto raises on purpose carries a stable `code`
 * so callers (CLI, agent, aggregator) can react without parsing messages.
 */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_DATA_MISSING'
  | 'E_DATA_CORRUPT'
  | 'E_DATA_TRUNCATED'
  | 'E_PARTITION'
  | 'E_MASK'
  | 'E_SHAPE'
  | 'E_NON_FINITE'
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
  | 'E_NOT_SELECTED'
  | 'E_UPLOAD_FORMAT'
  | 'E_DUPLICATE'
  | 'E_SENDER'
  // a finite value beyond what any honest upload carries (method/robust.ts)
  | 'E_VALUE_BOUND'
  | 'E_NOT_CONNECTED'
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
