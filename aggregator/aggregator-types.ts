/** What the aggregator needs from its transport and the events it emits (aggregator/aggregator.ts). */
import type { MuSource } from './train-samples.ts';
import type { Logger } from '../common/logger.ts';
import type { AggregatorTopic, SenderTopic } from '../wire/topics.ts';
import type { ExperimentConfig } from './config.ts';
import type { AggregatorStore } from './store.ts';
import type { RoundOutcome } from './round-policy.ts';

/** What the aggregator needs from MQTT (aggregator/transport.ts implements it). */
export interface AggregatorTransport {
  /** Publishes a retained QoS 1 message on an aggregator topic; resolves when the broker acknowledged it. */
  publishRetained(kind: AggregatorTopic, bytes: Uint8Array): Promise<void>;
  /** Publishes a RECEIPT, retained at QoS 1, on the agent's receipt topic. */
  publishReceipt(agent: string, bytes: Uint8Array): Promise<void>;
  /**
   * Registers the handler of agent messages (uploads, status, telemetry) and relays' partials
   * (kind 'partial', `agent` = the relay) of this experiment.
   * `ack`, when given, acknowledges the message to the broker (its MQTT PUBACK, when the
   * transport holds them): the aggregator calls it once the message's effect is durable.
   */
  onAgentMessage(handler: (kind: SenderTopic, agent: string, bytes: Uint8Array, ack?: () => void) => void): void;
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
/** A relay's PARTIAL counted: `agents` uploads merged at once. */
export interface PartialAccepted {
  round: number;
  relay: string;
  agents: number;
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
  /** The mu this round's global prototypes were scaled with (null: not TinyProto, or nothing to scale). */
  mu: number | null;
  /** The N that mu came from (null for a fixed mu or without TinyProto). */
  totalTrainSamples: number | null;
  /** Where mu came from (aggregator/train-samples.ts): fixed, reported, estimated or configured. */
  muSource: MuSource | null;
}

/** Group commit (aggregator/batch.ts). */
export interface CommitPolicy {
  /** A batch is committed as soon as it holds this many messages. */
  readonly maxBatch: number;
  /**
   * Otherwise this long after its first message; 0 = as soon as the messages already received
   * are handled (setImmediate): batches then grow with the load by themselves.
   */
  readonly maxDelayMs: number;
}

export interface AggregatorOptions {
  /** Group commit of uploads, status and telemetry (default BATCH_DEFAULTS in aggregator/batch.ts). */
  commit?: Partial<CommitPolicy>;
  config: ExperimentConfig;
  store: AggregatorStore;
  transport: AggregatorTransport;
  /** Relay ids whose PARTIALs the aggregator counts (`--relays`); distinct from the agent ids. */
  relays?: readonly string[];
  logger?: Logger;
  now?: () => number;
}
