/** What the aggregator needs from its transport and the events it emits (aggregator/aggregator.ts). */
import type { Logger } from '../common/logger.ts';
import type { AgentTopic, AggregatorTopic } from '../wire/topics.ts';
import type { ExperimentConfig } from './config.ts';
import type { AggregatorStore } from './store.ts';
import type { RoundOutcome } from './round-policy.ts';

/** What the aggregator needs from MQTT (aggregator/transport.ts implements it). */
export interface AggregatorTransport {
  /** Publishes a retained QoS 1 message on an aggregator topic; resolves when the broker acknowledged it. */
  publishRetained(kind: AggregatorTopic, bytes: Uint8Array): Promise<void>;
  /** Publishes a RECEIPT, retained at QoS 1, on the agent's receipt topic. */
  publishReceipt(agent: string, bytes: Uint8Array): Promise<void>;
  /** Registers the handler of agent messages (uploads, status, telemetry) of this experiment. */
  onAgentMessage(handler: (kind: AgentTopic, agent: string, bytes: Uint8Array) => void): void;
  /** Called on every (re)connection (and at once when already connected). */
  onConnect?(handler: () => void): void;
  close(): Promise<void>;
}

export interface RoundOpened {
  round: number;
  selected: string[];
  deadlineMs: number;
  resumed: boolean;
}
export interface UploadAccepted {
  round: number;
  agent: string;
  bytes: number;
  accepted: number;
  expected: number;
}
export interface UploadRejected {
  round: number | null;
  agent: string | null;
  code: string;
  message: string;
}
export interface RoundClosed {
  round: number;
  uploads: number;
  selected: number;
  bytesIn: number;
  globalBytes: number;
  classesWithGlobal: number;
  seconds: number;
  /** How the round ended (aggregator/round-policy.ts) and why. */
  outcome: RoundOutcome;
  reason: string;
}

export interface AggregatorOptions {
  config: ExperimentConfig;
  store: AggregatorStore;
  transport: AggregatorTransport;
  logger?: Logger;
  now?: () => number;
}
