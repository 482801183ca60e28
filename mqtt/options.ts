/**
 * Connection settings shared by the agent's and the aggregator's MQTT transports (each of which
 * imports the `mqtt` client itself). Plain objects only: no MQTT client here.
 */
import { readFileSync } from 'node:fs';
import { TinyProtoError } from '../common/errors.ts';

export type MqttVersionChoice = 'auto' | '5' | '3.1.1';

/** Where a process's broker is and how it logs in: the same fields for agents and the aggregator. */
export interface BrokerConnection {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the broker. */
  readonly broker: string;
  readonly username: string | null;
  readonly password: string | null;
  /** TLS: CA certificate file (PEM) to trust, and optional client certificate and key. */
  readonly caFile: string | null;
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** 'auto' tries MQTT 5 and falls back to 3.1.1. */
  readonly mqttVersion: MqttVersionChoice;
}

export interface MqttConnectionSettings {
  readonly url: string;
  readonly clientId: string;
  readonly username: string | null;
  readonly password: string | null;
  readonly caFile: string | null;
  readonly certFile: string | null;
  readonly keyFile: string | null;
  readonly version: MqttVersionChoice;
  /** MQTT 5 session expiry; 3.1.1 sessions persist until the broker expires them. */
  readonly sessionExpirySeconds: number;
  /** MQTT 5 Receive Maximum: QoS 1 messages the broker may have in flight to this client (default 65535 by the spec; Mosquitto caps it with max_inflight_messages otherwise). */
  readonly receiveMaximum?: number;
  readonly will?: { readonly topic: string; readonly payload: Uint8Array; readonly retain: boolean };
  readonly connectTimeoutMs: number;
}

/** A session's settings from a broker connection: its login and TLS files, a persistent session of a week. */
export function connectionSettings(conn: BrokerConnection, clientId: string, username: string | null, connectTimeoutMs = 10_000): MqttConnectionSettings {
  return {
    url: conn.broker,
    clientId,
    username,
    password: conn.password,
    caFile: conn.caFile,
    certFile: conn.certFile,
    keyFile: conn.keyFile,
    version: conn.mqttVersion,
    sessionExpirySeconds: 7 * 24 * 3600,
    connectTimeoutMs,
  };
}

function readPem(what: string, path: string | null): Buffer | undefined {
  if (path === null) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: cannot read the ${what} (${(e as Error).message})`);
  }
}

/** Options in the shape MQTT.js takes, for one protocol version. Persistent session, no auto-reconnect. */
export function mqttClientOptions(s: MqttConnectionSettings, protocolVersion: 4 | 5): Record<string, unknown> {
  const ca = readPem('CA certificate', s.caFile);
  const cert = readPem('client certificate', s.certFile);
  const key = readPem('client key', s.keyFile);
  return {
    clientId: s.clientId,
    protocolVersion,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: s.connectTimeoutMs,
    keepalive: 30,
    resubscribe: true,
    ...(s.username !== null ? { username: s.username } : {}),
    ...(s.password !== null ? { password: s.password } : {}),
    ...(ca ? { ca, rejectUnauthorized: true } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: s.sessionExpirySeconds, ...(s.receiveMaximum ? { receiveMaximum: s.receiveMaximum } : {}) } } : {}),
    ...(s.will ? { will: { topic: s.will.topic, payload: Buffer.from(s.will.payload), qos: 1, retain: s.will.retain } } : {}),
  };
}

/** Versions to try in order. */
export function versionsToTry(choice: MqttVersionChoice): (4 | 5)[] {
  return choice === 'auto' ? [5, 4] : choice === '5' ? [5] : [4];
}

/** Exponential backoff with full jitter, in ms. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.max(minMs, Math.round(cap * random()));
}

/**
 * An agent's MQTT client id: `{experiment}:{agent}` (PROTOCOL.md §8 "Client ids"). ':' is not
 * allowed in ids, so distinct (experiment, agent) pairs never share a client id, and an agent's
 * sessions in two experiments do not take each other over. The fleet broker config replaces
 * client ids with the username (use_username_as_clientid), which ties the session to the
 * credentials.
 */
export function agentClientId(experiment: string, agent: string): string {
  return `${experiment}:${agent}`;
}
