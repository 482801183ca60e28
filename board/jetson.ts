/**
 * NVIDIA Jetson on-module INA3221 power monitors.
 *
 * Two sysfs layouts exist:
 *  (a) older L4T (JetPack 4: Nano, TX1/TX2, Xavier) with NVIDIA's out-of-tree `ina3221x` IIO
 *      driver: /sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device<N>/
 *        rail_name_{0,1,2}      e.g. POM_5V_IN, POM_5V_GPU, POM_5V_CPU (Nano)
 *        in_power{0,1,2}_input  instantaneous power, mW
 *  (b) newer L4T (JetPack 5+/Orin) with the mainline hwmon `ina3221` driver:
 *      /sys/class/hwmon/hwmon<N>/ with name == 'ina3221' and, per channel N in 1..3,
 *        in{N}_label  e.g. VDD_IN, VDD_CPU_GPU_CV, VDD_SOC (Orin Nano)
 *        in{N}_input  bus voltage, mV;  curr{N}_input  current, mA   -> P = V * I
 *        power{N}_input (µW) on kernels/drivers that expose it, preferred when present.
 *
 * Total power: the board-input rail when there is one (VDD_IN on Orin, POM_5V_IN on Nano) —
 * the other rails are branches of it, so summing would double count; otherwise the sum of all
 * rails. Power is instantaneous, so energy comes from SampledPowerMeter (trapezoid integral).
 */
import {
  type SysOptions,
  type SysFs,
  resolveSys,
  listDir,
  readText,
  readNumber,
  readNumberStrict,
  naturalCompare,
} from './sysfs.ts';

export const INA3221X_DIR = '/sys/bus/i2c/drivers/ina3221x';
export const HWMON_DIR = '/sys/class/hwmon';

/** Rail names that carry the whole board/module input. */
export const INPUT_RAIL_NAMES: readonly string[] = Object.freeze(['VDD_IN', 'POM_5V_IN', 'VDD_5V_IN', 'VIN_SYS_5V0', 'VIN']);

export interface PowerRail {
  readonly name: string;
  /** Where it is read from, for the reading's detail. */
  readonly path: string;
  /** Which layout/units it came from. */
  readonly kind: 'iio-mW' | 'hwmon-VxI' | 'hwmon-uW';
  /** Instantaneous power in watts; throws when the sensor cannot be read. */
  read(): number;
}

function iioRails(fs: SysFs, base: string): PowerRail[] {
  const rails: PowerRail[] = [];
  for (const dev of listDir(fs, base).sort(naturalCompare)) {
    const devDir = `${base}/${dev}`;
    for (const iio of listDir(fs, devDir).filter((n) => n.startsWith('iio:device')).sort(naturalCompare)) {
      const dir = `${devDir}/${iio}`;
      for (let ch = 0; ch < 3; ch++) {
        const powerPath = `${dir}/in_power${ch}_input`;
        const name = readText(fs, `${dir}/rail_name_${ch}`);
        if (name === null || name === '' || readNumber(fs, powerPath) === null) continue;
        rails.push({ name, path: powerPath, kind: 'iio-mW', read: () => readNumberStrict(fs, powerPath) / 1000 });
      }
    }
  }
  return rails;
}

function hwmonRails(fs: SysFs, base: string): PowerRail[] {
  const rails: PowerRail[] = [];
  for (const hw of listDir(fs, base).filter((n) => n.startsWith('hwmon')).sort(naturalCompare)) {
    const dir = `${base}/${hw}`;
    if (readText(fs, `${dir}/name`) !== 'ina3221') continue;
    for (let ch = 1; ch <= 3; ch++) {
      const label = readText(fs, `${dir}/in${ch}_label`);
      if (label === null || label === '' || label.toUpperCase() === 'NC') continue;
      if (readNumber(fs, `${dir}/in${ch}_enable`) === 0) continue;
      const powerPath = `${dir}/power${ch}_input`;
      if (readNumber(fs, powerPath) !== null) {
        rails.push({ name: label, path: powerPath, kind: 'hwmon-uW', read: () => readNumberStrict(fs, powerPath) / 1e6 });
        continue;
      }
      const vPath = `${dir}/in${ch}_input`;
      const iPath = `${dir}/curr${ch}_input`;
      if (readNumber(fs, vPath) === null || readNumber(fs, iPath) === null) continue;
      rails.push({
        name: label,
        path: `${dir}/{in,curr}${ch}_input`,
        kind: 'hwmon-VxI',
        // mV * mA = µW
        read: () => (readNumberStrict(fs, vPath) * readNumberStrict(fs, iPath)) / 1e6,
      });
    }
  }
  return rails;
}

/** All INA3221 rails found (old IIO layout first, then hwmon). */
export function listJetsonRails(opts: SysOptions = {}): PowerRail[] {
  const sys = resolveSys(opts);
  return [...iioRails(sys.fs, sys.at(INA3221X_DIR)), ...hwmonRails(sys.fs, sys.at(HWMON_DIR))];
}

export type JetsonProbe =
  | {
      readonly available: true;
      readonly rails: readonly PowerRail[];
      /** The rails whose power is summed (the input rail alone when present). */
      readonly counted: readonly PowerRail[];
      readonly detail: string;
      /** Total power in watts from the counted rails. */
      readonly read: () => number;
    }
  | { readonly available: false; readonly reason: string };

export function probeJetson(opts: SysOptions = {}): JetsonProbe {
  const rails = listJetsonRails(opts);
  if (rails.length === 0) return { available: false, reason: 'no INA3221 rails (ina3221x IIO or hwmon ina3221) found' };
  const input = rails.find((r) => INPUT_RAIL_NAMES.includes(r.name.toUpperCase()));
  const counted = input ? [input] : rails;
  const names = rails.map((r) => r.name).join(', ');
  const detail = input
    ? `ina3221: input rail ${input.name} (rails: ${names})`
    : `ina3221: sum of rails ${counted.map((r) => r.name).join(' + ')}`;
  const read = (): number => counted.reduce((sum, r) => sum + r.read(), 0);
  return { available: true, rails, counted, detail, read };
}
