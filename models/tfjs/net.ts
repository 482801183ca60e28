/**
 * The TensorFlow.js execution of the model zoo (models/arch/zoo.ts): TfjsArchBuilder implements
 * ArchBuilder by creating each layer (layers.ts) at build time and recording one forward step
 * per operation; `Net.forward` replays the steps on real tensors (inside the caller's tf.tidy /
 * tf.variableGrads), in the order the zoo describes them.
 */
import type { ModelSpec } from '../engine.ts';
import { TinyProtoError } from '../../common/errors.ts';
import { validateSpec } from '../spec.ts';
import type { ArchBuilder, ConvOpts, FeatureMap, FeatureVec } from '../arch/builder.ts';
import { describeNet } from '../arch/zoo.ts';
import { NetBuilder, ParamStore, channelShuffle, channelSplit, globalAvgPool, type FwdCtx, type Layer, type Tensor, type Tensor2D, type Tensor4D, type Tf } from './layers.ts';

/** A recorded 4-D value: its slot in the forward pass and its per-image shape. */
interface TfMap extends FeatureMap {
  readonly id: number;
}

/** A recorded 2-D value. */
interface TfVec extends FeatureVec {
  readonly id: number;
}

/** One forward operation: reads its inputs' slots and fills its output's slot. */
type Step = (slots: Tensor[], ctx: FwdCtx) => void;

export interface Net {
  readonly spec: ModelSpec;
  readonly store: ParamStore;
  readonly paramCount: number;
  readonly flopsPerImage: number;
  /** [B, d] features (backbone + fc) and [B, K] head logits. */
  forward(x: Tensor4D, ctx: FwdCtx): { features: Tensor2D; logits: Tensor2D };
}

class TfjsArchBuilder implements ArchBuilder<TfMap, TfVec> {
  readonly steps: Step[] = [];
  private slots = 0;

  constructor(
    private readonly tf: Tf,
    readonly layers: NetBuilder,
  ) {}

  private map(shape: FeatureMap): TfMap {
    return { id: this.slots++, c: shape.c, h: shape.h, w: shape.w };
  }

  private vec(dim: number): TfVec {
    return { id: this.slots++, dim };
  }

  /** A step that maps 4-D inputs to the 4-D output `y`. */
  private step4(y: TfMap, xs: readonly TfMap[], f: (xs: Tensor4D[], ctx: FwdCtx) => Tensor4D): TfMap {
    this.steps.push((slots, ctx) => {
      slots[y.id] = f(xs.map((x) => slots[x.id] as Tensor4D), ctx);
    });
    return y;
  }

  private layer(x: TfMap, l: Layer): TfMap {
    const [h, w, c] = l.shape;
    return this.step4(this.map({ c, h, w }), [x], ([v], ctx) => l.apply(v!, ctx));
  }

  imageInput(h: number, w: number, c: number): TfMap {
    if (this.slots !== 0) throw new TinyProtoError('E_MODEL', 'imageInput: a net has one image input');
    return this.map({ c, h, w });
  }

  conv(name: string, x: TfMap, opts: ConvOpts): TfMap {
    return this.layer(x, this.layers.conv(name, [x.h, x.w, x.c], opts));
  }

  batchNorm(name: string, x: TfMap): TfMap {
    return this.layer(x, this.layers.batchNorm(name, [x.h, x.w, x.c]));
  }

  dense(name: string, x: TfVec, outDim: number): TfVec {
    const l = this.layers.dense(name, x.dim, outDim);
    const y = this.vec(outDim);
    this.steps.push((slots) => {
      slots[y.id] = l.apply(slots[x.id] as Tensor2D);
    });
    return y;
  }

  relu(x: TfMap): TfMap {
    return this.step4(this.map(x), [x], ([v]) => this.tf.relu(v!));
  }

  relu6(x: TfMap): TfMap {
    return this.step4(this.map(x), [x], ([v]) => this.tf.relu6(v!));
  }

  add(a: TfMap, b: TfMap): TfMap {
    if (a.c !== b.c || a.h !== b.h || a.w !== b.w) throw new TinyProtoError('E_SHAPE', `add: [${a.c},${a.h},${a.w}] vs [${b.c},${b.h},${b.w}]`);
    return this.step4(this.map(a), [a, b], ([u, v]) => this.tf.add(u!, v!) as Tensor4D);
  }

  concat(a: TfMap, b: TfMap): TfMap {
    return this.step4(this.map({ c: a.c + b.c, h: a.h, w: a.w }), [a, b], ([u, v]) => this.tf.concat([u!, v!], 3));
  }

  split(x: TfMap, at: number): [TfMap, TfMap] {
    const first = this.map({ ...x, c: at });
    const rest = this.map({ ...x, c: x.c - at });
    this.steps.push((slots) => {
      [slots[first.id], slots[rest.id]] = channelSplit(this.tf, slots[x.id] as Tensor4D, at);
    });
    return [first, rest];
  }

  channelShuffle(x: TfMap, groups: number): TfMap {
    return this.step4(this.map(x), [x], ([v]) => channelShuffle(this.tf, v!, groups));
  }

  globalAvgPool(x: TfMap): TfVec {
    const y = this.vec(x.c);
    this.steps.push((slots) => {
      slots[y.id] = globalAvgPool(this.tf, slots[x.id] as Tensor4D);
    });
    return y;
  }
}

/** Build a model's variables (deterministic for spec.seed) and its forward pass. */
export function buildNet(tf: Tf, spec: ModelSpec): Net {
  validateSpec(spec);
  const store = new ParamStore(tf, spec.seed, spec.family);
  try {
    const b = new TfjsArchBuilder(tf, new NetBuilder(tf, store));
    const { features, logits } = describeNet(b, spec);
    const steps = b.steps;
    return {
      spec,
      store,
      paramCount: store.trainableCount(),
      flopsPerImage: b.layers.flops,
      forward: (x, ctx) => {
        const slots: Tensor[] = [x];
        for (const s of steps) s(slots, ctx);
        return { features: slots[features.id] as Tensor2D, logits: slots[logits.id] as Tensor2D };
      },
    };
  } catch (e) {
    store.dispose();
    throw e;
  }
}
