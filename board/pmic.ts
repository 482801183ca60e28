/**
 * Raspberry Pi 5 PMIC (Renesas DA9091 "Gilmour") ADC through `vcgencmd pmic_read_adc`.
 *
 * The firmware prints one line per ADC channel, currents then voltages, e.g.
 *      VDD_CORE_A current(7)=2.06178000A
 *      VDD_CORE_V volt(15)=0.88000000V
 *         EXT5V_V volt(24)=5.13245600V
 * Rails are paired by name with the _A/_V suffix stripped; rail power = V * I and the total is
 * the sum over paired rails. Unpaired channels (EXT5V_V: the USB-C input voltage, BATT_V: the
 * RTC battery) carry no current reading and are not counted.
 *
 * Caveat: this is the power delivered by the PMIC's regulators. It excludes the 5 V that goes
 * straight to USB ports/HATs and the PMIC's own conversion losses, so it reads lower than a USB-C
 * meter at the input (community comparisons fit a linear correction; none is applied here).
 * Readings are instantaneous, so energy comes from SampledPowerMeter.
 */
import { execFile } from 'node:child_process';
import { TinyProtoError } from '../common/errors.ts';

/** Runs a command and resolves with its stdout. */
export type CommandRunner = (cmd: string, args: readonly string[]) => Promise<string>;

export const defaultCommandRunner: CommandRunner = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: 2000, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(String(stdout));
    });
  });

export const PMIC_COMMAND = 'vcgencmd';
export const PMIC_ARGS: readonly string[] = Object.freeze(['pmic_read_adc']);

export interface PmicChannel {
  readonly rail: string;
  readonly kind: 'current' | 'volt';
  readonly channel: number;
  readonly value: number;
}

export interface PmicRail {
  readonly name: string;
  readonly volts: number;
  readonly amps: number;
  readonly watts: number;
}

export interface PmicReading {
  readonly rails: readonly PmicRail[];
  /** Voltage-only channels such as EXT5V (input) and BATT. */
  readonly voltsOnly: Readonly<Record<string, number>>;
  readonly totalWatts: number;
}

const LINE_RE = /^\s*([A-Za-z0-9_]+?)(?:_([AV]))?\s+(current|volt)\((\d+)\)\s*=\s*([-+0-9.eE]+)\s*([AV])\s*$/;

export function parsePmicChannels(text: string): PmicChannel[] {
  const out: PmicChannel[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = LINE_RE.exec(line);
    if (!m) continue;
    const value = Number(m[5]);
    if (!Number.isFinite(value)) continue;
    out.push({ rail: m[1]!, kind: m[3] === 'current' ? 'current' : 'volt', channel: Number(m[4]), value });
  }
  return out;
}

/** Pairs currents and voltages by rail name. Throws E_SENSOR when nothing pairs. */
export function parsePmicAdc(text: string): PmicReading {
  const amps = new Map<string, number>();
  const volts = new Map<string, number>();
  for (const c of parsePmicChannels(text)) (c.kind === 'current' ? amps : volts).set(c.rail, c.value);
  const rails: PmicRail[] = [];
  const voltsOnly: Record<string, number> = {};
  for (const [name, v] of volts) {
    const a = amps.get(name);
    if (a === undefined) voltsOnly[name] = v;
    else rails.push({ name, volts: v, amps: a, watts: v * a });
  }
  if (rails.length === 0) {
    throw new TinyProtoError('E_SENSOR', 'vcgencmd pmic_read_adc: no rail with both a current and a voltage reading', {
      sample: text.slice(0, 200),
    });
  }
  return { rails, voltsOnly, totalWatts: rails.reduce((s, r) => s + r.watts, 0) };
}

export async function readPmic(run: CommandRunner = defaultCommandRunner): Promise<PmicReading> {
  return parsePmicAdc(await run(PMIC_COMMAND, PMIC_ARGS));
}

export type PmicProbe =
  | { readonly available: true; readonly first: PmicReading; readonly detail: string; readonly read: () => Promise<number> }
  | { readonly available: false; readonly reason: string };

export async function probePmic(run: CommandRunner = defaultCommandRunner): Promise<PmicProbe> {
  try {
    const first = await readPmic(run);
    const detail = `pmic: vcgencmd pmic_read_adc, sum of ${first.rails.length} rails (${first.rails.map((r) => r.name).join(', ')})`;
    return { available: true, first, detail, read: async () => (await readPmic(run)).totalWatts };
  } catch (e) {
    return { available: false, reason: `vcgencmd pmic_read_adc unavailable: ${e instanceof Error ? e.message : String(e)}` };
  }
}
