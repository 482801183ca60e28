/** What a simulation records per round and per client (sim/simulate.ts fills them in). */
import type { Family } from '../models/engine.ts';
import type { PrototypeEvalRule } from '../method/experiment.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { ClassScale } from './diagnostics.ts';
import type { RoundOutcome } from '../method/round-policy.ts';
import type { ClientFailure } from './train-client.ts';

export interface ClientRoundRecord {
  readonly client: number;
  readonly family: Family;
  readonly testCount: number;
  /** null in a round that was not evaluated (--eval-every). */
  readonly accuracyHead: number | null;
  /** Nearest prototype among all K (null for Local and before any global prototype). */
  readonly accuracyPrototype: number | null;
  /** Nearest prototype among the client's own classes: comparable across every method. */
  readonly accuracyPrototypeOwn: number | null;
  readonly classesHeld: number;
  /** Payload: the value bytes of the upload / of the global prototypes received. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Whole encoded messages (header, class bitmap, values, CRC), without MQTT framing. */
  readonly messageBytesUp: number;
  readonly messageBytesDown: number;
  readonly loss: number;
  readonly protoLoss: number;
  /** The largest global gradient norm of a training step this round (before clipping: `clipNorm`). */
  readonly gradNormMax: number;
  /** Steps this round whose gradient `clipNorm` scaled down. */
  readonly clippedSteps: number;
  readonly trainSeconds: number;
  /** The same per-round record an agent sends (energy estimated from the board profile). */
  readonly telemetry: RoundTelemetry;
}

export interface RoundRecord {
  readonly round: number;
  /** The clients that trained and uploaded (participation < 1: the aggregator's selection rule). */
  readonly selected: readonly number[];
  /** Whether the clients evaluated after this round (every --eval-every rounds, and the last). */
  readonly evaluated: boolean;
  /** Test-size-weighted mean over clients of accuracy by the head (null when not evaluated). */
  readonly accuracyHead: number | null;
  /** Same, by the nearest prototype among all K (null before any prototype exists, and for Local). */
  readonly accuracyPrototype: number | null;
  /** Same, by the nearest prototype among each client's own classes (every method, Local included). */
  readonly accuracyPrototypeOwn: number | null;
  /** For measurements: the all-K prototype accuracy under each evaluation rule (`prototypeEval`), from the same features. */
  readonly accuracyPrototypeByRule?: { readonly [R in PrototypeEvalRule]?: number | null } | null;
  /** Payload bytes summed over clients this round. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly bytesUpPerClient: number;
  readonly bytesDownPerClient: number;
  readonly messageBytesUpPerClient: number;
  readonly messageBytesDownPerClient: number;
  readonly loss: number;
  readonly protoLoss: number;
  /** Over the round's trainees: the largest step gradient norm, and the steps clipped (`clipNorm`). */
  readonly gradNormMax: number;
  readonly clippedSteps: number;
  readonly seconds: number;
  /** Per class: local and global prototype norms and TinyProto's mu * n_j (sim/diagnostics.ts). */
  readonly prototypeScales: readonly ClassScale[];
  readonly clients: readonly ClientRoundRecord[];
  /**
   * Trainees whose training diverged this round (sim/train-client.ts): they uploaded nothing and
   * went back to their weights from before the round, as an agent does. Absent when none did.
   */
  readonly failed?: readonly ClientFailure[];
  /** Simulated links and boards (sim/timing.ts): absent when the run has none. */
  readonly timing?: RoundTiming;
}

/** The timing part of a round record (RoundRecord.timing; absent without timing). */
export interface RoundTiming {
  /** Simulated seconds from the run's start to this round's opening. */
  readonly openedAt: number;
  /** Simulated round time: opening to close, s. */
  readonly seconds: number;
  readonly outcome: RoundOutcome;
  readonly reason: string;
  /** Selected clients whose upload arrived in time (aggregated), in arrival order. */
  readonly uploaded: readonly number[];
  /** Selected clients whose upload arrived after the close (stragglers; stale, not aggregated). */
  readonly late: readonly number[];
  /** Every client offline this round (selected or not): none of them trained. */
  readonly offline: readonly number[];
  /** Per client that trained: when it started (s after the opening; > 0 when still busy) and its phases, s. */
  readonly clients: readonly { client: number; start: number; download: number; train: number; restart: number; upload: number; arrives: number }[];
}

