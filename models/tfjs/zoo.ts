/**
 * The model zoo: small-image versions of the paper's heterogeneous families, built from
 * layers.ts. Every model is backbone -> GAP -> Linear(pooled channels -> d) ("fc", no
 * activation: the feature / prototype space) -> Linear(d -> K) ("head").
 *
 * All families accept any [h, w, c] input large enough for their strides (8x8 works; 28x28x1 and
 * 32x32x3 are the real cases). Architectures (FLOPs at 28x28x1 with d = 500, K = 10, see
 * test/helpers/engine-contract.ts and benchmarks/train_torch.py --check):
 * - resnet8: conv3x3 16 + BN + ReLU; BasicBlocks 16, 32/s2, 64/s2 (1x1 conv + BN projection
 *   shortcut when the shape changes); GAP; fc 64 -> d.
 * - mobilenetv2: stem conv3x3/s1 16; inverted residuals (t, c, n, s) = (1,8,1,1) (4,16,2,2)
 *   (4,24,2,2) (4,32,1,1) with ReLU6, no expansion conv when t = 1, residual when s = 1 and
 *   cin = cout; 1x1 conv 128 + BN + ReLU6; GAP; fc 128 -> d.
 * - shufflenetv2: stem conv3x3/s1 24 (no max-pool); stages of 48, 96, 192 channels with 2, 2, 1
 *   units (first unit of each stage downsamples with both branches); 1x1 conv 256 + BN + ReLU;
 *   GAP; fc 256 -> d.
 * - efficientnet-lite: stem conv3x3/s1 16; MBConv without squeeze-excitation, ReLU6:
 *   (t, c, n, s, k) = (1,8,1,1,3) (4,16,2,2,3) (4,24,2,2,5) (4,40,1,1,3); 1x1 conv 128 + BN + ReLU6;
 *   GAP; fc 128 -> d.
 */
import type { Family, ModelSpec } from '../engine.ts';
import { TinyProtoError } from '../../common/errors.ts';
import { validateSpec } from '../spec.ts';
import {
  NetBuilder,
  ParamStore,
  channelShuffle,
  channelSplit,
  globalAvgPool,
  type FwdCtx,
  type Layer,
  type Layer2D,
  type Shape3,
  type Tensor2D,
  type Tensor4D,
  type Tf,
} from './layers.ts';

export interface Net {
  readonly spec: ModelSpec;
  readonly store: ParamStore;
  readonly paramCount: number;
  readonly flopsPerImage: number;
  readonly flopsByLayer: readonly { name: string; flops: number }[];
  /** Backbone + fc: [B, d] features. */
  features(x: Tensor4D, ctx: FwdCtx): Tensor2D;
  /** Linear head d -> K. */
  readonly head: Layer2D;
}

type Act = 'relu' | 'relu6' | 'none';

function activate(tf: Tf, x: Tensor4D, act: Act): Tensor4D {
  if (act === 'relu') return tf.relu(x);
  if (act === 'relu6') return tf.relu6(x);
  return x;
}

/** conv (no bias) + BN + activation, named `${name}.conv` / `${name}.bn`. */
function convBn(b: NetBuilder, name: string, inShape: Shape3, opts: { filters: number; kernel: number; stride?: number }, act: Act): Layer {
  const conv = b.conv2d(`${name}.conv`, inShape, opts);
  const bn = b.batchNorm(`${name}.bn`, conv.shape);
  const tf = b.tf;
  return { shape: bn.shape, apply: (x, ctx) => activate(tf, bn.apply(conv.apply(x, ctx), ctx), act) };
}

/** depthwise conv + BN + activation. */
function dwBn(b: NetBuilder, name: string, inShape: Shape3, opts: { kernel: number; stride?: number }, act: Act): Layer {
  const conv = b.depthwise(`${name}.conv`, inShape, opts);
  const bn = b.batchNorm(`${name}.bn`, conv.shape);
  const tf = b.tf;
  return { shape: bn.shape, apply: (x, ctx) => activate(tf, bn.apply(conv.apply(x, ctx), ctx), act) };
}

function sequential(inShape: Shape3, layers: Layer[]): Layer {
  const last = layers[layers.length - 1];
  return {
    shape: last === undefined ? inShape : last.shape,
    apply: (x, ctx) => {
      let y = x;
      for (const l of layers) y = l.apply(y, ctx);
      return y;
    },
  };
}

