/**
 * What every agent records about every round: what learning cost the board (latency per phase,
 * memory, CPU time, bytes, energy with its source) next to what it learned (accuracy).
 * Shared by the agent (which measures it), the codec (TELEMETRY message), the aggregator (which
 * stores it), the simulation, and `tinyproto report`.
 */

/** Seconds spent in each phase of a round. */
export interface PhaseSeconds {
  /** Loading the shard (first round after a start only; 0 otherwise). */
  readonly dataLoad: number;
  readonly train: number;
  readonly prototypes: number;
  readonly encode: number;
  /** From publishing the upload until the broker acknowledged it. */
  readonly upload: number;
  /** From the acknowledgement until the round's global prototypes arrived (0 for Local). */
  readonly waitGlobal: number;
  readonly evaluate: number;
  /** Round announcement received -> evaluation done. */
  readonly round: number;
}

export interface MemoryUse {
  /** Peak resident set size of the process during the round. */
  readonly peakRssBytes: number;
  readonly heapUsedBytes: number;
  /** The engine's own accounting (tfjs memory().numBytes). */
  readonly engineBytes: number;
  readonly engineTensors: number;
  /** Size of the wasm backend's linear memory, when that backend is used. */
  readonly wasmHeapBytes: number | null;
  readonly freeSystemBytes: number;
}

/** Where an energy figure comes from. */
export type EnergySource = 'rapl' | 'ina3221' | 'pmic' | 'hwmon' | 'estimate';

export interface EnergyReading {
  readonly joules: number;
  readonly source: EnergySource;
  /** e.g. the sensor path, or the board profile used for an estimate. */
  readonly detail: string;
}

export interface RoundTelemetry {
  readonly experiment: string;
  readonly agent: string;
  readonly round: number;
  readonly family: string;
  /** Board profile name (detected or given), e.g. 'rpi4b', 'jetson-orin-nano', 'x86-generic'. */
  readonly board: string;
  readonly phases: PhaseSeconds;
  readonly memory: MemoryUse;
  readonly cpu: { readonly userSeconds: number; readonly systemSeconds: number };
  /** Bytes on the MQTT connection during the round, including framing. */
  readonly net: { readonly bytesSent: number; readonly bytesReceived: number };
  readonly temperatureC: number | null;
  readonly energy: EnergyReading;
  /** Accuracy on the agent's own test split after the round (null when it did not evaluate). */
  readonly accuracy: { readonly head: number; readonly prototype: number | null; readonly testCount: number } | null;
  /** Unix ms when the round's record was completed. */
  readonly at: number;
}
