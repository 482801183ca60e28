/**
 * `npm run bench:accuracy`: one stored run per (variant, alpha, seed) of a size, as JSON under
 * `OUT/accuracy-runs/<size>/<variant>-a<alpha>-s<seed>.json`. A run already stored with the same
 * setup is skipped; a run in progress writes the simulation's checkpoint (sim/checkpoint.ts) next
 * to it after every round and continues from there when the benchmark is started again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { setupKey } from '../sim/checkpoint.ts';
import type { RoundRecord } from '../sim/records.ts';
import type { ImageDataset } from '../data/types.ts';
import { TinyProtoError } from '../common/errors.ts';
import { paperSimSettings } from './sim-settings.ts';
import { runKey, sizeKey, type BenchSize, type Variant } from './accuracy-variants.ts';

/** A round as stored: without the per-client records. */
export type StoredRound = Omit<RoundRecord, 'clients'>;

export interface StoredRun {
  readonly variant: string;
  readonly spec: string;
  readonly alpha: number;
  readonly seed: number;
  readonly size: BenchSize;
  /** sim/checkpoint.ts setupKey of the run's configuration: a stored run counts only for the same setup. */
  readonly setup: string;
  readonly method: SimConfig['method'];
  readonly date: string;
  /** Seconds of the invocation that finished the run (a resumed run does not count the time before). */
  readonly seconds: number;
  readonly resumedFrom: number | null;
  readonly mu: number | null;
  readonly masks: SimResult['masks'];
  readonly stopped: SimResult['stopped'];
  readonly summary: SimResult['summary'];
  readonly clients: SimResult['clients'];
  readonly rounds: readonly StoredRound[];
}

export interface PlannedRun {
  readonly variant: Variant;
  readonly alpha: number;
  readonly seed: number;
  readonly config: SimConfig;
  readonly file: string;
  readonly checkpoint: string;
}

export function sizeDir(out: string, size: BenchSize): string {
  return join(out, 'accuracy-runs', sizeKey(size));
}

/** The run's simulation settings: the paper's, the size's, then the variant's. */
export function planRun(out: string, size: BenchSize, variant: Variant, alpha: number, seed: number, dataDir: string | null): PlannedRun {
  const dir = sizeDir(out, size);
  const key = runKey(variant.name, alpha, seed);
  const checkpoint = join(dir, `${key}.ckpt.sqlite`);
  const config = resolveSimConfig({
    ...paperSimSettings({ clients: size.clients, rounds: size.maxRounds, samplesPerClient: size.samplesPerClient, seed, dataDir }, false),
    alpha,
    evalEvery: size.evalEvery,
    plateau: size.plateau,
    plateauDelta: size.plateauDelta,
    ...variant.fields,
    checkpoint,
    resume: true,
  });
  return { variant, alpha, seed, config, file: join(dir, `${key}.json`), checkpoint };
}

/** The stored run of `plan`, or null when there is none or it was run with another setup. */
export function storedRun(plan: PlannedRun): StoredRun | null {
  if (!existsSync(plan.file)) return null;
  const run = JSON.parse(readFileSync(plan.file, 'utf8')) as StoredRun;
  return run.setup === setupKey(plan.config) ? run : null;
}

/** Every stored run of a size, in file-name order. */
export function loadStoredRuns(out: string, size: BenchSize): StoredRun[] {
  const dir = sizeDir(out, size);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      try {
        return JSON.parse(readFileSync(join(dir, f), 'utf8')) as StoredRun;
      } catch (e) {
        throw new TinyProtoError('E_CONFIG', `${join(dir, f)}: not a stored run (${(e as Error).message})`);
      }
    });
}

export interface RunHooks {
  readonly dataset: ImageDataset;
  readonly onRound?: (plan: PlannedRun, r: RoundRecord) => void;
}

/** Runs (or continues from its checkpoint) one planned run, stores it and removes the checkpoint. */
export async function runAndStore(plan: PlannedRun, hooks: RunHooks): Promise<StoredRun> {
  mkdirSync(join(plan.file, '..'), { recursive: true });
  const result = await simulate(plan.config, { dataset: hooks.dataset, onRound: (r) => hooks.onRound?.(plan, r) });
  const run: StoredRun = {
    variant: plan.variant.name,
    spec: plan.variant.spec,
    alpha: plan.alpha,
    seed: plan.seed,
    size: sizeFromConfig(plan.config),
    setup: setupKey(plan.config),
    method: plan.config.method,
    date: new Date().toISOString(),
    seconds: result.seconds,
    resumedFrom: result.resumedFrom,
    mu: result.mu,
    masks: result.masks,
    stopped: result.stopped,
    summary: result.summary,
    clients: result.clients,
    rounds: result.rounds.map(({ clients: _c, ...r }) => r),
  };
  const tmp = `${plan.file}.tmp`;
  writeFileSync(tmp, JSON.stringify(run, null, 1) + '\n');
  renameSync(tmp, plan.file);
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(plan.checkpoint + suffix, { force: true });
  return run;
}

function sizeFromConfig(c: SimConfig): BenchSize {
  return { clients: c.clients, samplesPerClient: c.samplesPerClient, maxRounds: c.rounds, evalEvery: c.evalEvery, plateau: c.plateau, plateauDelta: c.plateauDelta };
}
