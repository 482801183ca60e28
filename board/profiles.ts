/**
 * Board profiles for when no sensor can measure energy, and the estimator that uses them.
 *
 * Model (deliberately simple, linear, per round):
 *   joules = idleWatts * wallSeconds
 *          + activeWattsPerCore * (cpuUserSeconds + cpuSystemSeconds)
 *          + radioJoulesPerByte * (bytesSent + bytesReceived)
 * Assumptions, all of which bias the figure and should be read as such:
 *  - The whole board idles at idleWatts for the entire wall time, whoever else runs on it;
 *    the estimate therefore charges the round with the board's baseline (as a wall meter would).
 *  - Each fully busy core adds a constant activeWattsPerCore above idle: no DVFS (frequency
 *    changes, thermal throttling), no dependence on instruction mix, no GPU/NPU work, no memory
 *    or storage power beyond what the per-core figure already folds in. CPU seconds are this
 *    process's (user + system), so other processes' work is not charged.
 *  - Network energy is proportional to bytes at one Wi-Fi figure, the same for send and receive;
 *    it ignores per-packet overheads, radio tail/wake-up energy, link rate and signal strength,
 *    and it is only an *incremental* cost (the radio's idle draw is in idleWatts). Over Ethernet
 *    it overestimates.
 *  - Measurements behind the numbers are at the USB/barrel input of a headless board with no
 *    peripherals, unless a source says otherwise.
 * Every number carries a `source`: where it comes from, and "approximate" / "engineering
 * approximation" when it is a rounded or derived figure rather than a single published measurement.
 */
import type { EnergyReading } from '../wire/telemetry.ts';
import { TinyProtoError } from '../common/errors.ts';

export const BOARD_NAMES = Object.freeze([
  'rpi3bplus',
  'rpi4b',
  'rpi5',
  'rpizero2w',
  'jetson-nano',
  'jetson-orin-nano',
  'x86-generic',
] as const);

export type BoardName = (typeof BOARD_NAMES)[number];

export interface Sourced<T> {
  readonly value: T;
  readonly source: string;
}

export interface BoardProfile {
  readonly name: BoardName;
  readonly label: string;
  /** Whole-board power at idle, W. */
  readonly idleWatts: Sourced<number>;
  /** Extra power per fully busy core above idle, W. */
  readonly activeWattsPerCore: Sourced<number>;
  readonly cores: Sourced<number>;
  /** Incremental Wi-Fi energy per byte sent or received, J/B. */
  readonly radioJoulesPerByte: Sourced<number>;
}

/**
 * ~5 µJ/B (~0.6 µJ/bit). Literature spans about an order of magnitude: Aalborg University
 * phone measurements (Nokia N95, 802.11b/g, 2-5 Mb/s) fit ~0.65 µJ/bit ≈ 5.2 µJ/B; vendor notes
 * for conventional Wi-Fi give 1-17 J/MB (1-17 µJ/B); faster 802.11n/ac links are cheaper per bit.
 */
const WIFI_J_PER_BYTE: Sourced<number> = Object.freeze({
  value: 5e-6,
  source:
    'approximate: Wi-Fi incremental energy ~0.6 µJ/bit ≈ 5 µJ/B, from Aalborg University mobile-device measurements (802.11b/g, E_bit ≈ 6.45e-7 J/bit at ~2 Mb/s) and the 1-17 J/MB range commonly quoted for conventional Wi-Fi; modern 802.11n/ac links can be several times cheaper per byte',
});

const p = <T>(value: T, source: string): Sourced<T> => Object.freeze({ value, source });

