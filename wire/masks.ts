/**
 * Class-wise Prototype Sparsification (CPS) masks.
 *
 * Construction (METHOD.md, paper's code, with a recorded seed):
 * - split the d feature dimensions into K contiguous blocks of b = floor(d/K) dimensions; the
 *   remainder dimensions d - K*b at the end are never used by any mask;
 * - every class j gets a binary code over the K blocks with k = floor(K*r) ones (at least 1);
 * - class 0 takes the LAST k blocks; each later class is the candidate code that maximises the
 *   summed Hamming distance to the codes already chosen (ties: the first candidate found).
 *   Candidates are `candidates` random codes (k distinct blocks chosen uniformly, distinct from
 *   the codes already chosen). When the number of possible codes C(K,k) is at most `candidates`,
 *   every code is considered instead (in a seeded random order, so ties still depend on the
 *   seed), which makes the maximum exact: e.g. with k = 1 every class gets its own block.
 * - the mask of class j is 1 on every dimension of every block in its code, so it has
 *   s = k*b ones.
 *
 * Clients and server derive identical masks from (numClasses, featureDim, ratio, seed,
 * candidates), so only those parameters need distributing.
 */
import { TinyProtoError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';

export interface MaskParams {
  numClasses: number;
  featureDim: number;
  /** Sparsity ratio r in (0, 1]: fraction of blocks (hence dimensions) kept per class. */
  ratio: number;
  seed: number;
  /** Random candidate codes considered per class (default 1000). */
  candidates?: number;
}

export interface ClassMasks {
  params: MaskParams;
  /** Dimensions per block: floor(d / K). */
  blockSize: number;
  /** Blocks per class code: k = max(1, floor(K * r)). */
  blocksPerClass: number;
  /** K codes of K bits (0/1), one bit per block. */
  codes: Uint8Array[];
  /** K*d row-major 0/1 masks. */
  masks: Uint8Array;
  /** Per class: sorted dimensions where the mask is 1 (length s). */
  indices: Int32Array[];
  /** Ones per class: s = k * blockSize. */
  s: number;
}

export const DEFAULT_MASK_CANDIDATES = 1000;

/** k = max(1, floor(K*r)); a tiny epsilon guards against 0.3*10 = 2.9999999999999996-style errors. */
export function blocksPerClassFor(numClasses: number, ratio: number): number {
  return Math.max(1, Math.floor(numClasses * ratio + 1e-9));
}

function validate(p: MaskParams): { K: number; d: number; r: number; candidates: number } {
  const K = p.numClasses;
  const d = p.featureDim;
  const r = p.ratio;
  const candidates = p.candidates ?? DEFAULT_MASK_CANDIDATES;
  if (!Number.isInteger(K) || K < 2) {
    throw new TinyProtoError('E_MASK', `mask numClasses must be an integer >= 2, got ${K}`, { numClasses: K });
  }
  if (!Number.isInteger(d) || d < K) {
    throw new TinyProtoError('E_MASK', `mask featureDim must be an integer >= numClasses (${K}), got ${d}`, {
      featureDim: d,
      numClasses: K,
    });
  }
  if (typeof r !== 'number' || !Number.isFinite(r) || !(r > 0) || r > 1) {
    throw new TinyProtoError('E_MASK', `mask ratio must satisfy 0 < ratio <= 1, got ${r}`, { ratio: r });
  }
  if (!Number.isFinite(p.seed)) {
    throw new TinyProtoError('E_MASK', `mask seed must be a finite number, got ${p.seed}`, { seed: p.seed });
  }
  if (!Number.isInteger(candidates) || candidates < 1) {
    throw new TinyProtoError('E_MASK', `mask candidates must be an integer >= 1, got ${candidates}`, { candidates });
  }
  return { K, d, r, candidates };
}

/** C(n, k), or Infinity once it exceeds `cap`. */
function binomialCapped(n: number, k: number, cap: number): number {
  const kk = Math.min(k, n - k);
  let c = 1;
  for (let i = 1; i <= kk; i++) {
    c = (c * (n - kk + i)) / i;
    if (c > cap) return Infinity;
  }
  return Math.round(c);
}

/** All k-subsets of {0..n-1} as sorted Int32Arrays, lexicographic order. */
function allCodes(n: number, k: number): Int32Array[] {
  const out: Int32Array[] = [];
  const cur = new Int32Array(k);
  for (let i = 0; i < k; i++) cur[i] = i;
  for (;;) {
    out.push(cur.slice());
    let i = k - 1;
    while (i >= 0 && cur[i]! === n - k + i) i--;
    if (i < 0) return out;
    cur[i] = cur[i]! + 1;
    for (let t = i + 1; t < k; t++) cur[t] = cur[t - 1]! + 1;
  }
}

function codeKey(blocks: Int32Array): string {
  return blocks.join(',');
}

/** k distinct blocks out of K, uniformly (partial Fisher-Yates), sorted. */
function randomCode(rng: Rng, scratch: Int32Array, k: number): Int32Array {
  const K = scratch.length;
  for (let i = 0; i < K; i++) scratch[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(K - i);
    const t = scratch[i]!;
    scratch[i] = scratch[j]!;
    scratch[j] = t;
  }
  return scratch.slice(0, k).sort();
}

/**
 * Summed Hamming distance from a code (k ones) to m chosen codes (k ones each), given the
 * per-block counts cnt[b] of chosen codes that contain block b:
 *   sum_b (c_b ? m - cnt[b] : cnt[b]) = m*k + sum_{b in c} (m - 2 cnt[b]).
 */
function summedHamming(blocks: Int32Array, cnt: Int32Array, m: number, k: number): number {
  let v = m * k;
  for (let i = 0; i < blocks.length; i++) v += m - 2 * cnt[blocks[i]!]!;
  return v;
}

export function makeClassMasks(p: MaskParams): ClassMasks {
  const { K, d, candidates } = validate(p);
  const k = Math.min(K, blocksPerClassFor(K, p.ratio));
  const blockSize = Math.floor(d / K);
  const s = k * blockSize;
  const rng = Rng.derive(p.seed, `cps-masks:${K}:${d}:${k}`);

  const chosenBlocks: Int32Array[] = [];
  const chosenKeys = new Set<string>();
  const cnt = new Int32Array(K);
  const take = (blocks: Int32Array): void => {
    chosenBlocks.push(blocks);
    chosenKeys.add(codeKey(blocks));
    for (let i = 0; i < blocks.length; i++) cnt[blocks[i]!] = cnt[blocks[i]!]! + 1;
  };

  // Class 0: the last k blocks.
  const first = new Int32Array(k);
  for (let i = 0; i < k; i++) first[i] = K - k + i;
  take(first);

  const total = binomialCapped(K, k, candidates);
  const enumerated = total <= candidates ? rng.shuffle(allCodes(K, k)) : null;
  const scratch = new Int32Array(K);

  for (let j = 1; j < K; j++) {
    const m = chosenBlocks.length;
    const pick: { best: Int32Array | null; score: number } = { best: null, score: -1 };
    const consider = (c: Int32Array): void => {
      const score = summedHamming(c, cnt, m, k);
      if (score > pick.score) {
        pick.score = score;
        pick.best = c;
      }
    };
    if (enumerated) {
      for (const c of enumerated) if (!chosenKeys.has(codeKey(c))) consider(c);
      // Every code is taken (only when C(K,k) < K, i.e. r = 1): codes must repeat.
      if (pick.best === null) for (const c of enumerated) consider(c);
    } else {
      // C(K,k) > candidates >= 1 and fewer than K <= C(K,k) codes are chosen, so a fresh code
      // always exists; rejection sampling is bounded defensively all the same.
      let accepted = 0;
      const maxAttempts = candidates * 1000;
      for (let attempt = 0; accepted < candidates && attempt < maxAttempts; attempt++) {
        const c = randomCode(rng, scratch, k);
        if (chosenKeys.has(codeKey(c))) continue;
        accepted++;
        consider(c);
      }
      if (pick.best === null) {
        throw new TinyProtoError('E_MASK', `could not find a fresh code for class ${j}`, { numClasses: K, k });
      }
    }
    if (pick.best === null) throw new TinyProtoError('E_MASK', `no code chosen for class ${j}`);
    take(pick.best);
  }

  const codes: Uint8Array[] = [];
  const masks = new Uint8Array(K * d);
  const indices: Int32Array[] = [];
  for (let j = 0; j < K; j++) {
    const blocks = chosenBlocks[j]!;
    const code = new Uint8Array(K);
    const idx = new Int32Array(s);
    let t = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      code[b] = 1;
      for (let q = 0; q < blockSize; q++) {
        const dim = b * blockSize + q;
        masks[j * d + dim] = 1;
        idx[t++] = dim;
      }
    }
    codes.push(code);
    indices.push(idx); // blocks are sorted, so dims are sorted
  }

  return {
    params: { ...p, candidates },
    blockSize,
    blocksPerClass: k,
    codes,
    masks,
    indices,
    s,
  };
}

