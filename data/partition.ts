/**
 * Non-IID partitioning of a pooled data set across clients (HtFLlib style):
 * Dirichlet label skew, optional per-client cap, per-client train/test split.
 */
import { TinyProtoError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import type { ClientShard, ImageDataset } from './types.ts';

export interface DirichletOptions {
  /** Concentration; small (0.1) = strong label skew, large (100) = near IID. */
  alpha: number;
  seed: number;
  /** Every client must end with at least this many samples (default 10). */
  minPerClient?: number;
  /** Redraw attempts before giving up with E_PARTITION (default 1000). */
  maxTries?: number;
  /**
   * HtFLlib's balancing: a client already holding >= N/numClients samples gets no more
   * of later classes (default true).
   */
  balance?: boolean;
}

function checkPositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new TinyProtoError('E_CONFIG', `${what} must be a positive integer, got ${v}`);
}

/**
 * Split the indices 0..labels.length-1 across `numClients` clients with per-class
 * proportions drawn from Dir(alpha), redrawing until every client has at least
 * `minPerClient` samples. Every index lands in exactly one client; each client's
 * indices are sorted ascending. Deterministic for a given seed.
 */
export function dirichletPartition(labels: Int32Array, numClasses: number, numClients: number, opts: DirichletOptions): Int32Array[] {
  checkPositiveInt(numClasses, 'numClasses');
  checkPositiveInt(numClients, 'numClients');
  const { alpha, seed } = opts;
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new TinyProtoError('E_CONFIG', `Dirichlet alpha must be a positive number, got ${alpha}`);
  const minPer = opts.minPerClient ?? 10;
  if (!Number.isInteger(minPer) || minPer < 0) throw new TinyProtoError('E_CONFIG', `minPerClient must be a non-negative integer, got ${minPer}`);
  const maxTries = opts.maxTries ?? 1000;
  checkPositiveInt(maxTries, 'maxTries');
  const balance = opts.balance ?? true;
  const n = labels.length;

  if (minPer * numClients > n) {
    throw new TinyProtoError(
      'E_PARTITION',
      `cannot give ${numClients} clients at least ${minPer} samples each: only ${n} samples (need ${minPer * numClients}); use fewer clients or a smaller minPerClient`,
      { samples: n, clients: numClients, minPerClient: minPer },
    );
  }

  // indices of each class, in ascending order
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= numClasses || !Number.isInteger(y)) {
      throw new TinyProtoError('E_PARTITION', `label ${y} at index ${i} is out of range [0, ${numClasses})`, { index: i, label: y });
    }
    byClass[y]!.push(i);
  }

  const rng = Rng.derive(seed, 'dirichlet-partition');
  const fairShare = n / numClients;
  let smallest = 0;
  for (let attempt = 1; attempt <= maxTries; attempt++) {
    const buckets: number[][] = Array.from({ length: numClients }, () => []);
    for (let k = 0; k < numClasses; k++) {
      const idx = byClass[k]!.slice();
      rng.shuffle(idx);
      const raw = rng.dirichlet(alpha, numClients);
      let props = raw;
      if (balance) {
        const masked = new Float64Array(numClients);
        let sum = 0;
        for (let j = 0; j < numClients; j++) {
          const p = buckets[j]!.length < fairShare ? raw[j]! : 0;
          masked[j] = p;
          sum += p;
        }
        // If every client with mass is already full, fall back to the unmasked draw.
        if (sum > 0) {
          for (let j = 0; j < numClients; j++) masked[j] = masked[j]! / sum;
          props = masked;
        }
      }
      // cut points floor(cumsum * len), as np.split(idx, (cumsum(p) * len).astype(int)[:-1])
      let cum = 0;
      let start = 0;
      for (let j = 0; j < numClients; j++) {
        let end: number;
        if (j === numClients - 1) {
          end = idx.length;
        } else {
          cum += props[j]!;
          end = Math.min(idx.length, Math.max(start, Math.floor(cum * idx.length)));
        }
        const b = buckets[j]!;
        for (let t = start; t < end; t++) b.push(idx[t]!);
        start = end;
      }
    }
    smallest = Math.min(...buckets.map((b) => b.length));
    if (smallest >= minPer) {
      return buckets.map((b) => Int32Array.from(b).sort());
    }
  }
  throw new TinyProtoError(
    'E_PARTITION',
    `Dirichlet partition (alpha=${alpha}) of ${n} samples over ${numClients} clients failed to give every client >= ${minPer} samples in ${maxTries} tries (smallest client in the last try: ${smallest}); raise alpha, lower minPerClient or use fewer clients`,
    { samples: n, clients: numClients, minPerClient: minPer, alpha, maxTries, smallest },
  );
}

