/**
 * One energy meter per agent: picks the best available source once, then measures each round
 * between start() and stop(usage).
 *
 * Priority (first available wins):
 *   1. rapl     Intel/AMD package counters (powercap)                          counter
 *   2. ina3221  Jetson on-module rails (input rail, else sum)                  sampled power
 *   3. pmic     Raspberry Pi 5 `vcgencmd pmic_read_adc` (tried on rpi5 only)   sampled power
 *   4. hwmon    energy*_input counters, else power*_input/_average             counter / sampled
 *   5. estimate board profile x (wall time, CPU seconds, bytes)                model
 * A measured meter ignores `usage` unless its sensor fails during the interval (unreadable at
 * start or stop, a counter going backwards): then the round is estimated from `usage` and the
 * reading says so in `detail` (source 'estimate').
 */
import type { EnergyReading, EnergySource } from '../wire/telemetry.ts';
import { TinyProtoError } from '../common/errors.ts';
import { type Logger, silentLogger } from '../common/logger.ts';
import { type BoardName, type EnergyUsage, estimateEnergy, getProfile } from './profiles.ts';
import { type BoardDetection, resolveBoard } from './detect.ts';
import { type SysFs, errMessage } from './sysfs.ts';
import { type Clock, type Ticker, SampledPowerMeter, type SampledInterval, DEFAULT_SAMPLE_PERIOD_MS } from './sampling.ts';
import { RaplMeter, probeRapl } from './rapl.ts';
import { probeJetson } from './jetson.ts';
import { type CommandRunner, probePmic } from './pmic.ts';
import { HwmonEnergyMeter, probeHwmon } from './hwmon.ts';

export { temperature } from './thermal.ts';

export interface EnergyMeter {
  readonly source: EnergySource;
  readonly detail: string;
  readonly board: BoardName;
  readonly boardDetection: BoardDetection;
  /** Why each better source was not used, in priority order. */
  readonly skipped: readonly string[];
  start(): void;
  stop(usage: EnergyUsage): Promise<EnergyReading>;
}

export interface EnergyMeterOptions {
  readonly root?: string;
  /** Profile name or 'auto' (detect). Unknown names -> E_CONFIG. */
  readonly board: string;
  /** Runs `vcgencmd`; default spawns it. */
  readonly runCommand?: CommandRunner;
  readonly logger?: Logger;
  /** Period for power-sampling sources (default 100 ms). */
  readonly samplePeriodMs?: number;
  /** RAPL checkpoint period so long rounds cannot hide a second wrap (default 60 s; 0 = off). */
  readonly raplPollMs?: number;
  /** Sources never to use (e.g. ['rapl'] to measure a board rather than the CPU package). */
  readonly exclude?: readonly EnergySource[];
  readonly fs?: SysFs;
  readonly clock?: Clock;
  readonly ticker?: Ticker;
  /** Defaults to process.arch (board detection). */
  readonly arch?: string;
}

/** Internal: a source that measures an interval or throws E_SENSOR. */
interface Measurer {
  readonly source: Exclude<EnergySource, 'estimate'>;
  readonly detail: string;
  start(): void;
  stop(): Promise<EnergyReading>;
}

function sampledMeasurer(
  source: Measurer['source'],
  detail: string,
  read: () => number | Promise<number>,
  opts: EnergyMeterOptions,
): Measurer {
  const meter = new SampledPowerMeter(read, {
    periodMs: opts.samplePeriodMs ?? DEFAULT_SAMPLE_PERIOD_MS,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.ticker ? { ticker: opts.ticker } : {}),
  });
  const describe = (r: SampledInterval): string =>
    `${detail}; ${r.samples} samples @ ${meter.periodMs} ms, mean ${r.meanWatts.toFixed(3)} W` +
    (r.failures > 0 ? `, ${r.failures} failed samples bridged` : '');
  return {
    source,
    detail,
    start: () => meter.start(),
    stop: async () => {
      const r = await meter.stop();
      return { joules: r.joules, source, detail: describe(r) };
    },
  };
}

