/**
 * Generic Linux hwmon power and energy sensors (kernel Documentation/hwmon/sysfs-interface):
 *   energy[N]_input   cumulative energy, µJ   (preferred: a counter needs no sampling)
 *   power[N]_input    instantaneous power, µW
 *   power[N]_average  averaged power, µW      (used when power[N]_input is absent)
 *
 * Which sensors are summed: a single hwmon device (the first, in hwmonN order, that has the
 * wanted kind, or the one named by `device`), all of its channels — except that when channel
 * labels distinguish sockets from cores (amd_energy: 'Esocket0' vs 'Ecore000'), only the socket
 * channels are summed, since cores are parts of sockets. Different hwmon devices often measure
 * overlapping things (a battery, a GPU, a board monitor), so they are never added together.
 * `ina3221` devices are left to jetson.ts.
 */
import { TinyProtoError } from '../common/errors.ts';
import {
  type SysOptions,
  type SysFs,
  resolveSys,
  listDir,
  readText,
  readNumber,
  readNumberStrict,
  errMessage,
  naturalCompare,
} from './sysfs.ts';
import { HWMON_DIR } from './jetson.ts';

export interface HwmonChannel {
  readonly device: string; // 'hwmon3'
  readonly deviceName: string; // contents of name, e.g. 'amd_energy'
  readonly attr: string; // 'energy1_input', 'power1_average'
  readonly label: string | null;
  readonly path: string;
}

export interface HwmonSensors {
  readonly energy: readonly HwmonChannel[];
  readonly power: readonly HwmonChannel[];
}

const ENERGY_RE = /^energy(\d+)_input$/;
const POWER_RE = /^power(\d+)_(input|average)$/;

/** All readable energy and power channels of every hwmon device except ina3221. */
export function listHwmonSensors(opts: SysOptions = {}): HwmonSensors {
  const sys = resolveSys(opts);
  const base = sys.at(HWMON_DIR);
  const energy: HwmonChannel[] = [];
  const power: HwmonChannel[] = [];
  for (const device of listDir(sys.fs, base).filter((n) => /^hwmon\d+$/.test(n)).sort(naturalCompare)) {
    const dir = `${base}/${device}`;
    const deviceName = readText(sys.fs, `${dir}/name`) ?? device;
    if (deviceName === 'ina3221') continue;
    const files = listDir(sys.fs, dir).sort(naturalCompare);
    const byIndex = new Map<string, HwmonChannel>();
    for (const attr of files) {
      const e = ENERGY_RE.exec(attr);
      const p = POWER_RE.exec(attr);
      if (!e && !p) continue;
      const path = `${dir}/${attr}`;
      if (readNumber(sys.fs, path) === null) continue;
      const idx = (e ?? p)![1]!;
      const label = readText(sys.fs, `${dir}/${e ? 'energy' : 'power'}${idx}_label`);
      const ch: HwmonChannel = { device, deviceName, attr, label, path };
      if (e) energy.push(ch);
      else {
        // power N: prefer _input over _average
        const prev = byIndex.get(idx);
        if (!prev || (prev.attr.endsWith('_average') && attr.endsWith('_input'))) byIndex.set(idx, ch);
      }
    }
    power.push(...byIndex.values());
  }
  return { energy, power };
}

/** Channels of the chosen device, socket channels only when labels make that distinction. */
export function pickChannels(channels: readonly HwmonChannel[], device?: string): HwmonChannel[] {
  const first = device
    ? channels.find((c) => c.deviceName === device || c.device === device)
    : channels[0];
  if (!first) return [];
  const mine = channels.filter((c) => c.device === first.device);
  const sockets = mine.filter((c) => c.label !== null && /socket|package/i.test(c.label));
  return sockets.length > 0 ? sockets : mine;
}

function describe(kind: string, chosen: readonly HwmonChannel[]): string {
  const first = chosen[0]!;
  const chans = chosen.map((c) => (c.label ? `${c.attr} "${c.label}"` : c.attr)).join(' + ');
  return `hwmon ${kind}: ${first.deviceName} (${first.device}) ${chans}`;
}

export type HwmonProbe =
  | { readonly available: true; readonly kind: 'energy'; readonly channels: readonly HwmonChannel[]; readonly detail: string }
  | {
      readonly available: true;
      readonly kind: 'power';
      readonly channels: readonly HwmonChannel[];
      readonly detail: string;
      /** Total watts now. */
      readonly read: () => number;
    }
  | { readonly available: false; readonly reason: string };

export function probeHwmon(opts: SysOptions & { readonly device?: string } = {}): HwmonProbe {
  const sys = resolveSys(opts);
  const { energy, power } = listHwmonSensors(opts);
  const e = pickChannels(energy, opts.device);
  if (e.length > 0) return { available: true, kind: 'energy', channels: e, detail: describe('energy', e) };
  const p = pickChannels(power, opts.device);
  if (p.length > 0) {
    const fs = sys.fs;
    return {
      available: true,
      kind: 'power',
      channels: p,
      detail: describe('power', p),
      read: () => p.reduce((s, c) => s + readNumberStrict(fs, c.path) / 1e6, 0),
    };
  }
  return {
    available: false,
    reason: `no hwmon energy*_input or power*_input/_average sensors under ${sys.at(HWMON_DIR)}${opts.device ? ` for device ${opts.device}` : ''}`,
  };
}

/** Start/stop meter over hwmon energy counters (µJ). */
export class HwmonEnergyMeter {
  readonly channels: readonly HwmonChannel[];
  readonly detail: string;
  private readonly fs: SysFs;
  private startUj: number[] | null = null;

  constructor(channels: readonly HwmonChannel[], opts: SysOptions = {}) {
    if (channels.length === 0) throw new TinyProtoError('E_CONFIG', 'HwmonEnergyMeter needs at least one channel');
    this.channels = channels;
    this.detail = describe('energy', channels);
    this.fs = resolveSys(opts).fs;
  }

  start(): void {
    this.startUj = this.snapshot();
  }

  stop(): { joules: number } {
    if (this.startUj === null) throw new TinyProtoError('E_CONFIG', 'hwmon energy meter stopped before it was started');
    const end = this.snapshot();
    const start = this.startUj;
    this.startUj = null;
    let uj = 0;
    for (let i = 0; i < end.length; i++) {
      const d = end[i]! - start[i]!;
      // hwmon energy counters are 64-bit and do not wrap in practice; going backwards means the
      // driver reset (module reload, suspend): the interval cannot be measured.
      if (d < 0) {
        throw new TinyProtoError('E_SENSOR', `hwmon energy counter ${this.channels[i]!.path} went backwards (${start[i]} -> ${end[i]} µJ)`);
      }
      uj += d;
    }
    return { joules: uj / 1e6 };
  }

  private snapshot(): number[] {
    return this.channels.map((c) => {
      try {
        return readNumberStrict(this.fs, c.path);
      } catch (e) {
        throw new TinyProtoError('E_SENSOR', `cannot read ${c.path}: ${errMessage(e)}`);
      }
    });
  }
}