/** A deterministic random subset of at most `max` indices (sorted ascending); a copy when already small enough. */
export function capPerClient(indices: Int32Array, max: number, seed: number): Int32Array {
  if (!Number.isInteger(max) || max < 0) throw new TinyProtoError('E_CONFIG', `per-client cap must be a non-negative integer, got ${max}`);
  if (indices.length <= max) return indices.slice();
  const copy = indices.slice();
  Rng.derive(seed, 'cap-per-client').shuffle(copy);
  return copy.subarray(0, max).slice().sort();
}

/**
 * Shuffle-and-split one client's indices (like sklearn's train_test_split in HtFLlib),
 * stratified by label: the train part gets floor(trainFraction * n) samples, clamped so
 * that a client with >= 2 samples has >= 1 in each part (a single sample goes to train).
 * Both parts are returned sorted ascending.
 */
export function trainTestSplit(
  indices: Int32Array,
  labels: Int32Array,
  seed: number,
  trainFraction = 0.75,
): { train: Int32Array; test: Int32Array } {
  if (!(trainFraction > 0 && trainFraction < 1)) {
    throw new TinyProtoError('E_CONFIG', `trainFraction must be in (0, 1), got ${trainFraction}`);
  }
  const n = indices.length;
  if (n === 0) return { train: new Int32Array(0), test: new Int32Array(0) };
  if (n === 1) return { train: indices.slice(), test: new Int32Array(0) };
  const nTrain = Math.min(n - 1, Math.max(1, Math.floor(trainFraction * n + 1e-9)));
  const nTest = n - nTrain;
  const rng = Rng.derive(seed, 'train-test-split');
  // Shuffle, then group by label (stable sort keeps the shuffled order within a class)
  // and pick test samples at evenly spaced positions from a random offset: exactly nTest
  // picks, spread over the classes in proportion to their size.
  const order = Array.from(indices);
  rng.shuffle(order);
  order.sort((a, b) => labels[a]! - labels[b]!);
  const offset = rng.int(n);
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < n; i++) {
    const picks = Math.floor(((i + 1 + offset) * nTest) / n) - Math.floor(((i + offset) * nTest) / n);
    (picks > 0 ? test : train).push(order[i]!);
  }
  return { train: Int32Array.from(train).sort(), test: Int32Array.from(test).sort() };
}

/** Number of samples of each class among `indices`. */
export function classCounts(labels: Int32Array, indices: Int32Array | readonly number[], numClasses: number): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < indices.length; i++) {
    const y = labels[indices[i]!];
    if (y === undefined || y < 0 || y >= numClasses) {
      throw new TinyProtoError('E_CONFIG', `index ${indices[i]} has no label in [0, ${numClasses})`);
    }
    counts[y]!++;
  }
  return counts;
}

/** Partition settings shared by the simulation and the agents, so both carve identical shards. */
export const SHARD_DEFAULTS = Object.freeze({ minPerClient: 20, trainFraction: 0.75 });

export interface ShardOptions {
  clients: number;
  alpha: number;
  seed: number;
  minPerClient?: number;
  /** Cap on each client's samples (before the train/test split). */
  samplesPerClient?: number;
  /** Default 0.75. */
  trainFraction?: number;
  maxTries?: number;
}

/** Dirichlet partition, optional per-client cap, then per-client train/test split. */
export function makeShards(ds: ImageDataset, opts: ShardOptions): ClientShard[] {
  const parts = dirichletPartition(ds.labels, ds.numClasses, opts.clients, {
    alpha: opts.alpha,
    seed: opts.seed,
    ...(opts.minPerClient === undefined ? {} : { minPerClient: opts.minPerClient }),
    ...(opts.maxTries === undefined ? {} : { maxTries: opts.maxTries }),
  });
  return parts.map((part, client) => {
    const clientSeed = Rng.derive(opts.seed, `client-${client}`).nextUint32();
    const own = opts.samplesPerClient === undefined ? part : capPerClient(part, opts.samplesPerClient, clientSeed);
    const { train, test } = trainTestSplit(own, ds.labels, clientSeed, opts.trainFraction ?? 0.75);
    return { client, train, test };
  });
}