async function pickMeasurer(
  opts: EnergyMeterOptions,
  board: BoardName,
  skipped: string[],
): Promise<Measurer | null> {
  const sys = { root: opts.root ?? '/', ...(opts.fs ? { fs: opts.fs } : {}) };
  const excluded = (s: EnergySource): boolean => {
    if (opts.exclude?.includes(s)) {
      skipped.push(`${s}: excluded by option`);
      return true;
    }
    return false;
  };

  if (!excluded('rapl')) {
    const rapl = probeRapl(sys);
    if (rapl.available) {
      const meter = new RaplMeter(rapl.zones, {
        ...sys,
        pollMs: opts.raplPollMs ?? 60_000,
        ...(opts.ticker ? { ticker: opts.ticker } : {}),
      });
      return { source: 'rapl', detail: meter.detail, start: () => meter.start(), stop: async () => meter.stop() };
    }
    skipped.push(`rapl: ${rapl.reason}`);
  }

  if (!excluded('ina3221')) {
    const jetson = probeJetson(sys);
    if (jetson.available) return sampledMeasurer('ina3221', jetson.detail, jetson.read, opts);
    skipped.push(`ina3221: ${jetson.reason}`);
  }

  if (!excluded('pmic')) {
    if (board === 'rpi5') {
      const pmic = await probePmic(opts.runCommand);
      if (pmic.available) return sampledMeasurer('pmic', pmic.detail, pmic.read, opts);
      skipped.push(`pmic: ${pmic.reason}`);
    } else {
      skipped.push(`pmic: only on rpi5 (board is ${board})`);
    }
  }

  if (!excluded('hwmon')) {
    const hw = probeHwmon(sys);
    if (hw.available && hw.kind === 'energy') {
      const meter = new HwmonEnergyMeter(hw.channels, sys);
      return {
        source: 'hwmon',
        detail: hw.detail,
        start: () => meter.start(),
        stop: async () => ({ joules: meter.stop().joules, source: 'hwmon', detail: hw.detail }),
      };
    }
    if (hw.available && hw.kind === 'power') return sampledMeasurer('hwmon', hw.detail, hw.read, opts);
    if (!hw.available) skipped.push(`hwmon: ${hw.reason}`);
  }
  return null;
}

/** Detects the board and the best energy source. Unknown board names -> E_CONFIG. */
export async function createEnergyMeter(opts: EnergyMeterOptions): Promise<EnergyMeter> {
  const logger = opts.logger ?? silentLogger;
  const detection = resolveBoard(opts.board, opts.root ?? '/', {
    ...(opts.fs ? { fs: opts.fs } : {}),
    ...(opts.arch ? { arch: opts.arch } : {}),
  });
  if (!detection.exact) logger.warn('energy: board not recognised exactly', { board: detection.board, reason: detection.reason });
  const profile = getProfile(detection.board);
  const skipped: string[] = [];
  const measurer = await pickMeasurer(opts, detection.board, skipped);
  const estimate = (usage: EnergyUsage, note?: string): EnergyReading => {
    const r = estimateEnergy(profile, usage);
    return note ? { ...r, detail: `${r.detail} — ${note}` } : r;
  };

  if (measurer === null) {
    logger.info('energy: no sensor available, estimating from the board profile', { board: profile.name, skipped });
    let started = false;
    return {
      source: 'estimate',
      detail: estimate({ wallSeconds: 0, cpuUserSeconds: 0, cpuSystemSeconds: 0, bytesSent: 0, bytesReceived: 0 }).detail,
      board: profile.name,
      boardDetection: detection,
      skipped,
      start: () => {
        started = true;
      },
      stop: async (usage) => {
        if (!started) throw new TinyProtoError('E_CONFIG', 'energy meter stopped before it was started');
        started = false;
        return estimate(usage);
      },
    };
  }

  logger.info('energy: measuring', { source: measurer.source, detail: measurer.detail, board: profile.name });
  let state: 'idle' | 'running' | 'failed' = 'idle';
  let startError: unknown = undefined;
  return {
    source: measurer.source,
    detail: measurer.detail,
    board: profile.name,
    boardDetection: detection,
    skipped,
    start: () => {
      try {
        measurer.start();
        state = 'running';
        startError = undefined;
      } catch (e) {
        state = 'failed';
        startError = e;
        logger.warn('energy: sensor failed at start; this round will be estimated', { source: measurer.source, error: errMessage(e) });
      }
    },
    stop: async (usage) => {
      if (state === 'idle') throw new TinyProtoError('E_CONFIG', 'energy meter stopped before it was started');
      const was = state;
      state = 'idle';
      if (was === 'failed') {
        return estimate(usage, `fallback: ${measurer.source} sensor failed at start of interval: ${errMessage(startError)}`);
      }
      try {
        return await measurer.stop();
      } catch (e) {
        logger.warn('energy: sensor failed mid-interval; this round is estimated', { source: measurer.source, error: errMessage(e) });
        return estimate(usage, `fallback: ${measurer.source} sensor failed mid-interval: ${errMessage(e)}`);
      }
    },
  };
}
