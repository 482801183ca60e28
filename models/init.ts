/**
 * Weight initialisation shared by both engines, so that the same seed gives the same model in
 * TensorFlow.js and ONNX Runtime. Each parameter draws from its own stream
 * Rng.derive(seed, `init:${name}`), independent of creation order.
 */
import { Rng } from '../common/rng.ts';

export type Init =
  /** He-normal with fan_out (as torchvision initialises ResNet/MobileNet/ShuffleNet convs). */
  | { readonly kind: 'he'; readonly fanOut: number }
  /** U(-bound, bound) (PyTorch nn.Linear: bound = 1/sqrt(in)). */
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'const'; readonly value: number };

export function initValues(seed: number, name: string, size: number, init: Init): Float32Array {
  const out = new Float32Array(size);
  if (init.kind === 'const') return out.fill(init.value);
  const rng = Rng.derive(seed, `init:${name}`);
  if (init.kind === 'he') {
    const std = Math.sqrt(2 / init.fanOut);
    for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
  } else {
    for (let i = 0; i < size; i++) out[i] = (rng.next() * 2 - 1) * init.bound;
  }
  return out;
}
