/** Public API of the energy/thermal sensing used by agents for per-round telemetry. */
export { createEnergyMeter, type EnergyMeter, type EnergyMeterOptions } from './meter.ts';
export { temperature, listThermalZones, PREFERRED_ZONE_TYPES, type ThermalZone } from './thermal.ts';
export {
  BOARD_NAMES,
  PROFILES,
  getProfile,
  isBoardName,
  estimateEnergy,
  estimateDetail,
  type BoardName,
  type BoardProfile,
  type EnergyUsage,
  type Sourced,
} from './profiles.ts';
export { detectBoard, resolveBoard, boardFromModel, boardFromTegraRelease, type BoardDetection, type DetectOptions } from './detect.ts';
export {
  listRaplZones,
  packageZones,
  probeRapl,
  raplDeltaUj,
  raplWrapSeconds,
  RaplMeter,
  type RaplZone,
  type RaplProbe,
  type RaplMeterOptions,
} from './rapl.ts';
export { listJetsonRails, probeJetson, INPUT_RAIL_NAMES, type PowerRail, type JetsonProbe } from './jetson.ts';
export {
  parsePmicAdc,
  parsePmicChannels,
  readPmic,
  probePmic,
  defaultCommandRunner,
  type CommandRunner,
  type PmicRail,
  type PmicReading,
  type PmicProbe,
} from './pmic.ts';
export { listHwmonSensors, pickChannels, probeHwmon, HwmonEnergyMeter, type HwmonChannel, type HwmonProbe } from './hwmon.ts';
export {
  SampledPowerMeter,
  trapezoidJoules,
  monotonicClock,
  unrefTicker,
  DEFAULT_SAMPLE_PERIOD_MS,
  type Clock,
  type Ticker,
  type PowerSample,
  type SampledInterval,
  type SamplingOptions,
} from './sampling.ts';
export { nodeSysFs, type SysFs, type SysOptions } from './sysfs.ts';
