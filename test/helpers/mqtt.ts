/**
 * Small promise helpers around MQTT.js clients for integration tests: bounded timeouts,
 * no automatic reconnects, and a way to collect/await messages.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export const DEFAULT_TIMEOUT_MS = 5000;

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
}

export interface TestClient {
  client: MqttClient;
  /** CONNACK session-present flag of the (first) connection. */
  sessionPresent: boolean;
  /** All messages received since connect. */
  messages: ReceivedMessage[];
  /** Resolve with the first (already received or future) message matching `pred`. */
  waitFor(pred: (m: ReceivedMessage) => boolean, timeoutMs?: number, what?: string): Promise<ReceivedMessage>;
  /** End the client (force) and wait for it; never throws. */
  end(): Promise<void>;
}

/** Error carrying the CONNACK return/reason code when the broker refused the connection. */
export interface ConnectFailure extends Error {
  code?: number | string;
}

function wrap(client: MqttClient): TestClient {
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<(m: ReceivedMessage) => void>();
  client.on('message', (topic, payload, packet) => {
    const m: ReceivedMessage = { topic, payload, retain: packet.retain, qos: packet.qos };
    messages.push(m);
    for (const w of [...waiters]) w(m);
  });
  return {
    client,
    sessionPresent: false,
    messages,
    waitFor(pred, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'message') {
      const existing = messages.find(pred);
      if (existing !== undefined) return Promise.resolve(existing);
      return new Promise((resolve, reject) => {
        const onMsg = (m: ReceivedMessage): void => {
          if (!pred(m)) return;
          clearTimeout(timer);
          waiters.delete(onMsg);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(onMsg);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        waiters.add(onMsg);
      });
    },
    end: () => endClient(client),
  };
}

/** Force-end a client, bounded to 2 s; never throws. */
export function endClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    try {
      client.end(true, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/**
 * Connect with reconnects disabled; resolves on CONNACK 0, rejects on refusal (error.code =
 * CONNACK code), socket close, or timeout. The client is ended on failure.
 */
export function connectClient(url: string, opts: IClientOptions = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      ...opts,
    });
    const wrapped = wrap(client);
    let settled = false;
    const fail = (err: ConnectFailure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void endClient(client).then(() => reject(err));
    };
    const timer = setTimeout(() => fail(new Error(`connect to ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    client.once('connect', (connack) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      wrapped.sessionPresent = connack.sessionPresent;
      resolve(wrapped);
    });
    client.once('error', (err) => fail(err));
    client.once('close', () => fail(new Error(`connection to ${url} closed before CONNACK`)));
  });
}

/** Subscribe and wait for the SUBACK; rejects if the broker refused (granted qos 128). */
export async function subscribe(tc: TestClient, topic: string | string[], qos: 0 | 1 | 2 = 1): Promise<void> {
  const granted = await tc.client.subscribeAsync(topic, { qos });
  for (const g of granted) {
    if (g.qos === 128) throw new Error(`subscription to ${g.topic} refused`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reject after `ms` with a descriptive error. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
