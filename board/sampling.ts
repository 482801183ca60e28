/**
 * Energy from instantaneous power sensors (INA3221 rails, the Pi 5 PMIC ADC, hwmon power*_input).
 *
 * Such sensors report watts *now*, not joules since boot, so energy over an interval is the
 * integral of sampled power: samples are taken at start(), every `periodMs` (default 100 ms,
 * timers unref'd so a meter never keeps the process alive) and at stop(), and integrated with the
 * trapezoid rule. Accuracy is bounded by the sampling period: bursts shorter than the period can
 * be missed or over-weighted; the sensors themselves also average internally (INA3221 conversion
 * time x averaging count).
 *
 * The clock and the ticker are injectable so tests drive time by hand and never sleep.
 */
import { TinyProtoError } from '../common/errors.ts';
import { errMessage } from './sysfs.ts';

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
}

export const monotonicClock: Clock = Object.freeze({ now: () => performance.now() });

/** Calls `fn` every `periodMs` until the returned cancel function is called. */
export type Ticker = (periodMs: number, fn: () => void) => () => void;

export const unrefTicker: Ticker = (periodMs, fn) => {
  const handle = setInterval(fn, periodMs);
  handle.unref();
  return () => clearInterval(handle);
};

export const DEFAULT_SAMPLE_PERIOD_MS = 100;

export interface PowerSample {
  /** Clock time the reading was requested, ms. */
  readonly tMs: number;
  readonly watts: number;
}

/** Trapezoid-rule integral of power samples (any order) -> joules. One sample or none -> 0. */
export function trapezoidJoules(samples: readonly PowerSample[]): number {
  const s = [...samples].sort((a, b) => a.tMs - b.tMs);
  let joules = 0;
  for (let i = 1; i < s.length; i++) {
    const a = s[i - 1]!;
    const b = s[i]!;
    joules += ((a.watts + b.watts) / 2) * ((b.tMs - a.tMs) / 1000);
  }
  return joules;
}

export interface SamplingOptions {
  /** Sampling period in ms (default 100). */
  readonly periodMs?: number;
  readonly clock?: Clock;
  readonly ticker?: Ticker;
}

export interface SampledInterval {
  readonly joules: number;
  readonly seconds: number;
  /** Successful samples integrated (including the start and stop samples). */
  readonly samples: number;
  /** Samples that failed mid-interval and were bridged by the trapezoid. */
  readonly failures: number;
  /** Ticks skipped because an asynchronous read was still running. */
  readonly skipped: number;
  /** Mean power over the interval (joules / seconds), 0 for an empty interval. */
  readonly meanWatts: number;
}

/** Reads total power in watts; may be asynchronous (a command) or synchronous (sysfs). */
export type PowerReader = () => number | Promise<number>;

/**
 * Samples a power reader between start() and stop() and integrates it.
 * The start and stop samples must succeed (otherwise stop() throws E_SENSOR: the interval's ends
 * are unknown); failed samples in between are counted and bridged.
 */
export class SampledPowerMeter {
  readonly periodMs: number;
  private readonly read: PowerReader;
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private samples: PowerSample[] = [];
  private failures = 0;
  private skipped = 0;
  private lastError: unknown = undefined;
  private startFailed: unknown = undefined;
  private cancel: (() => void) | null = null;
  private inFlight: Promise<void> | null = null;
  private generation = 0;

  constructor(read: PowerReader, opts: SamplingOptions = {}) {
    const periodMs = opts.periodMs ?? DEFAULT_SAMPLE_PERIOD_MS;
    if (!Number.isFinite(periodMs) || periodMs <= 0) {
      throw new TinyProtoError('E_CONFIG', `sample period must be a positive number of ms, got ${periodMs}`);
    }
    this.periodMs = periodMs;
    this.read = read;
    this.clock = opts.clock ?? monotonicClock;
    this.ticker = opts.ticker ?? unrefTicker;
  }

  get running(): boolean {
    return this.cancel !== null;
  }

  start(): void {
    this.cancel?.();
    this.generation++;
    this.samples = [];
    this.failures = 0;
    this.skipped = 0;
    this.lastError = undefined;
    this.startFailed = undefined;
    this.inFlight = null;
    this.take('start');
    this.cancel = this.ticker(this.periodMs, () => this.take('tick'));
  }

  async stop(): Promise<SampledInterval> {
    if (this.cancel === null) throw new TinyProtoError('E_CONFIG', 'power meter stopped before it was started');
    this.cancel();
    this.cancel = null;
    if (this.inFlight) await this.inFlight;
    let endError: unknown = undefined;
    const failuresBefore = this.failures;
    this.take('stop');
    if (this.inFlight) await this.inFlight;
    if (this.failures > failuresBefore) endError = this.lastError;
    if (this.startFailed !== undefined) {
      throw new TinyProtoError('E_SENSOR', `power sensor failed at the start of the interval: ${errMessage(this.startFailed)}`);
    }
    if (endError !== undefined) {
      throw new TinyProtoError('E_SENSOR', `power sensor failed at the end of the interval: ${errMessage(endError)}`, {
        samples: this.samples.length,
        failures: this.failures,
      });
    }
    const sorted = [...this.samples].sort((a, b) => a.tMs - b.tMs);
    const first = sorted[0];
    const last = sorted[sorted.length - 1];
    const seconds = first && last ? (last.tMs - first.tMs) / 1000 : 0;
    const joules = trapezoidJoules(sorted);
    return {
      joules,
      seconds,
      samples: sorted.length,
      // The stop sample succeeded; only mid-interval failures remain.
      failures: this.failures,
      skipped: this.skipped,
      meanWatts: seconds > 0 ? joules / seconds : (first?.watts ?? 0),
    };
  }

  private take(kind: 'start' | 'tick' | 'stop'): void {
    if (this.inFlight !== null) {
      this.skipped++;
      return;
    }
    const gen = this.generation;
    const tMs = this.clock.now();
    const ok = (watts: number): void => {
      if (gen !== this.generation) return;
      if (!Number.isFinite(watts) || watts < 0) {
        fail(new TinyProtoError('E_SENSOR', `power sensor returned ${watts} W`));
        return;
      }
      this.samples.push({ tMs, watts });
    };
    const fail = (e: unknown): void => {
      if (gen !== this.generation) return;
      this.failures++;
      this.lastError = e;
      if (kind === 'start') this.startFailed = e;
    };
    let result: number | Promise<number>;
    try {
      result = this.read();
    } catch (e) {
      fail(e);
      return;
    }
    if (typeof result === 'number') {
      ok(result);
      return;
    }
    const p: Promise<void> = result.then(ok, fail).finally(() => {
      if (this.inFlight === p) this.inFlight = null;
    });
    this.inFlight = p;
  }
}
