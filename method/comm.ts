/**
 * Exact per-client, per-round payload accounting (METHOD.md "Communication arithmetic").
 *
 * These count prototype VALUES only (float32 = 4 bytes each by default): class identifiers,
 * message headers, MQTT framing and TCP/TLS overhead are NOT counted here; they are measured
 * separately on the wire.
 */
import { TinyProtoError } from '../common/errors.ts';

import type { Method } from './method.ts';

function check(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) {
    throw new TinyProtoError('E_CONFIG', `${name} must be a non-negative integer, got ${v}`, { [name]: v });
  }
}

function payload(method: Method, classes: number, d: number, s: number, bytesPerValue: number): number {
  check('classes', classes);
  check('d', d);
  check('s', s);
  if (!(bytesPerValue > 0) || !Number.isFinite(bytesPerValue)) {
    throw new TinyProtoError('E_CONFIG', `bytesPerValue must be > 0, got ${bytesPerValue}`, { bytesPerValue });
  }
  switch (method) {
    case 'tinyproto':
      return classes * s * bytesPerValue;
    case 'fedproto':
      return classes * d * bytesPerValue;
    case 'local':
      return 0;
    case 'fedavg':
      throw new TinyProtoError('E_CONFIG', 'fedavg sends model weights, not prototypes: count its bytes with the model (method/fedavg.ts)');
    default: {
      const never: never = method;
      throw new TinyProtoError('E_CONFIG', `unknown method ${String(never)}`);
    }
  }
}

/**
 * Upload payload of one client in one round: tinyproto -> classesHeld * s values (masked,
 * count-scaled prototypes); fedproto -> classesHeld * d values; local -> nothing.
 */
export function uploadPayloadBytes(
  method: Method,
  classesHeld: number,
  d: number,
  s: number,
  bytesPerValue = 4,
): number {
  return payload(method, classesHeld, d, s, bytesPerValue);
}

/**
 * Download payload to one client in one round: the broadcast of every class that has a global
 * prototype (s values each for tinyproto, d for fedproto, nothing for local).
 */
export function downloadPayloadBytes(
  method: Method,
  classesWithGlobal: number,
  d: number,
  s: number,
  bytesPerValue = 4,
): number {
  return payload(method, classesWithGlobal, d, s, bytesPerValue);
}
