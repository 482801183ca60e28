/**
 * Intel / AMD RAPL energy counters through the Linux powercap framework.
 *
 * Layout (kernel Documentation/power/powercap/powercap.rst):
 *   /sys/class/powercap/intel-rapl:0          package 0   (name "package-0")
 *   /sys/class/powercap/intel-rapl:0:0        its subzone (name "core", "uncore" or "dram")
 *   /sys/class/powercap/intel-rapl:1          package 1 (or "psys" on some client Intel parts)
 * each with `name`, `energy_uj` (monotonic µJ counter) and `max_energy_range_uj` (the value
 * at which the counter wraps to 0). Recent kernels drive AMD Zen RAPL MSRs through the same
 * intel_rapl driver, so AMD machines expose the same `intel-rapl` names. `intel-rapl-mmio:*`
 * zones duplicate the package zone through another interface and are ignored here.
 *
 * What we count: top-level package zones only. Subzones (core, uncore, dram) are parts of (or,
 * for dram on some parts, beside) the package and summing them with it would double count.
 * A top-level "psys" zone covers the whole SoC platform and includes the package, so it is left
 * out when package zones exist. RAPL is a model-backed estimate of the CPU package, not a wall
 * measurement: it excludes the board, PSU losses, disks and NICs.
 *
 * Counter wrap: energy_uj wraps at max_energy_range_uj. A negative delta means one wrap, which we
 * correct by adding max_energy_range_uj. Only ONE wrap per interval is detectable: two wraps look
 * exactly like one. How long a wrap takes depends on the range and power: Intel's range is
 * typically 262,143,328,850 µJ (~262 kJ) -> ~44 min at 100 W, ~4.9 h at 15 W; AMD parts
 * often report ~65.7 kJ -> ~11 min at 100 W. `raplWrapSeconds()` computes it. For long
 * intervals pass `pollMs` to RaplMeter: it then takes intermediate checkpoints so each
 * sub-interval is short enough to see at most one wrap.
 *
 * Permissions: since CVE-2020-8694 (Platypus) energy_uj is readable by root only on most
 * distributions; an unreadable counter makes the sensor unavailable with that reason.
 */
import type { EnergyReading } from '../wire/telemetry.ts';
import { TinyProtoError } from '../common/errors.ts';
import { type Ticker, unrefTicker } from './sampling.ts';
import {
  type SysOptions,
  type SysFs,
  resolveSys,
  listDir,
  readText,
  readNumber,
  readNumberStrict,
  errnoCode,
  errMessage,
  naturalCompare,
} from './sysfs.ts';

export const POWERCAP_DIR = '/sys/class/powercap';
const ZONE_RE = /^intel-rapl(:\d+)+$/;

export interface RaplZone {
  /** Directory name, e.g. 'intel-rapl:0' or 'intel-rapl:0:1'. */
  readonly id: string;
  /** Absolute directory path (under root). */
  readonly path: string;
  /** Contents of `name`, e.g. 'package-0', 'core', 'dram', 'psys'. */
  readonly name: string;
  /** Parent zone id for subzones, null for top-level zones. */
  readonly parent: string | null;
  /** µJ at which energy_uj wraps (null when unreadable or absent). */
  readonly maxEnergyRangeUj: number | null;
}

/** Every intel-rapl zone and subzone, in natural order. Missing powercap -> []. */
export function listRaplZones(opts: SysOptions = {}): RaplZone[] {
  const sys = resolveSys(opts);
  const base = sys.at(POWERCAP_DIR);
  const ids = listDir(sys.fs, base).filter((n) => ZONE_RE.test(n)).sort(naturalCompare);
  return ids.map((id) => {
    const path = `${base}/${id}`;
    const parts = id.split(':');
    const parent = parts.length > 2 ? parts.slice(0, -1).join(':') : null;
    return {
      id,
      path,
      name: readText(sys.fs, `${path}/name`) ?? id,
      parent,
      maxEnergyRangeUj: readNumber(sys.fs, `${path}/max_energy_range_uj`),
    };
  });
}

/** Top-level zones whose energy is summed: package-* zones, else every top-level zone. */
export function packageZones(zones: readonly RaplZone[]): RaplZone[] {
  const top = zones.filter((z) => z.parent === null);
  const packages = top.filter((z) => z.name.startsWith('package'));
  return packages.length > 0 ? packages : top;
}

export function readEnergyUj(zone: RaplZone, fs: SysFs): number {
  return readNumberStrict(fs, `${zone.path}/energy_uj`);
}

export type RaplProbe =
  | { readonly available: true; readonly zones: readonly RaplZone[]; readonly all: readonly RaplZone[] }
  | { readonly available: false; readonly reason: string };

