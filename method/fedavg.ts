/**
 * FedAvg (McMahan et al., 2017), the weight-averaging baseline, pure: the server's new model is
 * the average of the clients' model states weighted by their training-set sizes, tensor by
 * tensor (batch-norm running statistics included), accumulated in float64. Every client must
 * hold the same architecture: the same tensor names and shapes.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';

/** Weighted mean of `states` (weights: training samples, > 0 in total). */
export function averageStates(states: readonly ModelState[], weights: readonly number[]): ModelState {
  const first = states[0];
  if (first === undefined) throw new TinyProtoError('E_CONFIG', 'fedavg: no client states to average');
  if (weights.length !== states.length) throw new TinyProtoError('E_CONFIG', `fedavg: ${weights.length} weights for ${states.length} states`);
  if (weights.some((w) => !(w >= 0) || !Number.isFinite(w))) throw new TinyProtoError('E_CONFIG', 'fedavg: weights must be finite and >= 0');
  const total = weights.reduce((a, w) => a + w, 0);
  if (!(total > 0)) throw new TinyProtoError('E_CONFIG', 'fedavg: the weights sum to 0');
  const names = Object.keys(first).sort();
  for (const [i, st] of states.entries()) {
    if (Object.keys(st).length !== names.length) throw new TinyProtoError('E_SHAPE', `fedavg: client ${i} has ${Object.keys(st).length} tensors, client 0 has ${names.length}`);
  }
  const out: ModelState = {};
  for (const name of names) {
    const t0 = first[name]!;
    const acc = new Float64Array(t0.data.length);
    states.forEach((st, i) => {
      const t = st[name];
      if (t === undefined || t.data.length !== acc.length || t.shape.join('x') !== t0.shape.join('x')) {
        throw new TinyProtoError('E_SHAPE', `fedavg: client ${i}'s tensor ${name} does not match client 0's [${t0.shape.join(',')}] (FedAvg needs one architecture)`);
      }
      const w = weights[i]! / total;
      if (w === 0) return;
      for (let k = 0; k < acc.length; k++) acc[k]! += w * t.data[k]!;
    });
    out[name] = { shape: [...t0.shape], data: Float32Array.from(acc) };
  }
  return out;
}

/** float32 bytes of a model state: what one FedAvg upload or download carries (payload only). */
export function stateBytes(state: ModelState): number {
  let n = 0;
  for (const t of Object.values(state)) n += t.data.length * 4;
  return n;
}