export const PROFILES: Readonly<Record<BoardName, BoardProfile>> = Object.freeze({
  rpi3bplus: Object.freeze({
    name: 'rpi3bplus',
    label: 'Raspberry Pi 3 Model B+',
    idleWatts: p(1.9, 'approximate, not re-verified here: reviewer bare-board measurements of a headless idle Pi 3B+ (e.g. RasPi.TV, 2018) are commonly quoted at ~350-460 mA at 5 V, i.e. ~1.8-2.3 W; 1.9 W taken'),
    activeWattsPerCore: p(0.8, 'engineering approximation, not re-verified here: all-core stress commonly quoted at ~5 W (~1 A at 5 V) for the Pi 3B+; (5.1 - 1.9) W / 4 cores ≈ 0.8 W/core'),
    cores: p(4, 'Raspberry Pi 3B+ product brief: BCM2837B0, quad-core Cortex-A53 @ 1.4 GHz'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  rpi4b: Object.freeze({
    name: 'rpi4b',
    label: 'Raspberry Pi 4 Model B',
    idleWatts: p(2.7, 'approximate: chipwired.com (Pi 4B, Bullseye, USB meters and a wall meter) measured 2.2-3.0 W idle and 1.8 W minimal; other reviewers quote ~2.7 W headless idle (not re-verified here); 2.7 W taken'),
    activeWattsPerCore: p(0.95, 'engineering approximation: chipwired.com measured 5.1-6.3 W under high load (CPU + Wi-Fi) on a Pi 4B; ~6.4 W all-core stress is a commonly quoted reviewer figure (not re-verified here); (6.4 - 2.7) W / 4 cores ≈ 0.93 → 0.95 W/core'),
    cores: p(4, 'Raspberry Pi 4B product brief: BCM2711, quad-core Cortex-A72 @ 1.5-1.8 GHz'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  rpi5: Object.freeze({
    name: 'rpi5',
    label: 'Raspberry Pi 5',
    idleWatts: p(2.7, 'approximate: Pi 5 headless idle ~2.5-3 W (u-labs.de measured ~3 W idle; ~2.7 W is the commonly quoted reviewer figure, e.g. Jeff Geerling, not re-verified here); 2.7 W taken'),
    activeWattsPerCore: p(1.3, 'engineering approximation, not re-verified here: all-core stress at 2.4 GHz with the active cooler is commonly quoted around 7.5-8 W; (7.9 - 2.7) W / 4 cores ≈ 1.3 W/core'),
    cores: p(4, 'Raspberry Pi 5 product brief: BCM2712, quad-core Cortex-A76 @ 2.4 GHz'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  rpizero2w: Object.freeze({
    name: 'rpizero2w',
    label: 'Raspberry Pi Zero 2 W',
    idleWatts: p(0.6, 'CNX Software (Dec 2021, Otii Arc): ~120 mA at 5 V ≈ 0.6 W idle with Raspberry Pi OS Bullseye'),
    activeWattsPerCore: p(0.4, 'engineering approximation: all-core stress of the Zero 2 W is commonly quoted at roughly 2-2.5 W (CNX Software measured energy per core count/frequency; exact stress figure not re-verified here); (2.2 - 0.6) W / 4 cores = 0.4 W/core'),
    cores: p(4, 'Raspberry Pi Zero 2 W product brief: RP3A0 (BCM2710A1), quad-core Cortex-A53 @ 1 GHz'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  'jetson-nano': Object.freeze({
    name: 'jetson-nano',
    label: 'NVIDIA Jetson Nano (4 GB)',
    idleWatts: p(1.9, 'approximate, not re-verified here: Jetson Nano developer kit idle module input (POM_5V_IN in tegrastats) is commonly reported at ~1.2-2 W; 1.9 W taken to include some carrier-board overhead'),
    activeWattsPerCore: p(1.0, 'engineering approximation: NVIDIA Jetson Nano module datasheet / nvpmodel define 5 W and 10 W (MAXN) power budgets; a CPU-only all-core load of ~5-6 W module input is assumed → ~1 W/core above idle'),
    cores: p(4, 'NVIDIA Jetson Nano module datasheet: quad-core Cortex-A57 @ 1.43 GHz'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  'jetson-orin-nano': Object.freeze({
    name: 'jetson-orin-nano',
    label: 'NVIDIA Jetson Orin Nano (8 GB)',
    idleWatts: p(4.0, 'approximate: NVIDIA developer forum ("Jetson Orin Nano 8GB - lowest theoretical operating power") reports a heavily tuned dev kit at 2.18 W VDD_IN / 2.6 W at the carrier input; a stock JetPack idle is higher, ~3-5 W (engineering approximation); 4 W taken'),
    activeWattsPerCore: p(1.0, 'engineering approximation: Jetson Orin Nano nvpmodel power budgets 7 W / 15 W (25 W MAXN on JetPack 6.2 "Super"); the 6-core Cortex-A78AE cluster at ~1.5 GHz is assumed to add ~1 W/core above idle'),
    cores: p(6, 'NVIDIA Jetson Orin Nano series datasheet: 6-core Arm Cortex-A78AE'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
  'x86-generic': Object.freeze({
    name: 'x86-generic',
    label: 'generic x86-64 machine',
    idleWatts: p(15, 'engineering approximation: a small desktop / mini-PC idles at roughly 10-30 W at the wall; 15 W taken. Replace with a measurement for real results'),
    activeWattsPerCore: p(5, 'engineering approximation: a 4-8 core desktop CPU with a 35-65 W package budget adds roughly 4-8 W per fully busy core; 5 W taken'),
    cores: p(4, 'engineering approximation: nominal core count (the estimate uses CPU seconds, not this number)'),
    radioJoulesPerByte: WIFI_J_PER_BYTE,
  }),
});

export function getProfile(name: BoardName): BoardProfile {
  return PROFILES[name];
}

export function isBoardName(name: string): name is BoardName {
  return (BOARD_NAMES as readonly string[]).includes(name);
}

export interface EnergyUsage {
  readonly wallSeconds: number;
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** Short decimal for the detail string (avoids 4.999999999999999). */
function fmt(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** 'estimate: rpi4b (idle 2.7 W, 0.95 W/core, 5 µJ/B)'. */
export function estimateDetail(profile: BoardProfile): string {
  return `estimate: ${profile.name} (idle ${fmt(profile.idleWatts.value)} W, ${fmt(profile.activeWattsPerCore.value)} W/core, ${fmt(profile.radioJoulesPerByte.value * 1e6)} µJ/B)`;
}

/** The linear model documented at the top of this file. */
export function estimateEnergy(profile: BoardProfile, usage: EnergyUsage): EnergyReading {
  for (const key of ['wallSeconds', 'cpuUserSeconds', 'cpuSystemSeconds', 'bytesSent', 'bytesReceived'] as const) {
    const v = usage[key];
    if (!Number.isFinite(v) || v < 0) {
      throw new TinyProtoError('E_CONFIG', `energy estimate: ${key} must be a finite number >= 0, got ${v}`);
    }
  }
  const joules =
    profile.idleWatts.value * usage.wallSeconds +
    profile.activeWattsPerCore.value * (usage.cpuUserSeconds + usage.cpuSystemSeconds) +
    profile.radioJoulesPerByte.value * (usage.bytesSent + usage.bytesReceived);
  return { joules, source: 'estimate', detail: estimateDetail(profile) };
}
