/**
 * Seeded pseudo-random numbers (SplitMix32 state, Mulberry32 output): fast,
 * reproducible across platforms, and forkable so that independent streams
 * (partition, masks, per-client shuffles) never depend on call order.
 */
import { TinyProtoError } from './errors.ts';

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed >>> 0) ^ 0x9e3779b9;
    // warm up so that nearby seeds diverge
    for (let i = 0; i < 4; i++) this.nextUint32();
  }

  /** A child stream derived from this seed and a label; does not advance this stream. */
  static derive(seed: number, label: string): Rng {
    let h = (seed >>> 0) ^ 0x811c9dc5;
    for (let i = 0; i < label.length; i++) {
      h ^= label.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return new Rng(h);
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia-Tsang; shape < 1 via the boost u^(1/shape). */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new TinyProtoError('E_ARGUMENT', `gamma shape must be > 0, got ${shape}`);
    if (shape < 1) {
      let u = 0;
      while (u === 0) u = this.next();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** A Dirichlet(alpha, ..., alpha) sample of length k. */
  dirichlet(alpha: number, k: number): Float64Array {
    const out = new Float64Array(k);
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const g = this.gamma(alpha);
      out[i] = g;
      sum += g;
    }
    if (sum === 0) {
      // all gammas underflowed (tiny alpha): put the mass on one random component
      out[this.int(k)] = 1;
      return out;
    }
    for (let i = 0; i < k; i++) out[i] = out[i]! / sum;
    return out;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}
