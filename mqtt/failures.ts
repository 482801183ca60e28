/**
 * Why an MQTT connection, subscription or publish failed, as a TinyProtoError with a stable
 * code and a message saying what to fix. Pure functions over what MQTT.js reports:
 *  - socket errors carry Node's `code` (ECONNREFUSED, ENOTFOUND, ...), TLS errors OpenSSL's or
 *    Node's (DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID, EPROTO, ...);
 *  - a refused CONNACK is an ErrorWithReasonCode whose numeric `code` is the 3.1.1 return code
 *    or the MQTT 5 reason code (handlers/connack.js);
 *  - a refused SUBACK rejects subscribeAsync with an ErrorWithSubackPacket (`packet.granted`);
 *  - a PUBACK >= 0x80 rejects publishAsync with an ErrorWithReasonCode; 0x10 (No matching
 *    subscribers) resolves it, so the session reads the PUBACK packet itself.
 */
import { TinyProtoError, type ErrorCode } from '../common/errors.ts';

/** The codes a connection failure is classified into. */
export type ConnectionFailureCode = 'E_MQTT_UNREACHABLE' | 'E_MQTT_AUTH' | 'E_MQTT_TLS' | 'E_MQTT_ACL' | 'E_MQTT_REFUSED';

export const CONNECTION_FAILURE_CODES: readonly ConnectionFailureCode[] = Object.freeze(['E_MQTT_UNREACHABLE', 'E_MQTT_AUTH', 'E_MQTT_TLS', 'E_MQTT_ACL', 'E_MQTT_REFUSED']);

export function isConnectionFailureCode(code: ErrorCode | string): code is ConnectionFailureCode {
  return (CONNECTION_FAILURE_CODES as readonly string[]).includes(code);
}

/** What the classified failure says, shown as `cannot connect: WHAT (CODE)`. */
const WHAT: Record<ConnectionFailureCode, string> = {
  E_MQTT_UNREACHABLE: 'broker not reachable',
  E_MQTT_AUTH: 'broker refused the credentials',
  E_MQTT_TLS: 'TLS handshake failed',
  E_MQTT_ACL: 'broker denied access to a topic',
  E_MQTT_REFUSED: 'broker refused the connection',
};

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ETIMEDOUT', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
/** OpenSSL verification codes Node reports on TLS sockets (plus Node's own ERR_TLS_* / ERR_SSL_*). */
const TLS_CODES = new Set([
  'EPROTO',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
]);

/** 3.1.1 CONNACK return codes 4 (bad user name or password) and 5 (not authorized). */
const AUTH_V4 = new Set([4, 5]);
/** MQTT 5: 0x86 Bad User Name or Password, 0x87 Not authorized, 0x8A Banned, 0x8C Bad authentication method. */
const AUTH_V5 = new Set([0x86, 0x87, 0x8a, 0x8c]);
/** Refusals after which trying MQTT 3.1.1 makes sense: 3.1.1 code 1 / MQTT 5 0x84 (unsupported protocol version). */
const VERSION_REFUSALS = new Set([1, 0x84]);