// ---- ResNet-8 ---------------------------------------------------------------------------

function basicBlock(b: NetBuilder, name: string, inShape: Shape3, planes: number, stride: number): Layer {
  const tf = b.tf;
  const c1 = convBn(b, `${name}.1`, inShape, { filters: planes, kernel: 3, stride }, 'relu');
  const c2 = convBn(b, `${name}.2`, c1.shape, { filters: planes, kernel: 3 }, 'none');
  const needProj = stride !== 1 || inShape[2] !== planes;
  const sc = needProj ? convBn(b, `${name}.shortcut`, inShape, { filters: planes, kernel: 1, stride }, 'none') : null;
  return {
    shape: c2.shape,
    apply: (x, ctx) => {
      const o = c2.apply(c1.apply(x, ctx), ctx);
      const s = sc === null ? x : sc.apply(x, ctx);
      return tf.relu(tf.add(o, s) as Tensor4D);
    },
  };
}

function resnet8(b: NetBuilder, input: Shape3): Layer {
  const stem = convBn(b, 'stem', input, { filters: 16, kernel: 3 }, 'relu');
  const l1 = basicBlock(b, 'layer1', stem.shape, 16, 1);
  const l2 = basicBlock(b, 'layer2', l1.shape, 32, 2);
  const l3 = basicBlock(b, 'layer3', l2.shape, 64, 2);
  return sequential(input, [stem, l1, l2, l3]);
}

// ---- MobileNetV2 / EfficientNet-lite (inverted residual, MBConv without SE) ----------------

function invertedResidual(b: NetBuilder, name: string, inShape: Shape3, expand: number, out: number, stride: number, kernel: number): Layer {
  const tf = b.tf;
  const cin = inShape[2];
  const hidden = cin * expand;
  const parts: Layer[] = [];
  let s = inShape;
  if (expand !== 1) {
    const e = convBn(b, `${name}.expand`, s, { filters: hidden, kernel: 1 }, 'relu6');
    parts.push(e);
    s = e.shape;
  }
  const dw = dwBn(b, `${name}.dw`, s, { kernel, stride }, 'relu6');
  parts.push(dw);
  const pj = convBn(b, `${name}.project`, dw.shape, { filters: out, kernel: 1 }, 'none');
  parts.push(pj);
  const body = sequential(inShape, parts);
  const residual = stride === 1 && cin === out;
  return { shape: body.shape, apply: (x, ctx) => (residual ? (tf.add(x, body.apply(x, ctx)) as Tensor4D) : body.apply(x, ctx)) };
}

/** (t, c, n, s, k) rows. */
type MbConfig = readonly (readonly [number, number, number, number, number])[];

const MOBILENETV2_CFG: MbConfig = [
  [1, 8, 1, 1, 3],
  [4, 16, 2, 2, 3],
  [4, 24, 2, 2, 3],
  [4, 32, 1, 1, 3],
];

const EFFICIENTNET_LITE_CFG: MbConfig = [
  [1, 8, 1, 1, 3],
  [4, 16, 2, 2, 3],
  [4, 24, 2, 2, 5],
  [4, 40, 1, 1, 3],
];

function mbNet(b: NetBuilder, input: Shape3, stemCh: number, cfg: MbConfig, lastCh: number): Layer {
  const layers: Layer[] = [];
  const stem = convBn(b, 'stem', input, { filters: stemCh, kernel: 3 }, 'relu6');
  layers.push(stem);
  let s = stem.shape;
  let i = 0;
  for (const [t, c, n, stride, k] of cfg) {
    for (let r = 0; r < n; r++) {
      const blk = invertedResidual(b, `blocks.${i}`, s, t, c, r === 0 ? stride : 1, k);
      layers.push(blk);
      s = blk.shape;
      i++;
    }
  }
  const last = convBn(b, 'last', s, { filters: lastCh, kernel: 1 }, 'relu6');
  layers.push(last);
  return sequential(input, layers);
}

// ---- ShuffleNetV2 -----------------------------------------------------------------------

