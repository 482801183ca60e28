/**
 * CPU temperature from /sys/class/thermal/thermal_zone* (temp in millidegrees Celsius).
 * Preferred zone types: 'cpu-thermal' (Raspberry Pi), 'CPU-therm' (Jetson), 'x86_pkg_temp'
 * (Intel package), then a few other CPU-ish names; otherwise the first readable zone.
 */
import { type SysOptions, resolveSys, listDir, readText, readNumber, naturalCompare } from './sysfs.ts';

export const THERMAL_DIR = '/sys/class/thermal';

export const PREFERRED_ZONE_TYPES: readonly string[] = Object.freeze([
  'cpu-thermal',
  'CPU-therm',
  'x86_pkg_temp',
  'cpu_thermal',
  'cpu-therm',
  'soc_thermal',
  'k10temp',
]);

export interface ThermalZone {
  readonly zone: string;
  readonly type: string | null;
  readonly celsius: number;
}

/** Readable zones with plausible values (-60..200 °C), natural order. */
export function listThermalZones(opts: SysOptions = {}): ThermalZone[] {
  const sys = resolveSys(opts);
  const base = sys.at(THERMAL_DIR);
  const out: ThermalZone[] = [];
  for (const zone of listDir(sys.fs, base).filter((n) => /^thermal_zone\d+$/.test(n)).sort(naturalCompare)) {
    const milli = readNumber(sys.fs, `${base}/${zone}/temp`);
    if (milli === null) continue;
    const celsius = milli / 1000;
    if (celsius < -60 || celsius > 200) continue;
    out.push({ zone, type: readText(sys.fs, `${base}/${zone}/type`), celsius });
  }
  return out;
}

/** CPU temperature in °C, or null when no thermal zone can be read. */
export function temperature(opts: SysOptions = {}): number | null {
  const zones = listThermalZones(opts);
  for (const t of PREFERRED_ZONE_TYPES) {
    const z = zones.find((x) => x.type === t);
    if (z) return z.celsius;
  }
  return zones[0]?.celsius ?? null;
}