export interface FailureContext {
  readonly url: string;
  readonly protocolVersion: 4 | 5;
  readonly username?: string | null;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

function make(code: ConnectionFailureCode, detail: string, details: Record<string, unknown>): TinyProtoError {
  return new TinyProtoError(code, `${WHAT[code]}: ${detail}`, details);
}

/** Classifies an error seen while connecting (before or instead of CONNACK 0). Already classified errors pass through. */
export function classifyConnectError(e: unknown, ctx: FailureContext): TinyProtoError {
  if (e instanceof TinyProtoError && isConnectionFailureCode(e.code)) return e;
  const err = e as { code?: unknown; message?: unknown } | null | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const base = { url: ctx.url, protocolVersion: ctx.protocolVersion, error: message };
  const code = err?.code;
  if (typeof code === 'number') {
    const v5 = ctx.protocolVersion === 5;
    const label = v5 ? `CONNACK reason ${hex(code)}` : `CONNACK return code ${code}`;
    const details = { ...base, reasonCode: code, versionRefused: VERSION_REFUSALS.has(code) };
    if ((v5 ? AUTH_V5 : AUTH_V4).has(code)) {
      return make('E_MQTT_AUTH', `${label} (${message}) for user ${ctx.username ?? '(none)'} at ${ctx.url}; check the username and password`, details);
    }
    return make('E_MQTT_REFUSED', `${label} (${message}) at ${ctx.url}`, details);
  }
  if (typeof code === 'string') {
    if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
      return make('E_MQTT_TLS', `${code}: ${message} (${ctx.url}; check the CA file and the broker certificate's names)`, { ...base, cause: code });
    }
    if (NETWORK_CODES.has(code)) return make('E_MQTT_UNREACHABLE', `${code} at ${ctx.url}`, { ...base, cause: code });
  }
  if (/connack timeout|no CONNACK|timed? ?out/i.test(message)) return make('E_MQTT_UNREACHABLE', `no answer from ${ctx.url} (${message})`, { ...base, cause: 'timeout' });
  if (/closed before CONNACK/i.test(message)) return make('E_MQTT_REFUSED', `connection to ${ctx.url} closed before CONNACK`, { ...base, versionRefused: true });
  return make('E_MQTT_REFUSED', `${message} (${ctx.url})`, base);
}

/** True when the failure says the broker does not speak this protocol version (so 3.1.1 is worth a try). */
export function versionRefused(e: TinyProtoError): boolean {
  return e.code === 'E_MQTT_REFUSED' && e.details?.['versionRefused'] === true;
}

/** A SUBACK with failure codes (0x80 on 3.1.1; >= 0x80, e.g. 0x87 Not authorized, on MQTT 5) as E_MQTT_ACL; other errors unchanged. */
export function classifySubscribeError(e: unknown, topics: readonly string[]): Error {
  const granted = (e as { packet?: { granted?: unknown } } | null)?.packet?.granted;
  const other = (): Error => (e instanceof Error ? e : make('E_MQTT_REFUSED', `subscribe failed: ${String(e)}`, {}));
  if (!Array.isArray(granted)) return other();
  const refused = granted.flatMap((g, i) => {
    const rc = typeof g === 'number' ? g : ((g as { qos?: number } | null)?.qos ?? 0);
    return rc >= 0x80 ? [{ topic: topics[i] ?? '?', reasonCode: rc }] : [];
  });
  if (refused.length === 0) return other();
  return make('E_MQTT_ACL', `subscription refused for ${refused.map((r) => `${r.topic} (SUBACK ${hex(r.reasonCode)})`).join(', ')}`, { refused });
}

/** PUBACK reason codes that mean "accepted and delivered (or queued)": 0 only. */
export function notDelivered(topic: string, reasonCode: number, reason: string): TinyProtoError {
  const why = reasonCode === 0x10 ? 'no matching subscribers' : reasonCode === 0x87 ? 'not authorized (ACL)' : reason || 'refused';
  return new TinyProtoError('E_NOT_DELIVERED', `publish to ${topic} not delivered: PUBACK ${hex(reasonCode)} ${why}`, { topic, reasonCode, reason: why });
}

/**
 * The one-line form the agent CLI prints and the fleet looks for: `cannot connect: WHAT: DETAIL
 * (CODE)`, or `access denied: ...` for E_MQTT_ACL (connected, but a topic is refused).
 */
export function connectionFailureLine(e: TinyProtoError): string {
  return `${e.code === 'E_MQTT_ACL' ? 'access denied' : 'cannot connect'}: ${e.message} (${e.code})`;
}

/** Just what failed, without the details: `broker refused the credentials`. */
export function connectionFailureShort(e: TinyProtoError): string {
  return isConnectionFailureCode(e.code) ? WHAT[e.code] : e.message;
}
