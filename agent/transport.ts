/**
 * The agent's MQTT transport: the one agent module that imports the MQTT client. Persistent
 * session (client id `{experiment}:{agent}`, PROTOCOL.md §8 "Client ids"), last will = STATUS offline (retained), subscriptions to the
 * aggregator's retained topics, QoS 1 publishes on the agent's own topics.
 */
import mqtt from 'mqtt';
import type { Logger } from '../common/logger.ts';
import { MqttSession, type ConnectionErrorHandler, type MqttConnectFn, type WireCounters } from '../mqtt/session.ts';
import { agentClientId, connectionSettings, type MqttConnectionSettings } from '../mqtt/options.ts';
import { agentTopic, aggregatorTopic, fleetExperimentFilter, parseFleetTopic, parseTopic, receiptTopic, type AgentTopic } from '../wire/topics.ts';
import type { AgentInbound, AgentTransport } from './agent-types.ts';
import type { AgentConfig } from './config.ts';

/** How an agent connects: its client id (scoped to the experiment), login, TLS files, a persistent session of a week. */
export function agentConnectionSettings(config: AgentConfig, connectTimeoutMs: number): MqttConnectionSettings {
  return connectionSettings(config, agentClientId(config.experiment, config.id), config.username ?? config.id, connectTimeoutMs);
}

/** A long-lived agent's fleet announcements, carried on the experiment's connection while it runs. */
export interface FleetAnnouncements {
  readonly fleet: string;
  onAnnouncement(experiment: string, bytes: Uint8Array): void;
}

export class MqttAgentTransport implements AgentTransport {
  private readonly session: MqttSession;
  private readonly config: AgentConfig;
  private readonly fleet: FleetAnnouncements | null;

  /**
   * With `fleet`, the connection also subscribes to the fleet's EXPERIMENT announcements and
   * hands them to `fleet.onAnnouncement` (one connection per board at a time: a broker that
   * uses the username as client id would have two sessions of one agent take each other over).
   */
  constructor(config: AgentConfig, will: Uint8Array, logger?: Logger, fleet?: FleetAnnouncements) {
    this.config = config;
    const e = config.experiment;
    this.fleet = fleet ?? null;
    this.session = new MqttSession({
      settings: { ...agentConnectionSettings(config, 10_000), will: { topic: agentTopic(e, 'status', config.id), payload: will, retain: true } },
      subscriptions: [aggregatorTopic(e, 'masks'), aggregatorTopic(e, 'round'), aggregatorTopic(e, 'global'), receiptTopic(e, config.id), ...(fleet ? [fleetExperimentFilter(fleet.fleet)] : [])],
      connect: mqtt.connect as unknown as MqttConnectFn,
      ...(logger ? { logger } : {}),
      reconnectMinMs: config.reconnectMinMs,
      reconnectMaxMs: config.reconnectMaxMs,
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

  onMessage(handler: (kind: AgentInbound, bytes: Uint8Array) => void): void {
    this.session.onMessage((topic, bytes) => {
      const f = this.fleet ? parseFleetTopic(topic) : null;
      if (f && f.fleet === this.fleet!.fleet) return this.fleet!.onAnnouncement(f.experiment, bytes);
      const t = parseTopic(topic);
      if (!t || t.experiment !== this.config.experiment) return;
      if (t.kind === 'masks' || t.kind === 'round' || t.kind === 'global') handler(t.kind, bytes);
      else if (t.kind === 'receipt' && t.agent === this.config.id) handler('receipt', bytes);
    });
  }

  onConnect(handler: () => void): void {
    this.session.onConnect(handler);
  }

  /** Asks the broker for the retained masks, round and global prototypes again (catching up on a dropped one). */
  refresh(): Promise<void> {
    const e = this.config.experiment;
    return this.session.resubscribe([aggregatorTopic(e, 'masks'), aggregatorTopic(e, 'round'), aggregatorTopic(e, 'global')]);
  }

  onDisconnect(handler: () => void): void {
    this.session.onDisconnect(handler);
  }

  /** Every classified connection failure (E_MQTT_*), see MqttSession.onConnectionError. */
  onConnectionError(handler: ConnectionErrorHandler): void {
    this.session.onConnectionError(handler);
  }

  publish(kind: AgentTopic, bytes: Uint8Array, retain: boolean): Promise<void> {
    return this.session.publish(agentTopic(this.config.experiment, kind, this.config.id), bytes, retain);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}
