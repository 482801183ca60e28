/**
 * The long-lived agent's connection while it waits between experiments: subscribed to its
 * fleet's retained EXPERIMENT announcements only (`tinyproto/fleet/{fleet}/experiment/+`),
 * client id `fleet:{fleet}:{agent}` (two colons: never an experiment agent's `{experiment}:{agent}`).
 * While an experiment runs, that experiment's connection carries the announcements instead
 * (agent/transport.ts FleetAnnouncements), so a board holds one MQTT connection at a time.
 */
import mqtt from 'mqtt';
import type { Logger } from '../common/logger.ts';
import { MqttSession, type ConnectionErrorHandler, type MqttConnectFn } from '../mqtt/session.ts';
import { fleetExperimentFilter, parseFleetTopic } from '../wire/topics.ts';
import type { AgentConfig } from './config.ts';
import { agentConnectionSettings, type FleetAnnouncements } from './transport.ts';

export interface FleetWatch {
  /** Resolves once connected (retries for ever, like every session); close() ends it. */
  start(): Promise<void>;
  close(): Promise<void>;
  onConnectionError?(handler: ConnectionErrorHandler): void;
}

export class MqttFleetWatch implements FleetWatch {
  private readonly session: MqttSession;

  constructor(config: AgentConfig & { readonly fleet: string }, announcements: FleetAnnouncements, logger?: Logger) {
    const fleet = config.fleet;
    this.session = new MqttSession({
      settings: { ...agentConnectionSettings(config, 10_000), clientId: `fleet:${fleet}:${config.id}` },
      subscriptions: [fleetExperimentFilter(fleet)],
      connect: mqtt.connect as unknown as MqttConnectFn,
      ...(logger ? { logger } : {}),
      reconnectMinMs: config.reconnectMinMs,
      reconnectMaxMs: config.reconnectMaxMs,
    });
    this.session.onMessage((topic, bytes) => {
      const t = parseFleetTopic(topic);
      if (t && t.fleet === fleet) announcements.onAnnouncement(t.experiment, bytes);
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  close(): Promise<void> {
    return this.session.close();
  }

  onConnectionError(handler: ConnectionErrorHandler): void {
    this.session.onConnectionError(handler);
  }
}