/** Finds package zones and checks that each counter and its wrap range can actually be read. */
export function probeRapl(opts: SysOptions = {}): RaplProbe {
  const sys = resolveSys(opts);
  const all = listRaplZones(opts);
  if (all.length === 0) return { available: false, reason: `no intel-rapl zones under ${sys.at(POWERCAP_DIR)}` };
  const zones = packageZones(all);
  for (const z of zones) {
    try {
      readEnergyUj(z, sys.fs);
    } catch (e) {
      const code = errnoCode(e);
      const why =
        code === 'EACCES' || code === 'EPERM'
          ? `permission denied reading ${z.path}/energy_uj (root-only since CVE-2020-8694; run as root or grant read access, e.g. a udev rule / chmod o+r)`
          : code === 'ENOENT'
            ? `${z.path}/energy_uj does not exist`
            : `cannot read ${z.path}/energy_uj: ${errMessage(e)}`;
      return { available: false, reason: `RAPL unavailable: ${why}` };
    }
    if (z.maxEnergyRangeUj === null || z.maxEnergyRangeUj <= 0) {
      return { available: false, reason: `RAPL unavailable: cannot read ${z.path}/max_energy_range_uj` };
    }
  }
  return { available: true, zones, all };
}

/**
 * End minus start, corrected for at most one wrap of a counter that wraps at `maxRangeUj`.
 * (The kernel counts 0..max_energy_range_uj, so after a wrap end = start + delta - max.)
 */
export function raplDeltaUj(startUj: number, endUj: number, maxRangeUj: number): { deltaUj: number; wrapped: boolean } {
  const d = endUj - startUj;
  if (d >= 0) return { deltaUj: d, wrapped: false };
  return { deltaUj: d + maxRangeUj, wrapped: true };
}

/** Seconds until the counter wraps at a constant `watts` (range µJ / 1e6 / W). */
export function raplWrapSeconds(maxRangeUj: number, watts: number): number {
  return maxRangeUj / 1e6 / watts;
}

export interface RaplMeterOptions extends SysOptions {
  /**
   * Take intermediate checkpoints every pollMs (0/undefined = only at start and stop). Use this
   * when an interval can be longer than a wrap period (see raplWrapSeconds).
   */
  readonly pollMs?: number;
  readonly ticker?: Ticker;
}

/** Start/stop meter over the package zones found by probeRapl. */
export class RaplMeter {
  readonly zones: readonly RaplZone[];
  private readonly fs: SysFs;
  private readonly pollMs: number;
  private readonly ticker: Ticker;
  private last: number[] | null = null;
  private accumulatedUj: number[] = [];
  private wraps = 0;
  private pollError: unknown = undefined;
  private cancel: (() => void) | null = null;

  constructor(zones: readonly RaplZone[], opts: RaplMeterOptions = {}) {
    if (zones.length === 0) throw new TinyProtoError('E_CONFIG', 'RaplMeter needs at least one zone');
    this.zones = zones;
    this.fs = resolveSys(opts).fs;
    this.pollMs = opts.pollMs ?? 0;
    this.ticker = opts.ticker ?? unrefTicker;
  }

  /** e.g. 'rapl: package-0 (intel-rapl:0) + package-1 (intel-rapl:1)'. */
  get detail(): string {
    return `rapl: ${this.zones.map((z) => `${z.name} (${z.id})`).join(' + ')}`;
  }

  /** Snapshot all counters. Throws E_SENSOR when a counter cannot be read. */
  start(): void {
    this.cancel?.();
    this.cancel = null;
    this.wraps = 0;
    this.pollError = undefined;
    this.accumulatedUj = this.zones.map(() => 0);
    this.last = this.snapshot();
    if (this.pollMs > 0) {
      this.cancel = this.ticker(this.pollMs, () => {
        try {
          this.checkpoint();
        } catch (e) {
          this.pollError ??= e;
        }
      });
    }
  }

  /** Accumulate the energy since the previous snapshot (called by the poller and by stop()). */
  checkpoint(): void {
    if (this.last === null) throw new TinyProtoError('E_CONFIG', 'RAPL meter used before start()');
    const now = this.snapshot();
    for (let i = 0; i < this.zones.length; i++) {
      const zone = this.zones[i]!;
      const { deltaUj, wrapped } = raplDeltaUj(this.last[i]!, now[i]!, zone.maxEnergyRangeUj ?? 0);
      if (wrapped) this.wraps++;
      this.accumulatedUj[i] = (this.accumulatedUj[i] ?? 0) + deltaUj;
    }
    this.last = now;
  }

  stop(): EnergyReading {
    this.cancel?.();
    this.cancel = null;
    if (this.pollError !== undefined) {
      this.last = null;
      throw new TinyProtoError('E_SENSOR', `RAPL counter became unreadable mid-interval: ${errMessage(this.pollError)}`);
    }
    this.checkpoint();
    this.last = null;
    const uj = this.accumulatedUj.reduce((a, b) => a + b, 0);
    const wrapNote = this.wraps > 0 ? `; ${this.wraps} counter wrap${this.wraps > 1 ? 's' : ''} corrected` : '';
    return { joules: uj / 1e6, source: 'rapl', detail: `${this.detail}${wrapNote}` };
  }

  private snapshot(): number[] {
    return this.zones.map((z) => {
      try {
        return readEnergyUj(z, this.fs);
      } catch (e) {
        throw new TinyProtoError('E_SENSOR', `cannot read ${z.path}/energy_uj: ${errMessage(e)}`, { code: errnoCode(e) });
      }
    });
  }
}
