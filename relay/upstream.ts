/**
 * A relay's link to its coordinator's broker: a persistent MQTT session (client id
 * `{experiment}:{relay}`, so on the fleet broker the relay logs in as its own id) subscribed to
 * the coordinator's retained MASKS, ROUND and GLOBAL and to its RECEIPTs for this relay, and
 * publishing the relay's PARTIALs (QoS 1) on `tinyproto/{experiment}/partial/{relay}`.
 */
import mqtt from 'mqtt';
import type { Logger } from '../common/logger.ts';
import { MqttSession, type ConnectionErrorHandler, type MqttConnectFn } from '../mqtt/session.ts';
import { agentClientId, connectionSettings, type BrokerConnection } from '../mqtt/options.ts';
import { aggregatorTopic, parseTopic, partialTopic, receiptTopic } from '../wire/topics.ts';

export type UpstreamKind = 'masks' | 'round' | 'global' | 'receipt';

/** What a relay needs from its upstream link (tests may give it any real transport). */
export interface RelayUpstream {
  onMessage(handler: (kind: UpstreamKind, bytes: Uint8Array) => void): void;
  /** Resolves when the coordinator's broker acknowledged the PARTIAL (QoS 1). */
  publishPartial(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export class MqttRelayUpstream implements RelayUpstream {
  private readonly session: MqttSession;

  constructor(
    private readonly experiment: string,
    private readonly relay: string,
    conn: BrokerConnection,
    logger?: Logger,
  ) {
    this.session = new MqttSession({
      settings: connectionSettings(conn, agentClientId(experiment, relay), conn.username ?? relay),
      subscriptions: [aggregatorTopic(experiment, 'masks'), aggregatorTopic(experiment, 'round'), aggregatorTopic(experiment, 'global'), receiptTopic(experiment, relay)],
      connect: mqtt.connect as unknown as MqttConnectFn,
      ...(logger ? { logger } : {}),
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  get protocolVersion(): 4 | 5 | null {
    return this.session.protocolVersion;
  }

  onMessage(handler: (kind: UpstreamKind, bytes: Uint8Array) => void): void {
    this.session.onMessage((topic, bytes) => {
      const t = parseTopic(topic);
      if (!t || t.experiment !== this.experiment || bytes.length === 0) return;
      if (t.kind === 'masks' || t.kind === 'round' || t.kind === 'global') handler(t.kind, bytes);
      else if (t.kind === 'receipt' && t.agent === this.relay) handler('receipt', bytes);
    });
  }

  publishPartial(bytes: Uint8Array): Promise<void> {
    return this.session.publish(partialTopic(this.experiment, this.relay), bytes, false);
  }

  onConnectionError(handler: ConnectionErrorHandler): void {
    this.session.onConnectionError(handler);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
