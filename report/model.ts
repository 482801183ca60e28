/**
 * The report's data model: one `RunData` per run (a `tinyproto simulate --json` file, or one
 * experiment of an aggregator store), whatever it came from.
 */
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { ChurnEvent } from '../fleet/churn.ts';
import type { CrashOutcome, RoundParticipation } from '../fleet/participation.ts';

export type RunKind = 'simulate' | 'fleet';

export interface RunRound {
  readonly round: number;
  /** Test-count-weighted mean over the agents/clients that evaluated; null when none did. */
  readonly accuracyHead: number | null;
  readonly accuracyPrototype: number | null;
  /**
   * Whole encoded messages summed over agents (header, class bitmap, values, CRC; no MQTT
   * framing), so simulations and fleets compare: uploads received, and global prototypes
   * times the agents they went to.
   */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly seconds: number;
}

export interface AgentAccuracy {
  readonly agent: string;
  readonly round: number;
  readonly accuracyHead: number;
  readonly accuracyPrototype: number | null;
}

export interface RunData {
  /** Unique within a report (the loaders derive it from the file and experiment). */
  readonly name: string;
  readonly method: string;
  readonly kind: RunKind;
  /** Ordered by round. */
  readonly rounds: readonly RunRound[];
  /** Ordered by round, then agent. */
  readonly perAgent: readonly AgentAccuracy[];
  /** Ordered by round, then agent. */
  readonly telemetry: readonly RoundTelemetry[];
  /** A fleet run's churn actions and per-round participation (its run directory's participation.json); absent otherwise. */
  readonly participation?: RunParticipation;
}

export interface RunParticipation {
  readonly churn: readonly ChurnEvent[];
  readonly rounds: readonly RoundParticipation[];
  readonly crashes: readonly CrashOutcome[];
}
