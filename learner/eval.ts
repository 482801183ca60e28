/**
 * Evaluation maths, pure: accuracy by the head (argmax of logits) and by the nearest
 * prototype (smallest MSE between a test feature and each available class prototype, over
 * all d dimensions; for TinyProto the prototypes are expanded with zeros off the mask).
 */
import type { PrototypeEvalRule } from '../method/experiment.ts';
import { squaredDistanceOn } from '../method/prototypes.ts';

/** Number of rows whose argmax logit equals the label. */
export function headCorrect(logits: Float32Array, labels: Int32Array, numClasses: number): number {
  const n = labels.length;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = i * numClasses;
    let best = 0;
    let bestV = -Infinity;
    for (let j = 0; j < numClasses; j++) {
      const v = logits[row + j]!;
      if (v > bestV) {
        bestV = v;
        best = j;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct;
}

/**
 * Number of rows whose nearest prototype (by squared distance, i.e. MSE up to a constant)
 * is the label's. Only classes with `available[j] = 1` are candidates. Returns null when no
 * class has a prototype (nothing to compare with).
 */
export function prototypeCorrect(
  features: Float32Array,
  labels: Int32Array,
  d: number,
  prototypes: Float32Array,
  available: Uint8Array,
): number | null {
  const K = available.length;
  const candidates: number[] = [];
  for (let j = 0; j < K; j++) if (available[j] === 1) candidates.push(j);
  if (candidates.length === 0) return null;
  const n = labels.length;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const f = i * d;
    let best = -1;
    let bestDist = Infinity;
    for (const j of candidates) {
      const p = j * d;
      let dist = 0;
      for (let k = 0; k < d; k++) {
        const diff = features[f + k]! - prototypes[p + k]!;
        dist += diff * diff;
      }
      if (dist < bestDist) {
        bestDist = dist;
        best = j;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct;
}

/**
 * `prototypeCorrect` under an evaluation rule (method/experiment.ts `prototypeEval`): 'full' is
 * `prototypeCorrect` itself; 'masked' measures the squared distance on each class's own support
 * (`support[j]`, its mask's dimensions: every class has the same s, so the distances compare);
 * 'cosine' takes the class of largest cosine similarity over all d (a zero prototype never wins).
 * 'masked' with `support` null (no masks: FedProto, Local) is 'full'. 'spread' is 'masked' (all d
 * without masks) with class j's squared distance divided by `spread[j]`, the client's own mean
 * squared distance of its class-j training features to their mean on the same support
 * (method/prototypes.ts `classSpreads`): a class whose features scatter more is not penalised for
 * it. Without `spread` it is null (not measured).
 */
export function prototypeCorrectBy(
  rule: PrototypeEvalRule,
  features: Float32Array,
  labels: Int32Array,
  d: number,
  prototypes: Float32Array,
  available: Uint8Array,
  support: readonly Int32Array[] | null,
  spread: Float64Array | null = null,
): number | null {
  if (rule === 'spread' && spread === null) return null;
  if (rule === 'full' || (rule === 'masked' && support === null)) return prototypeCorrect(features, labels, d, prototypes, available);
  const K = available.length;
  const candidates: number[] = [];
  for (let j = 0; j < K; j++) if (available[j] === 1) candidates.push(j);
  if (candidates.length === 0) return null;
  const protoNorm = new Float64Array(K);
  for (const j of candidates) {
    let q = 0;
    for (let k = j * d; k < (j + 1) * d; k++) q += prototypes[k]! * prototypes[k]!;
    protoNorm[j] = Math.sqrt(q);
  }
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const f = i * d;
    let best = -1;
    let bestScore = -Infinity;
    for (const j of candidates) {
      const p = j * d;
      let score: number;
      if (rule === 'masked') score = -squaredDistanceOn(features, f, prototypes, p, d, support![j]!);
      else if (rule === 'spread') score = -squaredDistanceOn(features, f, prototypes, p, d, support?.[j] ?? null) / spread![j]!;
      else {
        if (protoNorm[j] === 0) continue;
        let dot = 0;
        for (let k = 0; k < d; k++) dot += features[f + k]! * prototypes[p + k]!;
        // the feature's own norm is the same for every class: dividing by it does not change the choice
        score = dot / protoNorm[j]!;
      }
      if (score > bestScore) {
        bestScore = score;
        best = j;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** One evaluation (of an agent, a client) as its weight and its number of correct predictions. */
export interface ScoredEvaluation {
  /** Test samples evaluated (the weight). */
  readonly count: number;
  /** Correct predictions among them (accuracy * count); null when the value is missing. */
  readonly correct: number | null;
}

/**
 * Test-count-weighted accuracy over evaluations: sum(correct) / sum(count).
 *
 * Missing values: an evaluation whose `correct` is null (it was not made, or had nothing to
 * compare with, as a prototype accuracy before any global prototype) or whose count is not
 * positive carries no weight, so the result is the accuracy of those that have a value; null
 * when none has (nobody evaluated). Callers that want 0 for "nobody" write `?? 0`.
 */
export function weightedAccuracy(evaluations: Iterable<ScoredEvaluation>): number | null {
  let n = 0;
  let c = 0;
  for (const e of evaluations) {
    if (e.correct === null || !(e.count > 0)) continue;
    n += e.count;
    c += e.correct;
  }
  return n > 0 ? c / n : null;
}

/** A recorded accuracy (as in a telemetry record: null when the agent did not evaluate). */
export interface RecordedAccuracy {
  readonly head: number;
  readonly prototype: number | null;
  readonly testCount: number;
}

/** A recorded accuracy's head and prototype values as scored evaluations for weightedAccuracy. */
export function recordedScores(a: RecordedAccuracy | null): { head: ScoredEvaluation; prototype: ScoredEvaluation } {
  const count = a?.testCount ?? 0;
  return {
    head: { count, correct: a ? a.head * count : null },
    prototype: { count, correct: a && a.prototype !== null ? a.prototype * count : null },
  };
}
