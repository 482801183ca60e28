/**
 * Board emulation profiles: how fast a board trains relative to a Raspberry Pi 4 and how much
 * memory an agent may use on it, for the boards of board/profiles.ts (the same names, so that
 * the agent's energy estimate uses the board it emulates). The CPU quota of an emulated board
 * is its training speed over this machine's, measured (emulation/calibrate.ts): one core of
 * this machine throttled to that fraction trains as fast as the board's one core.
 *
 * The speeds are NOT measured on boards here: they are engineering approximations from vendor
 * claims and core microarchitectures, each with its reasoning in `source`. Replace them with a
 * real board's figure (the agent's telemetry reports its training seconds) when you have one.
 */
import type { BoardName, Sourced } from '../board/profiles.ts';
import { TinyProtoError } from '../common/errors.ts';

export interface BoardEmulation {
  readonly board: BoardName;
  /** Single-core training speed over a Raspberry Pi 4's (ORT, one thread). */
  readonly speedVsPi4: Sourced<number>;
  /** Memory an agent may use: the board's RAM less what its OS takes. */
  readonly memoryBytes: Sourced<number>;
}

const s = <T>(value: T, source: string): Sourced<T> => Object.freeze({ value, source });
const MiB = 2 ** 20;

/**
 * ResNet-8 (28x28x1, batch 32) training on one Raspberry Pi 4 core with the ORT engine, images/s.
 */
export const PI4_RESNET8_TRAIN_IMAGES_PER_SEC: Sourced<number> = s(
  115,
  'engineering approximation, not measured on a board: this project measured 814 images/s on one core of an AVX-512 AMD EPYC (benchmarks/results/train.json, ort1, batch 32), whose FMA peak is ~200 GFLOP/s per core (/work/shared/ENVIRONMENT.md); a Pi 4 Cortex-A72 at 1.8 GHz peaks at 28.8 GFLOP/s FP32 per core (2 x 128-bit NEON FMA per cycle); at the same efficiency 814 x 28.8 / 200 ≈ 117 → 115 images/s',
);

export const BOARD_EMULATIONS = Object.freeze({
  rpizero2w: Object.freeze({
    board: 'rpizero2w',
    speedVsPi4: s(0.25, 'engineering approximation: the Zero 2 W (RP3A0) has the Pi 3\'s quad Cortex-A53 at 1.0 GHz (Raspberry Pi Zero 2 W product brief); the Pi 4 launch (June 2019) claims up to 3x the Pi 3B+ (A53 at 1.4 GHz): 1/3 x 1.0/1.4 ≈ 0.24 → 0.25'),
    memoryBytes: s(384 * MiB, 'Raspberry Pi Zero 2 W product brief: 512 MB LPDDR2; headless Raspberry Pi OS Lite with the default 64 MB GPU split leaves roughly 380-420 MB (engineering approximation); 384 MiB taken'),
  }),
  rpi4b: Object.freeze({
    board: 'rpi4b',
    speedVsPi4: s(1, 'the reference board (PI4_RESNET8_TRAIN_IMAGES_PER_SEC)'),
    memoryBytes: s(3840 * MiB, 'Raspberry Pi 4B product brief: 1, 2, 4 or 8 GB LPDDR4; the 4 GB model less ~256 MB for the OS taken'),
  }),
  rpi5: Object.freeze({
    board: 'rpi5',
    speedVsPi4: s(2.5, 'Raspberry Pi 5 announcement (Raspberry Pi Ltd, Sept 2023): "a 2-3x increase in CPU performance relative to Raspberry Pi 4" (Cortex-A76 at 2.4 GHz vs A72 at 1.8 GHz); 2.5 taken'),
    memoryBytes: s(3840 * MiB, 'Raspberry Pi 5 product brief: 2, 4, 8 or 16 GB LPDDR4X; the 4 GB model less ~256 MB for the OS taken'),
  }),
  'jetson-orin-nano': Object.freeze({
    board: 'jetson-orin-nano',
    speedVsPi4: s(1.7, 'engineering approximation, CPU only (the GPU is not emulated): Cortex-A78AE at 1.5 GHz (Jetson Orin Nano datasheet) vs the Pi 5\'s A76 at 2.4 GHz, ~10% more work per clock for the A78 (Arm\'s generational claims): 2.5 x 1.5/2.4 x 1.1 ≈ 1.7 x Pi 4'),
    memoryBytes: s(6656 * MiB, 'Jetson Orin Nano 8 GB datasheet: 8 GB LPDDR5 shared by CPU and GPU; JetPack with its desktop takes ~1.5 GB (engineering approximation); 6.5 GiB taken'),
  }),
} satisfies Record<string, BoardEmulation>);

export type EmulatedBoard = keyof typeof BOARD_EMULATIONS;
export const EMULATED_BOARDS = Object.freeze(Object.keys(BOARD_EMULATIONS) as EmulatedBoard[]);

export function boardEmulation(name: string): BoardEmulation {
  if (!(name in BOARD_EMULATIONS)) throw new TinyProtoError('E_CONFIG', `invalid --board "${name}": emulated boards are ${EMULATED_BOARDS.join(', ')}`, { field: 'board', value: name });
  return BOARD_EMULATIONS[name as EmulatedBoard];
}

/** The board's estimated ResNet-8 training speed on one core, images/s (what its CPU quota and `simulate`'s simulated boards use). */
export function boardTrainImagesPerSec(b: BoardEmulation): number {
  return PI4_RESNET8_TRAIN_IMAGES_PER_SEC.value * b.speedVsPi4.value;
}

export interface CpuQuota {
  /** Cores of this machine the board's agent may use per wall second. */
  readonly cores: number;
  /** The board's estimated training speed, images/s. */
  readonly boardImagesPerSec: number;
  /** True when the board is faster than one core here: it runs unthrottled, and too slow. */
  readonly clamped: boolean;
}

/**
 * CPU quota that makes one core of this machine (training at `hostImagesPerSec` on one thread)
 * train at the board's speed. Capped at `maxCores` (the agent's threads), at least 1%.
 */
export function cpuQuotaFor(b: BoardEmulation, hostImagesPerSec: number, maxCores = 1): CpuQuota {
  if (!(hostImagesPerSec > 0) || !Number.isFinite(hostImagesPerSec)) throw new TinyProtoError('E_CONFIG', `host training speed must be > 0 images/s, got ${hostImagesPerSec}`);
  const boardImagesPerSec = boardTrainImagesPerSec(b);
  const raw = boardImagesPerSec / hostImagesPerSec;
  return { cores: Math.min(maxCores, Math.max(0.01, raw)), boardImagesPerSec, clamped: raw > maxCores };
}
