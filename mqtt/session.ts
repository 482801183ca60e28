/**
 * A long-lived MQTT session for either side: connects (MQTT 5, falling back to 3.1.1 when the
 * broker refuses it), keeps a persistent session, reconnects with exponential backoff, publishes
 * at QoS 1 and resolves when the broker acknowledged, subscribes, and counts the bytes that cross
 * the socket. The MQTT client library is injected by the side's transport module (the only
 * modules that import `mqtt`).
 */
import { TinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { backoffDelay, mqttClientOptions, versionsToTry, type MqttConnectionSettings } from './options.ts';

/** The part of an MQTT.js client this module uses. */
export interface MqttLikeClient {
  connected: boolean;
  on(event: 'connect', cb: (connack: unknown) => void): unknown;
  on(event: 'close' | 'offline', cb: () => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
  on(event: 'message', cb: (topic: string, payload: Buffer) => void): unknown;
  on(event: 'packetsend' | 'packetreceive', cb: (packet: { cmd: string; length?: number; payload?: unknown }) => void): unknown;
  publishAsync(topic: string, payload: Buffer, opts: { qos: 1; retain: boolean }): Promise<unknown>;
  subscribeAsync(topics: string[], opts: { qos: 1 }): Promise<unknown>;
  endAsync(force?: boolean): Promise<void>;
  /** MQTT.js replaces its message stores with empty ones unless they are passed back in. */
  reconnect(opts?: { incomingStore?: unknown; outgoingStore?: unknown }): unknown;
  incomingStore?: unknown;
  outgoingStore?: unknown;
  stream?: { on(event: 'data', cb: (chunk: Buffer) => void): unknown; bytesWritten?: number } | undefined;
}

export type MqttConnectFn = (url: string, options: Record<string, unknown>) => MqttLikeClient;

export interface WireCounters {
  /** Bytes written to and read from the broker connection(s), including MQTT framing. */
  bytesSent: number;
  bytesReceived: number;
  /** PUBLISH packets sent and received. */
  publishesSent: number;
  publishesReceived: number;
  reconnects: number;
}

export interface SessionOptions {
  readonly settings: MqttConnectionSettings;
  readonly subscriptions: readonly string[];
  readonly connect: MqttConnectFn;
  readonly logger?: Logger;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

/** Messages kept while no handler is registered yet. */
const MAX_EARLY_MESSAGES = 10_000;

export class MqttSession {
  private client: MqttLikeClient | null = null;
  private version: 4 | 5 | null = null;
  private readonly messageHandlers: ((topic: string, payload: Uint8Array) => void)[] = [];
  private early: [string, Uint8Array][] = [];
  private readonly connectHandlers: (() => void)[] = [];
  private readonly disconnectHandlers: (() => void)[] = [];
  private readonly logger: Logger;
  private closing = false;
  private wasConnected = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private subscribed = false;
  private countedStream: MqttLikeClient['stream'] = undefined;
  private sentBefore = 0;
  readonly counters: WireCounters = { bytesSent: 0, bytesReceived: 0, publishesSent: 0, publishesReceived: 0, reconnects: 0 };

  constructor(private readonly opts: SessionOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  get protocolVersion(): 4 | 5 | null {
    return this.version;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /**
   * Messages that arrive before the first handler is registered (a persistent session's queued
   * messages come right after CONNACK, before the caller can register) are kept and handed to
   * that first handler, in order, when it registers.
   */
  onMessage(handler: (topic: string, payload: Uint8Array) => void): void {
    this.messageHandlers.push(handler);
    const early = this.early;
    this.early = [];
    for (const [topic, bytes] of early) handler(topic, bytes);
  }

  private holdEarly(topic: string, bytes: Uint8Array): void {
    if (this.early.length >= MAX_EARLY_MESSAGES) {
      this.logger.warn('MQTT message dropped: no handler registered yet and the early buffer is full', { topic });
      return;
    }
    this.early.push([topic, bytes]);
  }

  onConnect(handler: () => void): void {
    this.connectHandlers.push(handler);
    if (this.connected) handler();
  }

  /** Called when an established connection closes (before any reconnection). */
  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  /** Connects (trying MQTT 5 first when allowed) and subscribes; rejects if no version is accepted. */
  async start(): Promise<void> {
    const s = this.opts.settings;
    let lastError: Error | null = null;
    for (const v of versionsToTry(s.version)) {
      try {
        await this.open(v);
        this.version = v;
        return;
      } catch (e) {
        lastError = e as Error;
        this.logger.info('MQTT connect failed', { url: s.url, protocolVersion: v, error: lastError.message });
      }
    }
    throw new TinyProtoError('E_CONFIG', `cannot connect to ${s.url}: ${lastError?.message ?? 'unknown error'}`);
  }

  private open(version: 4 | 5): Promise<void> {
    const s = this.opts.settings;
    const client = this.opts.connect(s.url, mqttClientOptions(s, version));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        void client.endAsync(true).catch(() => undefined);
        reject(e);
      };
      const timer = setTimeout(() => fail(new TinyProtoError('E_NOT_CONNECTED', `no CONNACK within ${s.connectTimeoutMs} ms`)), s.connectTimeoutMs + 500);
      client.on('error', (e) => {
        if (!settled) {
          clearTimeout(timer);
          fail(e);
        } else if (this.closing) {
          this.logger.debug('MQTT error while closing', { error: e.message });
        } else {
          this.logger.warn('MQTT error', { error: e.message });
        }
      });
      client.on('close', () => {
        if (!settled) {
          clearTimeout(timer);
          fail(new TinyProtoError('E_NOT_CONNECTED', 'connection closed before CONNACK'));
          return;
        }
        this.sampleBytesSent();
        // only the live client reconnects (a client that failed its first CONNACK is discarded)
        if (this.client === client) {
          if (this.wasConnected) for (const h of this.disconnectHandlers) h();
          this.wasConnected = false;
          this.scheduleReconnect();
        }
      });
      client.on('connect', (connack) => {
        const sessionPresent = (connack as { sessionPresent?: boolean } | null | undefined)?.sessionPresent === true;
        clearTimeout(timer);
        this.attempts = 0;
        this.wasConnected = true;
        this.attachCounters(client);
        if (!settled) {
          settled = true;
          this.client = client;
          client.on('message', (topic, payload) => {
            this.counters.publishesReceived++;
            const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
            if (this.messageHandlers.length === 0) {
              this.holdEarly(topic, bytes);
              return;
            }
            for (const h of this.messageHandlers) h(topic, bytes);
          });
          void this.afterConnect(client, sessionPresent).then(resolve, reject);
        } else {
          this.counters.reconnects++;
          this.logger.info('MQTT reconnected', { url: s.url });
          this.afterConnect(client, sessionPresent).catch((e: Error) => this.logger.warn('MQTT resubscribe failed', { error: e.message }));
        }
      });
      client.on('packetsend', (p) => {
        if (p.cmd === 'publish') this.counters.publishesSent++;
        this.sampleBytesSent();
      });
    });
  }

  /** Byte counters from the socket: every byte of every MQTT packet, both ways, over all connections. */
  private attachCounters(client: MqttLikeClient): void {
    const stream = client.stream;
    if (!stream || stream === this.countedStream) return;
    this.sampleBytesSent();
    this.sentBefore = this.counters.bytesSent;
    this.countedStream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.counters.bytesReceived += chunk.length;
    });
  }

  private sampleBytesSent(): void {
    const written = this.countedStream?.bytesWritten;
    if (written !== undefined) this.counters.bytesSent = this.sentBefore + written;
  }

  private async afterConnect(client: MqttLikeClient, sessionPresent: boolean): Promise<void> {
    // subscribe on the first connection, and again whenever the broker kept no session for us
    // (restarted without persistence, session expired): MQTT.js only resubscribes by itself
    // when it runs its own reconnects (reconnectPeriod > 0), which this class does not use
    if (this.opts.subscriptions.length > 0 && (!this.subscribed || !sessionPresent)) {
      if (this.subscribed) this.logger.info('MQTT session not present on the broker; subscribing again', { url: this.opts.settings.url });
      await client.subscribeAsync([...this.opts.subscriptions], { qos: 1 });
      this.subscribed = true;
    }
    for (const h of this.connectHandlers) h();
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempts++, this.opts.reconnectMinMs ?? 500, this.opts.reconnectMaxMs ?? 30_000);
    this.logger.info('MQTT connection lost; reconnecting', { inMs: delay, attempt: this.attempts });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      const c = this.client;
      // keep the stores: QoS 1 publishes not yet acknowledged are resent on the new connection
      // (without them MQTT.js drops them and their publish promises never settle)
      if (!this.closing && c && !c.connected) c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
    }, delay);
    this.reconnectTimer.unref?.();
  }

  /** QoS 1 publish; resolves on PUBACK. While disconnected, MQTT.js queues it and sends it on reconnect. */
  async publish(topic: string, payload: Uint8Array, retain: boolean): Promise<void> {
    if (!this.client || this.closing) throw new TinyProtoError('E_NOT_CONNECTED', `not connected: cannot publish to ${topic}`);
    await this.client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1, retain });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    await this.client?.endAsync(false).catch(() => undefined);
    this.sampleBytesSent();
  }
}
