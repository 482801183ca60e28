/** The fleet's options, hooks and result (fleet/run.ts runFleet). */
import type { Logger } from '../common/logger.ts';
import type { Method } from '../method/method.ts';
import type { ValueType } from '../wire/codec-types.ts';
import type { Family } from '../models/engine.ts';
import type { Aggregator, RoundClosed, UploadAccepted, UploadRejected } from '../aggregator/aggregator.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { ExperimentConfig } from '../aggregator/config.ts';
import type { AgentEvaluation } from './evaluations.ts';
import type { EngineName } from '../models/index.ts';
import type { EngineChoice, OrtProviderChoice, TfjsBackendChoice } from '../learner/engine-settings.ts';
import type { FleetEmulation } from '../emulation/fleet-emulation.ts';
import type { AgentPlan } from '../method/fleet-plan.ts';
import type { ChurnEvent } from './churn.ts';
import type { CrashOutcome, RoundParticipation } from './participation.ts';

export interface FleetOptions {
  readonly agents: number;
  readonly rounds: number;
  /** 'embedded' starts aedes in this process; otherwise an mqtt:// or mqtts:// URL. */
  readonly broker: 'embedded' | string;
  readonly dir: string;
  readonly experiment: string;
  readonly method: Method;
  readonly alpha: number;
  readonly seed: number;
  readonly samplesPerClient: number | null;
  readonly dataDir: string | null;
  readonly featureDim: number;
  readonly ratio: number;
  readonly valueType: ValueType;
  readonly families: readonly Family[] | null;
  /** JSON file {"aggregator": "...", "agent-0": "..."} of MQTT passwords (make-fleet-credentials.sh writes one). */
  readonly credentials: string | null;
  /** CA certificate for mqtts:// brokers. */
  readonly caFile: string | null;
  readonly roundDeadlineMs: number;
  /** Every agent's training engine: 'auto' (= 'ort', ONNX Runtime; the default) or 'tfjs'. */
  readonly engine?: EngineChoice;
  /**
   * ort: ONNX Runtime intra-op threads of each agent; 0/absent = auto (AUTO_ORT_THREADS = 1),
   * since the agents share this machine's cores.
   */
  readonly threads?: number;
  /**
   * ort: training worker threads of each agent (learner/engine-settings.ts); 0/absent = auto
   * (AUTO_TRAIN_THREADS = 1).
   */
  readonly trainThreads?: number;
  /** ort: execution provider of every agent (absent = the agent's default, auto). */
  readonly provider?: OrtProviderChoice;
  /** tfjs only: every agent's TensorFlow.js backend. */
  readonly backend: TfjsBackendChoice;
  /** Port of the live web dashboard on 127.0.0.1 (0 = any free port); null/absent = none. */
  readonly dashboardPort?: number | null;
  /** Link profile of every agent's connection (emulation/link-profiles.ts, e.g. 'wifi-congested'); null/absent = direct. */
  readonly link?: string | null;
  /** Board every agent emulates (emulation/boards.ts): cgroup CPU quota and memory limit, energy profile; null/absent = none. */
  readonly board?: string | null;
  /** This machine's one-core training speed for the board quota, images/s; null/absent = measured at start. */
  readonly hostImagesPerSec?: number | null;
  /**
   * One plan per agent (method/fleet-plan.ts fleetPlan: its group, link, board and churn);
   * absent = fleetPlan({agents, groups: null, link, board}): every agent on `link` and `board`, no churn.
   * Its length must be `agents`.
   */
  readonly plans?: readonly AgentPlan[];
  /** Aggregator settings beyond the above (lambda, mu, participation, minUploads, ...; from the experiment file or flags). */
  readonly aggregator?: Partial<ExperimentConfig>;
}

export interface FleetHooks {
  readonly logger?: Logger;
  readonly onReady?: (info: {
    brokerUrl: string;
    agents: { id: string; family: Family; train: number; test: number }[];
    mu: number | null;
    /** The engine every agent was asked for ('ort' or 'tfjs', 'auto' resolved) and, for ort, its intra-op threads. */
    engine: EngineName;
    threads: number;
  }) => void;
  readonly onRound?: (r: RoundClosed) => void;
  readonly onRejected?: (r: UploadRejected) => void;
  readonly onAgentLine?: (agent: string, line: string) => void;
  /**
   * A fleet member (an agent id, or 'aggregator') cannot connect to the broker, e.g.
   * ('agent-2', 'cannot connect: broker refused the credentials (E_MQTT_AUTH)', 'E_MQTT_AUTH').
   * Called once per cause (again after the member connected in between); the member keeps retrying.
   */
  readonly onConnectionError?: (member: string, line: string, code: string) => void;
  readonly onDashboard?: (url: string) => void;
  readonly onUpload?: (u: UploadAccepted) => void;
  readonly onTelemetry?: (t: RoundTelemetry) => void;
  /** The aggregator itself, once started (tests use it to watch rounds open). */
  readonly onAggregator?: (a: Aggregator) => void;
  /** What the link and board emulation set up (or could not), one line each. */
  readonly onEmulation?: (lines: readonly string[]) => void;
  /** A churn action (fleet/churn.ts): an agent stopped for its offline rounds, rejoining, killed mid-upload, restarted. */
  readonly onChurn?: (e: ChurnEvent) => void;
}

export interface FleetRound extends RoundClosed {
  /** Test-size-weighted mean over the agents that evaluated this round. */
  readonly accuracyHead: number | null;
  readonly accuracyPrototype: number | null;
  readonly evaluatedBy: number;
}

export interface FleetResult {
  readonly dir: string;
  readonly brokerUrl: string;
  readonly rounds: readonly FleetRound[];
  readonly rejections: Record<string, number>;
  readonly evaluations: readonly AgentEvaluation[];
  readonly seconds: number;
  /** Per agent, what went through its link emulator (empty without --link). */
  readonly links: ReturnType<FleetEmulation['linkStats']>;
  /** Per agent in a board cgroup, its CPU throttling and peak memory (empty without --board or cgroups). */
  readonly boards: ReturnType<FleetEmulation['boardUsage']>;
  /** Every churn action applied (fleet/churn.ts), in order; empty without offline or crash-upload schedules. */
  readonly churn: readonly ChurnEvent[];
  /** Per round: selected, uploaded, offline, crashed, late (stale) and duplicate uploads. */
  readonly participation: readonly RoundParticipation[];
  /** What became of each upload interrupted by a crash. */
  readonly crashes: readonly CrashOutcome[];
}
