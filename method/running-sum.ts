/**
 * Per-class running sums of uploads, in float64: the aggregation state of one round. An upload
 * is added once (when it is accepted) and the round's result is read in O(K * len), independent
 * of how many uploads were added. Both aggregations are sums: TinyProto P_j = mu * sum_i u_ij,
 * FedProto P_j = sum_i p_ij / n_j. Sums of two RunningSums compose exactly (mergeFrom).
 */
import { TinyProtoError } from '../common/errors.ts';

/** One upload: class id -> values, as a Map or as decoded {classId, values} entries. */
export type UploadEntries = ReadonlyMap<number, Float32Array> | ReadonlyArray<{ readonly classId: number; readonly values: Float32Array }>;

export interface AggregateResult {
  /** Global prototype per class that at least one client uploaded. */
  prototypes: Map<number, Float32Array>;
  /** Per class: number of clients that uploaded it. */
  contributors: Int32Array;
}

export class RunningSums {
  /** K * len sums, class-major. */
  readonly sums: Float64Array;
  readonly contributors: Int32Array;
  /** Uploads added. */
  count = 0;

  constructor(
    readonly K: number,
    readonly len: number,
  ) {
    if (!Number.isInteger(K) || K < 1 || !Number.isInteger(len) || len < 1) {
      throw new TinyProtoError('E_CONFIG', `running sums need K >= 1 and len >= 1, got K = ${K}, len = ${len}`, { K, len });
    }
    this.sums = new Float64Array(K * len);
    this.contributors = new Int32Array(K);
  }

  /**
   * Adds one upload after checking all of it (class ids in [0, K), len values each, finite), so a
   * bad upload changes nothing. `client` names it in error messages.
   */
  add(upload: UploadEntries, client: number | string = this.count): void {
    const K = this.K;
    const len = this.len;
    const list: [number, Float32Array][] = upload instanceof Map ? [...upload] : (upload as ReadonlyArray<{ classId: number; values: Float32Array }>).map((p) => [p.classId, p.values]);
    for (let n = 0; n < list.length; n++) {
      const [j, v] = list[n]!;
      if (!Number.isInteger(j) || j < 0 || j >= K) {
        throw new TinyProtoError('E_SHAPE', `upload ${client} has class id ${j}, expected an integer in [0, ${K})`, { client, classId: j, K });
      }
      if (v.length !== len) {
        throw new TinyProtoError('E_SHAPE', `upload ${client} class ${j} has ${v.length} values, expected ${len}`, { client, classId: j, got: v.length, expected: len });
      }
      for (let t = 0; t < len; t++) {
        const x = v[t]!;
        if (x - x !== 0) {
          throw new TinyProtoError('E_NON_FINITE', `upload ${client} class ${j} has a non-finite value at ${t}`, { client, classId: j, index: t });
        }
      }
    }
    const sums = this.sums;
    for (let n = 0; n < list.length; n++) {
      const [j, v] = list[n]!;
      const base = j * len;
      for (let t = 0; t < len; t++) sums[base + t] = sums[base + t]! + v[t]!;
      this.contributors[j] = this.contributors[j]! + 1;
    }
    this.count++;
  }

  /** Adds another shard's sums (same K and len): partial sums compose exactly. */
  mergeFrom(other: RunningSums): void {
    if (other.K !== this.K || other.len !== this.len) {
      throw new TinyProtoError('E_SHAPE', `cannot merge running sums of K = ${other.K}, len = ${other.len} into K = ${this.K}, len = ${this.len}`);
    }
    for (let i = 0; i < this.sums.length; i++) this.sums[i] = this.sums[i]! + other.sums[i]!;
    for (let j = 0; j < this.K; j++) this.contributors[j] = this.contributors[j]! + other.contributors[j]!;
    this.count += other.count;
  }

  /**
   * Another process's sums (a relay's PARTIAL: its float64 sums per class with its contributor
   * count, and how many uploads it summed), checked: class ids in [0, K), len sums each, finite,
   * 1 <= contributors <= count. Merging them with mergeFrom is adding those uploads here.
   */
  static fromParts(K: number, len: number, count: number, classes: ReadonlyArray<{ readonly classId: number; readonly contributors: number; readonly sums: Float64Array }>): RunningSums {
    const out = new RunningSums(K, len);
    if (!Number.isInteger(count) || count < 1) throw new TinyProtoError('E_SHAPE', `partial sums need at least one upload, got ${count}`, { count });
    for (const c of classes) {
      const j = c.classId;
      if (!Number.isInteger(j) || j < 0 || j >= K) throw new TinyProtoError('E_SHAPE', `partial sums have class id ${j}, expected an integer in [0, ${K})`, { classId: j, K });
      if (c.sums.length !== len) throw new TinyProtoError('E_SHAPE', `partial sums of class ${j} have ${c.sums.length} values, expected ${len}`, { classId: j });
      if (!Number.isInteger(c.contributors) || c.contributors < 1 || c.contributors > count) {
        throw new TinyProtoError('E_SHAPE', `partial sums of class ${j} have ${c.contributors} contributors, expected 1..${count}`, { classId: j });
      }
      if (out.contributors[j] !== 0) throw new TinyProtoError('E_SHAPE', `partial sums have class ${j} twice`, { classId: j });
      for (let t = 0; t < len; t++) {
        const x = c.sums[t]!;
        if (x - x !== 0) throw new TinyProtoError('E_NON_FINITE', `partial sums of class ${j} have a non-finite value at ${t}`, { classId: j, index: t });
        out.sums[j * len + t] = x;
      }
      out.contributors[j] = c.contributors;
    }
    out.count = count;
    return out;
  }

  /** The classes with contributors: what a PARTIAL carries (sums copied). */
  parts(): { classId: number; contributors: number; sums: Float64Array }[] {
    const out = [];
    for (let j = 0; j < this.K; j++) {
      if (this.contributors[j] === 0) continue;
      out.push({ classId: j, contributors: this.contributors[j]!, sums: this.sums.slice(j * this.len, (j + 1) * this.len) });
    }
    return out;
  }

  /** Per class with contributors: sum * scaleFor(j), as float32 (E_NON_FINITE on overflow). */
  finish(scaleFor: (j: number) => number): AggregateResult {
    const out = new Map<number, Float32Array>();
    const len = this.len;
    for (let j = 0; j < this.K; j++) {
      if (this.contributors[j] === 0) continue;
      const scale = scaleFor(j);
      const v = new Float32Array(len);
      for (let t = 0; t < len; t++) {
        v[t] = this.sums[j * len + t]! * scale;
        if (!Number.isFinite(v[t]!)) {
          throw new TinyProtoError('E_NON_FINITE', `global prototype of class ${j} overflows at ${t}`, { classId: j, index: t });
        }
      }
      out.set(j, v);
    }
    return { prototypes: out, contributors: this.contributors.slice() };
  }

  /** TinyProto: mu * sum. */
  scaled(mu: number): AggregateResult {
    return this.finish(() => mu);
  }

  /** FedProto: the unweighted mean over the contributors of each class. */
  mean(): AggregateResult {
    return this.finish((j) => 1 / this.contributors[j]!);
  }
}
