/** What the agent needs from its transport and what it reports (agent/agent.ts). */
import type { Logger } from '../common/logger.ts';
import type { AgentTopic, AggregatorTopic } from '../wire/topics.ts';
import type { Engine } from '../models/engine.ts';
import type { AgentConfig } from './config.ts';
import type { EnergyMeterLike } from './telemetry.ts';
import type { AgentStore, EvaluationRecord } from './store.ts';

/** What reaches an agent from the aggregator: the broadcasts and the receipts for its own uploads. */
export type AgentInbound = AggregatorTopic | 'receipt';

/** What the agent needs from MQTT (agent/transport.ts implements it). */
export interface AgentTransport {
  /** Handler of aggregator messages (masks, round, global, and this agent's receipts) of this experiment. */
  onMessage(handler: (kind: AgentInbound, bytes: Uint8Array) => void): void;
  /** Called on every (re)connection. */
  onConnect(handler: () => void): void;
  /** Called when an established connection is lost (before it reconnects). */
  onDisconnect?(handler: () => void): void;
  /** Has the broker deliver the aggregator's retained messages again. */
  refresh?(): Promise<void>;
  /** QoS 1 publish on this agent's topic; resolves when the broker acknowledged it. */
  publish(kind: AgentTopic, bytes: Uint8Array, retain: boolean): Promise<void>;
  close(): Promise<void>;
  /** Cumulative bytes on the broker connection, MQTT framing included (for telemetry). */
  readonly counters?: { readonly bytesSent: number; readonly bytesReceived: number };
}

export interface AgentOptions {
  config: AgentConfig;
  store: AgentStore;
  transport: AgentTransport;
  engine: Engine;
  /** Energy meter (sensor or estimate); default: agent/energy's best source for config.board. */
  energy?: EnergyMeterLike;
  logger?: Logger;
  now?: () => number;
}

export interface RoundTrained {
  round: number;
  classesHeld: number;
  uploadBytes: number;
  trainSeconds: number;
  prototypeSeconds: number;
  loss: number;
}

export type { EvaluationRecord };
