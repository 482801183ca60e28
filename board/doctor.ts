/** Board checks for `tinyproto doctor`: which board this is, its energy source, and whether its sensors read. */
import { ok, problem, warn, type CheckResult } from '../common/check.ts';
import { createEnergyMeter, type EnergyMeterOptions } from './meter.ts';
import { listThermalZones, temperature } from './thermal.ts';

/** Board detection and the energy source chosen, with a real reading over `intervalMs`. */
export async function boardChecks(opts: EnergyMeterOptions, intervalMs = 300): Promise<CheckResult[]> {
  const meter = await createEnergyMeter(opts);
  const d = meter.boardDetection;
  const out: CheckResult[] = [(d.exact ? ok : warn)('board', `${d.board}: ${d.reason}`)];
  meter.start();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, intervalMs));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage();
  const reading = await meter.stop({ wallSeconds: seconds, cpuUserSeconds: cpu.user / 1e6, cpuSystemSeconds: cpu.system / 1e6, bytesSent: 0, bytesReceived: 0 });
  const measured = meter.source !== 'estimate';
  const detail = `${meter.source} (${meter.detail}); ${reading.joules.toFixed(3)} J over ${(seconds * 1000).toFixed(0)} ms`;
  if (measured && reading.source === 'estimate') out.push(problem('energy', `${meter.source} was chosen but could not be read: ${reading.detail}`));
  else if (measured) out.push(ok('energy', detail));
  else out.push(warn('energy', `${detail}; no power sensor (${meter.skipped.join('; ') || 'none found'}), energy is estimated from the board profile`));
  const root = opts.root ?? '/';
  const zones = listThermalZones({ root, ...(opts.fs ? { fs: opts.fs } : {}) });
  const temp = temperature({ root, ...(opts.fs ? { fs: opts.fs } : {}) });
  if (temp === null) out.push(warn('sensors', 'no readable thermal zone (/sys/class/thermal): CPU temperature not reported'));
  else out.push(ok('sensors', `CPU temperature ${temp.toFixed(1)} °C (${zones.length} thermal zone(s))`));
  return out;
}
