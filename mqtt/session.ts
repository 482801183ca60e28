/**
 * A long-lived MQTT session for either side: connects (MQTT 5, falling back to 3.1.1 when the
 * broker refuses it), keeps a persistent session, retries the first connection and reconnects
 * for ever with exponential backoff and jitter (its timers keep the process alive: a dropped
 * connection never ends a process), says why each attempt failed (mqtt/failures.ts, through
 * onConnectionError), publishes at QoS 1 and resolves only when the broker acknowledged
 * delivery, subscribes, and counts the bytes that cross the socket. The MQTT client library is
 * injected by the side's transport module (the only modules that import `mqtt`).
 */
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { backoffDelay, mqttClientOptions, versionsToTry, type MqttConnectionSettings } from './options.ts';
import { SocketCounters, type WireCounters } from './counters.ts';
import { NO_ACK, deferredAck, holdPubacks, type MessageAck, type MessageHandler } from './held-acks.ts';
import { classifyConnectError, classifySubscribeError, connectionFailureLine, notDelivered } from './failures.ts';

/** The part of an MQTT.js client this module uses. */
export interface MqttLikeClient {
  connected: boolean;
  on(event: 'connect', cb: (connack: unknown) => void): unknown;
  on(event: 'close' | 'offline', cb: () => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
  on(event: 'message', cb: (topic: string, payload: Buffer, packet?: { qos?: number; messageId?: number }) => void): unknown;
  on(event: 'packetsend' | 'packetreceive', cb: (packet: { cmd: string; length?: number; payload?: unknown; messageId?: number; reasonCode?: number }) => void): unknown;
  /** MQTT 5 server DISCONNECT (e.g. 0x8E Session taken over). */
  on(event: 'disconnect', cb: (packet: { reasonCode?: number }) => void): unknown;
  publishAsync(topic: string, payload: Buffer, opts: { qos: 1; retain: boolean }): Promise<unknown>;
  subscribeAsync(topics: string[], opts: { qos: 1 }): Promise<unknown>;
  endAsync(force?: boolean): Promise<void>;
  /** MQTT.js replaces its message stores with empty ones unless they are passed back in. */
  reconnect(opts?: { incomingStore?: unknown; outgoingStore?: unknown }): unknown;
  incomingStore?: unknown;
  outgoingStore?: unknown;
  stream?: { on(event: 'data', cb: (chunk: Buffer) => void): unknown; bytesWritten?: number } | undefined;
  handleMessage?: (packet: { qos?: number; messageId?: number }, cb: (err?: Error) => void) => void;
  _sendPacket?: (packet: Record<string, unknown>) => void;
}

export type { MessageAck, MessageHandler };

export type MqttConnectFn = (url: string, options: Record<string, unknown>) => MqttLikeClient;

export type { WireCounters } from './counters.ts';

export interface SessionOptions {
  readonly settings: MqttConnectionSettings;
  readonly subscriptions: readonly string[];
  readonly connect: MqttConnectFn;
  readonly logger?: Logger;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /**
   * Failed attempts start() makes before it rejects with the last classified failure
   * (default Infinity: keep trying until connected or closed).
   */
  readonly connectAttempts?: number;
  /** Jitter source of the backoff (tests). */
  readonly random?: () => number;
  /**
   * Opt-in: the PUBACK of a QoS 1 message is sent only when a handler calls the message's `ack`
   * (e.g. after the message is durably stored), not on receipt. Messages keep flowing meanwhile
   * (the broker's in-flight window bounds how many are unacknowledged); a message not
   * acknowledged before the connection drops is redelivered by the broker (persistent
   * session). How: mqtt/held-acks.ts.
   */
  readonly holdAcks?: boolean;
}

/** A failed connection attempt, classified (code E_MQTT_*), with the attempt number and the wait before the next one. */
export type ConnectionErrorHandler = (error: TinyProtoError, info: { attempt: number; retryInMs: number | null }) => void;

/** Messages kept while no handler is registered yet. */
const MAX_EARLY_MESSAGES = 10_000;

export class MqttSession {
  private client: MqttLikeClient | null = null;
  private version: 4 | 5 | null = null;
  private readonly messageHandlers: MessageHandler[] = [];
  private early: [string, Uint8Array, MessageAck][] = [];
  private readonly connectHandlers: (() => void)[] = [];
  private readonly disconnectHandlers: (() => void)[] = [];
  private readonly errorHandlers: ConnectionErrorHandler[] = [];
  private failure: TinyProtoError | null = null;
  /** PUBACK reason code by packet id (MQTT.js resolves publishAsync for 0x10 without it). */
  private readonly pubackReasons = new Map<number, number>();
  /** The client of an attempt in progress (ended by close()). */
  private pending: MqttLikeClient | null = null;
  private readonly inFlight = new Set<(e: Error) => void>(); // publishes awaiting a PUBACK: close() fails them
  private startWait: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private readonly logger: Logger;
  private closing = false;
  private wasConnected = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private subscribed = false;
  private readonly socket = new SocketCounters();
  readonly counters: WireCounters = this.socket.counters;

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
  onMessage(handler: MessageHandler): void {
    this.messageHandlers.push(handler);
    const early = this.early;
    this.early = [];
    for (const [topic, bytes, ack] of early) handler(topic, bytes, ack);
  }