/** Scatter s sparse values into a d-dim vector (zeros off the mask). Writes into `out` if given. */
export function expandPrototype(sparse: Float32Array, indices: Int32Array, d: number, out?: Float32Array): Float32Array {
  if (sparse.length !== indices.length) {
    throw new TinyProtoError('E_SHAPE', `sparse prototype has ${sparse.length} values, mask has ${indices.length}`, {
      got: sparse.length,
      expected: indices.length,
    });
  }
  const dense = out ?? new Float32Array(d);
  if (dense.length !== d) {
    throw new TinyProtoError('E_SHAPE', `output buffer has length ${dense.length}, expected ${d}`, {
      got: dense.length,
      expected: d,
    });
  }
  dense.fill(0);
  for (let t = 0; t < indices.length; t++) {
    const dim = indices[t]!;
    if (dim < 0 || dim >= d) {
      throw new TinyProtoError('E_SHAPE', `mask index ${dim} out of range [0, ${d})`, { index: dim, d });
    }
    dense[dim] = sparse[t]!;
  }
  return dense;
}

/** Gather the values of a d-dim vector under a mask (s values, in index order). */
export function restrictToMask(dense: Float32Array, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length);
  for (let t = 0; t < indices.length; t++) {
    const dim = indices[t]!;
    if (dim < 0 || dim >= dense.length) {
      throw new TinyProtoError('E_SHAPE', `mask index ${dim} out of range [0, ${dense.length})`, {
        index: dim,
        d: dense.length,
      });
    }
    out[t] = dense[dim]!;
  }
  return out;
}
