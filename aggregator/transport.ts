/**
 * The aggregator's MQTT transport: the one server module that imports the MQTT client.
 * Persistent session, subscriptions to every agent's upload, status and telemetry topics of the
 * experiment and to relays' partials, retained QoS 1 publishes of masks, rounds and global prototypes.
 */
import mqtt from 'mqtt';
import type { Logger } from '../common/logger.ts';
import { MqttSession, type ConnectionErrorHandler, type MqttConnectFn, type WireCounters } from '../mqtt/session.ts';
import { connectionSettings, type BrokerConnection } from '../mqtt/options.ts';
import { agentFilter, aggregatorTopic, fleetExperimentTopic, parseTopic, receiptTopic, type AggregatorTopic, type SenderTopic } from '../wire/topics.ts';
import type { AggregatorTransport } from './aggregator.ts';

export interface AggregatorConnection extends BrokerConnection {
  /** PUBACK each agent message only when the aggregator has committed it (default true). */
  readonly holdAcks?: boolean;
}

export class MqttAggregatorTransport implements AggregatorTransport {
  private readonly session: MqttSession;

  constructor(
    private readonly experiment: string,
    conn: AggregatorConnection,
    logger?: Logger,
  ) {
    this.session = new MqttSession({
      settings: {
        ...connectionSettings(conn, `aggregator-${experiment}`.slice(0, 64), conn.username),
        // held PUBACKs: let the broker keep a whole group-commit batch in flight to the aggregator
        receiveMaximum: 10_000,
      },
      subscriptions: [agentFilter(experiment, 'upload'), agentFilter(experiment, 'status'), agentFilter(experiment, 'telemetry'), agentFilter(experiment, 'partial')],
      connect: mqtt.connect as unknown as MqttConnectFn,
      holdAcks: conn.holdAcks ?? true,
      ...(logger ? { logger } : {}),
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  get protocolVersion(): 4 | 5 | null {
    return this.session.protocolVersion;
  }

  get counters(): WireCounters {
    return this.session.counters;
  }

  publishRetained(kind: AggregatorTopic, bytes: Uint8Array): Promise<void> {
    return this.session.publish(aggregatorTopic(this.experiment, kind), bytes, true);
  }

  /** The retained EXPERIMENT announcement of this experiment to `fleet` (signed by the signing wrapper, as every publish*). */
  publishFleetAnnouncement(fleet: string, bytes: Uint8Array): Promise<void> {
    return this.session.publish(fleetExperimentTopic(fleet, this.experiment), bytes, true);
  }

  publishReceipt(agent: string, bytes: Uint8Array): Promise<void> {
    return this.session.publish(receiptTopic(this.experiment, agent), bytes, true);
  }

  onAgentMessage(handler: (kind: SenderTopic, agent: string, bytes: Uint8Array, ack?: () => void) => void): void {
    this.session.onMessage((topic, bytes, ack) => {
      const t = parseTopic(topic);
      if (t && t.experiment === this.experiment && 'agent' in t && t.kind !== 'receipt') handler(t.kind, t.agent, bytes, ack);
      else ack();
    });
  }

  onConnect(handler: () => void): void {
    this.session.onConnect(handler);
  }

  /** Every classified connection failure (E_MQTT_*), see MqttSession.onConnectionError. */
  onConnectionError(handler: ConnectionErrorHandler): void {
    this.session.onConnectionError(handler);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