  private holdEarly(topic: string, bytes: Uint8Array, ack: MessageAck): void {
    if (this.early.length >= MAX_EARLY_MESSAGES) {
      this.logger.warn('MQTT message dropped: no handler registered yet and the early buffer is full', { topic });
      // not acknowledged: with holdAcks the broker redelivers it on the next connection
      return;
    }
    this.early.push([topic, bytes, ack]);
  }

  private ackFor(client: MqttLikeClient, packet: { qos?: number; messageId?: number } | undefined): MessageAck {
    if (!this.opts.holdAcks) return NO_ACK;
    return deferredAck(client, packet, () => this.client === client && client.connected && !this.closing);
  }

  onConnect(handler: () => void): void {
    this.connectHandlers.push(handler);
    if (this.connected) handler();
  }

  /** Called when an established connection closes (before any reconnection). */
  onDisconnect(handler: () => void): void {
    this.disconnectHandlers.push(handler);
  }

  /**
   * Called for every failed connection attempt (first connection and reconnects), every
   * refused subscription and every publish the ACL denied, with the classified error:
   * E_MQTT_UNREACHABLE | E_MQTT_AUTH | E_MQTT_TLS | E_MQTT_ACL | E_MQTT_REFUSED. A failure
   * already seen is replayed to a handler registered later, while it is still the latest.
   */
  onConnectionError(handler: ConnectionErrorHandler): void {
    this.errorHandlers.push(handler);
    if (this.failure && !this.connected) handler(this.failure, { attempt: this.attempts, retryInMs: null });
  }

  /** The latest classified failure; null once connected again. */
  get lastConnectionError(): TinyProtoError | null {
    return this.failure;
  }

  private reportFailure(e: TinyProtoError, attempt: number, retryInMs: number | null): void {
    this.failure = e;
    this.logger.warn(connectionFailureLine(e), { url: this.opts.settings.url, attempt, ...(retryInMs !== null ? { retryInMs } : {}) });
    for (const h of this.errorHandlers) h(e, { attempt, retryInMs });
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, this.opts.reconnectMinMs ?? 500, this.opts.reconnectMaxMs ?? 30_000, this.opts.random);
  }

  /**
   * Connects (trying MQTT 5 first when allowed, 3.1.1 when the broker refuses 5) and subscribes.
   * A failed attempt is classified, reported to onConnectionError and logged, and retried after
   * a backoff with jitter, for ever (or `connectAttempts` times, then it rejects with the last
   * failure). Rejects with E_NOT_CONNECTED when close() is called first, and with E_CONFIG at
   * once when a TLS file cannot be read.
   */
  async start(): Promise<void> {
    const s = this.opts.settings;
    const maxAttempts = this.opts.connectAttempts ?? Infinity;
    for (let attempt = 1; ; attempt++) {
      let failure: TinyProtoError | null = null;
      for (const v of versionsToTry(s.version)) {
        if (this.closing) throw new TinyProtoError('E_NOT_CONNECTED', `closed before connecting to ${s.url}`);
        try {
          await this.open(v);
          this.version = v;
          this.failure = null;
          return;
        } catch (e) {
          if (isTinyProtoError(e, 'E_CONFIG')) throw e;
          failure = classifyConnectError(e, { url: s.url, protocolVersion: v, username: s.username });
          this.logger.debug('MQTT connect attempt failed', { url: s.url, protocolVersion: v, code: failure.code, error: failure.message });
          // unreachable, TLS or credentials: the protocol version is not the problem
          if (failure.code !== 'E_MQTT_REFUSED') break;
        }
      }
      if (this.closing) throw new TinyProtoError('E_NOT_CONNECTED', `closed before connecting to ${s.url}`);
      const last = attempt >= maxAttempts;
      const wait = last ? null : this.backoff(attempt - 1);
      this.attempts = attempt;
      this.reportFailure(failure!, attempt, wait);
      if (wait === null) throw failure!;
      await new Promise<void>((wake) => {
        this.startWait = { timer: setTimeout(wake, wait), wake };
      });
      this.startWait = null;
    }
  }

