/**
 * Measures one round on the board: seconds per phase, peak RSS (sampled), JS heap, the engine's
 * memory, free system memory, CPU time, bytes on the MQTT connection, temperature and energy
 * (a sensor where the board has one, else an estimate from its profile; see agent/energy/).
 */
import os from 'node:os';
import type { EnergyReading, MemoryUse, PhaseSeconds, RoundTelemetry } from '../wire/telemetry.ts';

export type Phase = Exclude<keyof PhaseSeconds, 'round'>;

/** What an energy meter must offer (agent/energy's meters do). */
export interface EnergyMeterLike {
  readonly board: string;
  start(): void;
  stop(usage: { wallSeconds: number; cpuUserSeconds: number; cpuSystemSeconds: number; bytesSent: number; bytesReceived: number }): Promise<EnergyReading>;
}

export interface RecorderDeps {
  readonly energy: EnergyMeterLike;
  /** Engine memory (tfjs memory(); wasm heap when known). */
  readonly engineMemory: () => { numBytes: number; numTensors: number; wasmHeapBytes?: number };
  /** Cumulative bytes on the broker connection. */
  readonly wire: () => { bytesSent: number; bytesReceived: number };
  /** Free (available) system memory in bytes; defaults to os.freemem(). */
  readonly freeMemory?: () => Promise<number> | number;
  readonly temperature?: () => Promise<number | null> | number | null;
  readonly now?: () => number;
  /** RSS sampling period; 0 disables the timer (phase boundaries still sample). */
  readonly samplePeriodMs?: number;
}

interface Open {
  round: number;
  startedAt: number;
  cpu: NodeJS.CpuUsage;
  wire: { bytesSent: number; bytesReceived: number };
  phases: Record<Phase, number>;
  peakRss: number;
  timer: NodeJS.Timeout | null;
}

const ZERO_PHASES: Record<Phase, number> = { dataLoad: 0, train: 0, prototypes: 0, encode: 0, upload: 0, waitGlobal: 0, evaluate: 0 };

export class RoundRecorder {
  private open: Open | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: RecorderDeps) {
    this.now = deps.now ?? Date.now;
  }

  get round(): number | null {
    return this.open?.round ?? null;
  }

  private sampleRss(): void {
    if (this.open) this.open.peakRss = Math.max(this.open.peakRss, process.memoryUsage.rss());
  }

  /** Starts measuring a round (closing nothing: an unfinished earlier round is dropped). */
  begin(round: number): void {
    this.abort();
    const period = this.deps.samplePeriodMs ?? 100;
    const timer = period > 0 ? setInterval(() => this.sampleRss(), period) : null;
    timer?.unref();
    this.open = {
      round,
      startedAt: this.now(),
      cpu: process.cpuUsage(),
      wire: { ...this.deps.wire() },
      phases: { ...ZERO_PHASES },
      peakRss: process.memoryUsage.rss(),
      timer,
    };
    this.deps.energy.start();
  }

  /** Adds seconds to a phase of the open round (ignored when none is open). */
  add(phase: Phase, seconds: number): void {
    if (!this.open) return;
    this.open.phases[phase] += seconds;
    this.sampleRss();
  }

  /** Times `fn` as `phase`. */
  async time<T>(phase: Phase, fn: () => Promise<T> | T): Promise<T> {
    const t0 = this.now();
    try {
      return await fn();
    } finally {
      this.add(phase, (this.now() - t0) / 1000);
    }
  }

  abort(): void {
    if (this.open?.timer) clearInterval(this.open.timer);
    this.open = null;
  }

  /** Closes the round and returns its record. */
  async finish(
    ids: { experiment: string; agent: string; family: string },
    accuracy: RoundTelemetry['accuracy'],
  ): Promise<RoundTelemetry | null> {
    const o = this.open;
    if (!o) return null;
    this.sampleRss();
    if (o.timer) clearInterval(o.timer);
    this.open = null;
    const wallSeconds = (this.now() - o.startedAt) / 1000;
    const cpu = process.cpuUsage(o.cpu);
    const wire = this.deps.wire();
    const net = { bytesSent: wire.bytesSent - o.wire.bytesSent, bytesReceived: wire.bytesReceived - o.wire.bytesReceived };
    const usage = { wallSeconds, cpuUserSeconds: cpu.user / 1e6, cpuSystemSeconds: cpu.system / 1e6, ...net };
    const energy = await this.deps.energy.stop(usage);
    const engine = this.deps.engineMemory();
    const memory: MemoryUse = {
      peakRssBytes: o.peakRss,
      heapUsedBytes: process.memoryUsage().heapUsed,
      engineBytes: engine.numBytes,
      engineTensors: engine.numTensors,
      wasmHeapBytes: engine.wasmHeapBytes ?? null,
      freeSystemBytes: await (this.deps.freeMemory ?? os.freemem)(),
    };
    return {
      experiment: ids.experiment,
      agent: ids.agent,
      round: o.round,
      family: ids.family,
      board: this.deps.energy.board,
      phases: { ...o.phases, round: wallSeconds },
      memory,
      cpu: { userSeconds: usage.cpuUserSeconds, systemSeconds: usage.cpuSystemSeconds },
      net,
      temperatureC: (await this.deps.temperature?.()) ?? null,
      energy,
      accuracy,
      at: this.now(),
    };
  }
}