function shuffleUnit(b: NetBuilder, name: string, inShape: Shape3, out: number, stride: number): Layer {
  const tf = b.tf;
  const cin = inShape[2];
  const half = out / 2;
  if (!Number.isInteger(half)) throw new TinyProtoError('E_MODEL', `${name}: odd channel count ${out}`);
  if (stride === 1) {
    if (cin !== out) throw new TinyProtoError('E_MODEL', `${name}: stride-1 unit needs cin = cout`);
    const br2 = sequential(
      [inShape[0], inShape[1], half],
      (() => {
        const a = convBn(b, `${name}.branch2.0`, [inShape[0], inShape[1], half], { filters: half, kernel: 1 }, 'relu');
        const d = dwBn(b, `${name}.branch2.1`, a.shape, { kernel: 3 }, 'none');
        const c = convBn(b, `${name}.branch2.2`, d.shape, { filters: half, kernel: 1 }, 'relu');
        return [a, d, c];
      })(),
    );
    return {
      shape: [inShape[0], inShape[1], out],
      apply: (x, ctx) => {
        const [x1, x2] = channelSplit(tf, x, cin / 2);
        return channelShuffle(tf, tf.concat([x1, br2.apply(x2, ctx)], 3), 2);
      },
    };
  }
  const d1 = dwBn(b, `${name}.branch1.0`, inShape, { kernel: 3, stride }, 'none');
  const c1 = convBn(b, `${name}.branch1.1`, d1.shape, { filters: half, kernel: 1 }, 'relu');
  const br1 = sequential(inShape, [d1, c1]);
  const a = convBn(b, `${name}.branch2.0`, inShape, { filters: half, kernel: 1 }, 'relu');
  const d = dwBn(b, `${name}.branch2.1`, a.shape, { kernel: 3, stride }, 'none');
  const c = convBn(b, `${name}.branch2.2`, d.shape, { filters: half, kernel: 1 }, 'relu');
  const br2 = sequential(inShape, [a, d, c]);
  return {
    shape: [br1.shape[0], br1.shape[1], out],
    apply: (x, ctx) => channelShuffle(tf, tf.concat([br1.apply(x, ctx), br2.apply(x, ctx)], 3), 2),
  };
}

const SHUFFLE_STAGES: readonly (readonly [number, number])[] = [
  [48, 2],
  [96, 2],
  [192, 1],
];

function shufflenetv2(b: NetBuilder, input: Shape3): Layer {
  const layers: Layer[] = [];
  const stem = convBn(b, 'stem', input, { filters: 24, kernel: 3 }, 'relu');
  layers.push(stem);
  let s = stem.shape;
  SHUFFLE_STAGES.forEach(([ch, repeats], si) => {
    for (let r = 0; r < repeats; r++) {
      const u = shuffleUnit(b, `stage${si + 2}.${r}`, s, ch, r === 0 ? 2 : 1);
      layers.push(u);
      s = u.shape;
    }
  });
  const last = convBn(b, 'last', s, { filters: 256, kernel: 1 }, 'relu');
  layers.push(last);
  return sequential(input, layers);
}

// ---- assembly -----------------------------------------------------------------------------

function backbone(family: Family, b: NetBuilder, input: Shape3): Layer {
  switch (family) {
    case 'resnet8':
      return resnet8(b, input);
    case 'mobilenetv2':
      return mbNet(b, input, 16, MOBILENETV2_CFG, 128);
    case 'shufflenetv2':
      return shufflenetv2(b, input);
    case 'efficientnet-lite':
      return mbNet(b, input, 16, EFFICIENTNET_LITE_CFG, 128);
    default: {
      const never: never = family;
      throw new TinyProtoError('E_MODEL', `unknown model family ${String(never)}`);
    }
  }
}

/** Build a model's variables (deterministic for spec.seed) and its forward functions. */
export function buildNet(tf: Tf, spec: ModelSpec): Net {
  validateSpec(spec);
  const store = new ParamStore(tf, spec.seed, spec.family);
  try {
    const b = new NetBuilder(tf, store);
    const body = backbone(spec.family, b, spec.inputShape);
    const fc = b.dense('fc', body.shape[2], spec.featureDim);
    const head = b.dense('head', spec.featureDim, spec.numClasses);
    return {
      spec,
      store,
      paramCount: store.trainableCount(),
      flopsPerImage: b.flops,
      flopsByLayer: b.flopsByLayer,
      features: (x, ctx) => fc.apply(globalAvgPool(tf, body.apply(x, ctx))),
      head,
    };
  } catch (e) {
    store.dispose();
    throw e;
  }
}