  private open(version: 4 | 5): Promise<void> {
    const s = this.opts.settings;
    const client = this.opts.connect(s.url, mqttClientOptions(s, version));
    if (this.opts.holdAcks) holdPubacks(client);
    this.pending = client;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        if (this.pending === client) this.pending = null;
        void client.endAsync(true).catch(() => undefined);
        reject(e);
      };
      const timer = setTimeout(() => fail(new TinyProtoError('E_NOT_CONNECTED', `no CONNACK within ${s.connectTimeoutMs} ms`)), s.connectTimeoutMs + 500);
      client.on('error', (e) => {
        if (!settled) {
          clearTimeout(timer);
          fail(e);
        } else if (this.closing || this.client !== client) {
          this.logger.debug('MQTT error while closing', { error: e.message });
        } else {
          // a reconnect refused or failing, or the live connection breaking
          this.reportFailure(classifyConnectError(e, { url: s.url, protocolVersion: version, username: s.username }), this.attempts, null);
        }
      });
      client.on('disconnect', (p) => {
        this.logger.warn('MQTT broker sent DISCONNECT', { url: s.url, reasonCode: p?.reasonCode, ...(p?.reasonCode === 0x8e ? { reason: 'session taken over by another client with the same client id' } : {}) });
      });
      client.on('close', () => {
        if (!settled) {
          clearTimeout(timer);
          fail(new TinyProtoError('E_NOT_CONNECTED', 'connection closed before CONNACK'));
          return;
        }
        this.socket.sample();
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
        this.socket.attach(client.stream);
        if (!settled) {
          settled = true;
          this.pending = null;
          this.client = client;
          client.on('message', (topic, payload, packet) => {
            this.counters.publishesReceived++;
            const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
            const ack = this.ackFor(client, packet);
            if (this.messageHandlers.length === 0) {
              this.holdEarly(topic, bytes, ack);
              return;
            }
            for (const h of this.messageHandlers) h(topic, bytes, ack);
          });
          this.afterConnect(client, sessionPresent).then(resolve, (e: Error) => {
            // a refused subscription: drop this connection, start() reports and retries
            this.client = null;
            void client.endAsync(true).catch(() => undefined);
            reject(e);
          });
        } else {
          this.counters.reconnects++;
          this.failure = null;
          this.logger.info('MQTT reconnected', { url: s.url });
          this.afterConnect(client, sessionPresent).catch((e: Error) => {
            if (isTinyProtoError(e, 'E_MQTT_ACL')) this.reportFailure(e, this.attempts, null);
            else this.logger.warn('MQTT resubscribe failed', { error: e.message });
          });
        }
      });
      client.on('packetreceive', (p) => {
        if (p.cmd === 'puback' && typeof p.messageId === 'number') this.pubackReasons.set(p.messageId, p.reasonCode ?? 0);
      });
      client.on('packetsend', (p) => {
        if (p.cmd === 'publish') this.counters.publishesSent++;
      });
    });
  }

  private async afterConnect(client: MqttLikeClient, sessionPresent: boolean): Promise<void> {
    // subscribe on the first connection, and again whenever the broker kept no session for us
    // (restarted without persistence, session expired): MQTT.js only resubscribes by itself
    // when it runs its own reconnects (reconnectPeriod > 0), which this class does not use
    if (this.opts.subscriptions.length > 0 && (!this.subscribed || !sessionPresent)) {
      if (this.subscribed) this.logger.info('MQTT session not present on the broker; subscribing again', { url: this.opts.settings.url });
      const topics = [...this.opts.subscriptions];
      await client.subscribeAsync(topics, { qos: 1 }).catch((e: unknown) => {
        throw classifySubscribeError(e, topics);
      });
      this.subscribed = true;
    }
    for (const h of this.connectHandlers) h();
  }

  /**
   * Subscribes again to `topics` (a subset of the session's subscriptions): the broker then
   * delivers their retained messages once more. A client that may have missed a retained
   * message (dropped by a full broker queue) uses this to catch up. No-op while disconnected.
   */
  async resubscribe(topics: readonly string[] = this.opts.subscriptions): Promise<void> {
    const client = this.client;
    if (!client || !client.connected || this.closing || topics.length === 0) return;
    await client.subscribeAsync([...topics], { qos: 1 }).catch((e: unknown) => {
      throw classifySubscribeError(e, [...topics]);
    });
  }

  /**
   * The timer is deliberately not unref()ed: an idle process (an agent waiting for a round)
   * has nothing else keeping it alive while the broker is away, and must not exit.
   */
  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    const delay = this.backoff(this.attempts++);
    this.logger.info('MQTT connection lost; reconnecting', { inMs: delay, attempt: this.attempts });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      const c = this.client;
      // keep the stores: QoS 1 publishes not yet acknowledged are resent on the new connection
      // (without them MQTT.js drops them and their publish promises never settle)
      if (!this.closing && c && !c.connected) c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
    }, delay);
  }

  /**
   * QoS 1 publish; resolves on a PUBACK that accepted the message. While disconnected, MQTT.js
   * queues it and sends it on reconnect. Rejects with E_NOT_DELIVERED (details: topic,
   * reasonCode, reason) on PUBACK 0x10 (no matching subscribers: nobody got it; not for a
   * retained publish, which the broker keeps for later subscribers) and on every
   * reason code >= 0x80 (0x87 = denied by the ACL, also reported as E_MQTT_ACL to
   * onConnectionError). MQTT 3.1.1 PUBACKs carry no reason code.
   */
  async publish(topic: string, payload: Uint8Array, retain: boolean): Promise<void> {
    const client = this.client;
    if (!client || this.closing) throw new TinyProtoError('E_NOT_CONNECTED', `not connected: cannot publish to ${topic}`);
    let sent: unknown;
    try {
      sent = await this.untilClosed(client.publishAsync(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1, retain }));
    } catch (e) {
      const rc = (e as { code?: unknown }).code;
      if (typeof rc !== 'number') throw e;
      const err = notDelivered(topic, rc, (e as Error).message);
      if (rc === 0x87) this.reportFailure(new TinyProtoError('E_MQTT_ACL', `broker denied access to a topic: publish to ${topic} not authorized (PUBACK 0x87)`, { topic, reasonCode: rc }), this.attempts, null);
      throw err;
    }
    // MQTT.js resolves with the PUBLISH packet it stored; its packet id finds the PUBACK's reason code
    const id = (sent as { messageId?: unknown } | null | undefined)?.messageId;
    if (typeof id !== 'number') return;
    const rc = this.pubackReasons.get(id) ?? 0;
    this.pubackReasons.delete(id);
    // a retained message is stored by the broker and delivered to later subscribers: 0x10 is fine
    if ((rc === 0x10 && !retain) || rc >= 0x80) throw notDelivered(topic, rc, '');
  }

  /** `p`, or E_NOT_CONNECTED when close() comes first (MQTT.js keeps unacknowledged QoS 1 publishes pending for ever). */
  private untilClosed<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inFlight.add(reject);
      p.then(resolve, reject).finally(() => this.inFlight.delete(reject));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const fail of this.inFlight) fail(new TinyProtoError('E_NOT_CONNECTED', `closed before the broker acknowledged a publish (${this.opts.settings.url})`));
    this.inFlight.clear();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.startWait) {
      clearTimeout(this.startWait.timer);
      this.startWait.wake();
    }
    await this.pending?.endAsync(true).catch(() => undefined);
    // disconnected (the broker is gone), a graceful end would wait for PUBACKs that cannot come;
    // forced, it ends at once (the publishes in flight were failed above)
    await this.client?.endAsync(!this.client.connected).catch(() => undefined);
    this.socket.sample();
  }
}
