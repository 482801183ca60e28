/**
 * `npm run bench:accuracy`: one stored run per (variant, alpha, seed) of a size, as JSON under
 * `OUT/accuracy-runs/<size>/<variant>-a<alpha>-s<seed>.json`. A run already stored with the same
 * setup is skipped; a run in progress writes the simulation's checkpoint (sim/checkpoint.ts) next
 * to it after every round and continues from there when the benchmark is started again. A run
 * that stopped by the plateau rule under a smaller round cap is the same run under a larger one
 * (the cap is not part of the setup), so a larger cap adopts it instead of training it again.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { basename, join } from 'node:path';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { setupKey } from '../sim/checkpoint.ts';
import type { RoundRecord } from '../sim/records.ts';
import type { ImageDataset } from '../data/types.ts';
import { TinyProtoError } from '../common/errors.ts';
import { paperSimSettings } from './sim-settings.ts';
import { runKey, sizeKey, type BenchSize, type Variant } from './accuracy-variants.ts';

/** A round as stored: without the per-client records. */
/** A round as stored (no per-client records; runs stored before the gradient norms were kept lack them). */
export type StoredRound = Omit<RoundRecord, 'clients' | 'gradNormMax' | 'clippedSteps'> & Partial<Pick<RoundRecord, 'gradNormMax' | 'clippedSteps'>>;

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
  /** The size key of the run of another size this one was taken from (adoptStoredRun), or absent. */
  readonly reusedFrom?: string;
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

/**
 * A stored run of the same variant, alpha, seed and setup under another size that is the very run
 * the plan would make (the same clients, samples and `evalEvery`), stored for the plan's size too,
 * marked `reusedFrom`, and returned; null when there is none. Two cases:
 * - a smaller round cap with the same plateau rule, where the run stopped by that rule: the larger
 *   cap would have run exactly the same rounds (the same evaluations up to that round, the same
 *   stop). A run that stopped at its cap is not adopted; nor is one whose cap was not a multiple
 *   of `evalEvery` (its extra evaluation at the cap could have decided the stop);
 * - the same round cap, where the run reached the cap without its plateau rule firing, and the
 *   plan's rule is off (`plateau` 0) or more patient (a longer `plateau`, the same delta): a
 *   streak that never reached the stored rule's length never reaches a longer one either.
 */
export function adoptStoredRun(out: string, plan: PlannedRun): StoredRun | null {
  const want = sizeFromConfig(plan.config);
  const root = join(out, 'accuracy-runs');
  if (!existsSync(root)) return null;
  const setup = setupKey(plan.config);
  const name = basename(plan.file);
  const candidates = readdirSync(root)
    .filter((d) => d !== sizeKey(want) && existsSync(join(root, d, name)))
    .map((d) => JSON.parse(readFileSync(join(root, d, name), 'utf8')) as StoredRun)
    .filter((r) => r.setup === setup && sameRun(r, want))
    .sort((a, b) => b.size.maxRounds - a.size.maxRounds);
  const from = candidates[0];
  if (from === undefined) return null;
  const run: StoredRun = { ...from, size: want, reusedFrom: from.reusedFrom ?? sizeKey(from.size) };
  mkdirSync(join(plan.file, '..'), { recursive: true });
  writeAtomic(plan.file, run);
  return run;
}

/** Whether stored run `r` (of another size) is the run that size `want` makes: adoptStoredRun's two cases. */
function sameRun(r: StoredRun, want: BenchSize): boolean {
  const s = r.size;
  if (s.clients !== want.clients || s.samplesPerClient !== want.samplesPerClient || s.evalEvery !== want.evalEvery) return false;
  if (r.stopped.reason === 'plateau') {
    const sameRule = s.plateau === want.plateau && s.plateauDelta === want.plateauDelta;
    const capOk = s.maxRounds < want.maxRounds && (r.stopped.round < s.maxRounds || s.maxRounds % s.evalEvery === 0);
    return sameRule && capOk;
  }
  // stopped by 'rounds': it ran to its cap
  const patient = want.plateau === 0 || (s.plateau > 0 && want.plateau >= s.plateau && want.plateauDelta === s.plateauDelta);
  return s.maxRounds === want.maxRounds && patient;
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
  writeAtomic(plan.file, run);
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(plan.checkpoint + suffix, { force: true });
  return run;
}

function writeAtomic(file: string, run: StoredRun): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(run, null, 1) + '\n');
  renameSync(tmp, file);
}

function sizeFromConfig(c: SimConfig): BenchSize {
  return { clients: c.clients, samplesPerClient: c.samplesPerClient, maxRounds: c.rounds, evalEvery: c.evalEvery, plateau: c.plateau, plateauDelta: c.plateauDelta };
}
