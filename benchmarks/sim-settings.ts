/**
 * The simulation settings the accuracy benchmarks pass and record: the experiment setup's
 * (method/experiment.ts, the paper's) with each run's size, in the order the results files have.
 */
import type { SimConfig } from '../sim/config.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

export interface RunSize {
  clients: number;
  rounds: number;
  samplesPerClient: number | null;
  seed: number;
  dataDir: string | null;
}

/** `withRatio`: also record r (runs that sweep r set it per run). */
export function paperSimSettings(o: RunSize, withRatio: boolean): Partial<SimConfig> {
  const { alpha, featureDim, ratio, lambda, batchSize, lr, localEpochs } = SETUP_DEFAULTS;
  return {
    clients: o.clients,
    alpha,
    rounds: o.rounds,
    samplesPerClient: o.samplesPerClient,
    seed: o.seed,
    featureDim,
    ...(withRatio ? { ratio } : {}),
    lambda,
    batchSize,
    lr,
    localEpochs,
    dataDir: o.dataDir,
  };
}
