/**
 * The model zoo, written once against ArchBuilder (builder.ts) and executed by each engine:
 * small-image versions of the paper's heterogeneous families. Every model is
 * backbone -> GAP -> Linear(pooled channels -> d) ("fc", no activation: the feature /
 * prototype space) -> Linear(d -> K) ("head").
 *
 * All families accept any [h, w, c] input large enough for their strides (8x8 works; 28x28x1 and
 * 32x32x3 are the real cases). Architectures (FLOPs at 28x28x1 with d = 500, K = 10, see
 * test/helpers/engine-contract.ts and benchmarks/train_torch.py --check, which rebuilds them in
 * PyTorch):
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
import type { ArchBuilder, FeatureMap, FeatureVec } from './builder.ts';

/** The backbones use no 2-D values. */
type B<V extends FeatureMap> = ArchBuilder<V, FeatureVec>;
type Act = 'relu' | 'relu6' | 'none';

function activate<V extends FeatureMap>(b: B<V>, x: V, act: Act): V {
  if (act === 'relu') return b.relu(x);
  if (act === 'relu6') return b.relu6(x);
  return x;
}

/** conv (no bias) + BN + activation, named `${name}.conv` / `${name}.bn`. */
function convBn<V extends FeatureMap>(b: B<V>, name: string, x: V, opts: { filters: number; kernel: number; stride?: number }, act: Act): V {
  return activate(b, b.batchNorm(`${name}.bn`, b.conv(`${name}.conv`, x, opts)), act);
}

/** depthwise conv + BN + activation. */
function dwBn<V extends FeatureMap>(b: B<V>, name: string, x: V, opts: { kernel: number; stride?: number }, act: Act): V {
  return activate(b, b.batchNorm(`${name}.bn`, b.conv(`${name}.conv`, x, { ...opts, filters: x.c, depthwise: true })), act);
}

// ---- ResNet-8 ---------------------------------------------------------------------------

function basicBlock<V extends FeatureMap>(b: B<V>, name: string, x: V, planes: number, stride: number): V {
  const o = convBn(b, `${name}.2`, convBn(b, `${name}.1`, x, { filters: planes, kernel: 3, stride }, 'relu'), { filters: planes, kernel: 3 }, 'none');
  const needProj = stride !== 1 || x.c !== planes;
  const s = needProj ? convBn(b, `${name}.shortcut`, x, { filters: planes, kernel: 1, stride }, 'none') : x;
  return b.relu(b.add(o, s));
}

function resnet8<V extends FeatureMap>(b: B<V>, x: V): V {
  let y = convBn(b, 'stem', x, { filters: 16, kernel: 3 }, 'relu');
  y = basicBlock(b, 'layer1', y, 16, 1);
  y = basicBlock(b, 'layer2', y, 32, 2);
  return basicBlock(b, 'layer3', y, 64, 2);
}

// ---- MobileNetV2 / EfficientNet-lite (inverted residual, MBConv without SE) ----------------

function invertedResidual<V extends FeatureMap>(b: B<V>, name: string, x: V, expand: number, out: number, stride: number, kernel: number): V {
  let y = x;
  if (expand !== 1) y = convBn(b, `${name}.expand`, y, { filters: x.c * expand, kernel: 1 }, 'relu6');
  y = dwBn(b, `${name}.dw`, y, { kernel, stride }, 'relu6');
  y = convBn(b, `${name}.project`, y, { filters: out, kernel: 1 }, 'none');
  return stride === 1 && x.c === out ? b.add(x, y) : y;
}

/** (t, c, n, s, k) rows: expansion, output channels, repeats, first stride, kernel. */
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

function mbNet<V extends FeatureMap>(b: B<V>, x: V, stemCh: number, cfg: MbConfig, lastCh: number): V {
  let y = convBn(b, 'stem', x, { filters: stemCh, kernel: 3 }, 'relu6');
  let i = 0;
  for (const [t, c, n, stride, k] of cfg) {
    for (let r = 0; r < n; r++) y = invertedResidual(b, `blocks.${i++}`, y, t, c, r === 0 ? stride : 1, k);
  }
  return convBn(b, 'last', y, { filters: lastCh, kernel: 1 }, 'relu6');
}

// ---- ShuffleNetV2 -----------------------------------------------------------------------

function shuffleUnit<V extends FeatureMap>(b: B<V>, name: string, x: V, out: number, stride: number): V {
  const half = out / 2;
  if (!Number.isInteger(half)) throw new TinyProtoError('E_MODEL', `${name}: odd channel count ${out}`);
  const branch2 = (v: V): V => {
    const a = convBn(b, `${name}.branch2.0`, v, { filters: half, kernel: 1 }, 'relu');
    const d = dwBn(b, `${name}.branch2.1`, a, { kernel: 3, stride }, 'none');
    return convBn(b, `${name}.branch2.2`, d, { filters: half, kernel: 1 }, 'relu');
  };
  if (stride === 1) {
    if (x.c !== out) throw new TinyProtoError('E_MODEL', `${name}: stride-1 unit needs cin = cout`);
    const [x1, x2] = b.split(x, x.c / 2);
    return b.channelShuffle(b.concat(x1, branch2(x2)), 2);
  }
  const br1 = convBn(b, `${name}.branch1.1`, dwBn(b, `${name}.branch1.0`, x, { kernel: 3, stride }, 'none'), { filters: half, kernel: 1 }, 'relu');
  return b.channelShuffle(b.concat(br1, branch2(x)), 2);
}

/** (channels, units) per stage. */
const SHUFFLE_STAGES: readonly (readonly [number, number])[] = [
  [48, 2],
  [96, 2],
  [192, 1],
];

function shufflenetv2<V extends FeatureMap>(b: B<V>, x: V): V {
  let y = convBn(b, 'stem', x, { filters: 24, kernel: 3 }, 'relu');
  SHUFFLE_STAGES.forEach(([ch, repeats], si) => {
    for (let r = 0; r < repeats; r++) y = shuffleUnit(b, `stage${si + 2}.${r}`, y, ch, r === 0 ? 2 : 1);
  });
  return convBn(b, 'last', y, { filters: 256, kernel: 1 }, 'relu');
}

// ---- assembly -----------------------------------------------------------------------------

function backbone<V extends FeatureMap>(family: Family, b: B<V>, x: V): V {
  switch (family) {
    case 'resnet8':
      return resnet8(b, x);
    case 'mobilenetv2':
      return mbNet(b, x, 16, MOBILENETV2_CFG, 128);
    case 'shufflenetv2':
      return shufflenetv2(b, x);
    case 'efficientnet-lite':
      return mbNet(b, x, 16, EFFICIENTNET_LITE_CFG, 128);
    default: {
      const never: never = family;
      throw new TinyProtoError('E_MODEL', `unknown model family ${String(never)}`);
    }
  }
}

export interface NetOutputs<U> {
  /** [N, d] features (the prototype space). */
  readonly features: U;
  /** [N, K] head logits. */
  readonly logits: U;
}

/** Describe a model's forward pass to `b`: image input, backbone, GAP, fc, head. */
export function describeNet<V extends FeatureMap, U extends FeatureVec>(b: ArchBuilder<V, U>, spec: ModelSpec): NetOutputs<U> {
  validateSpec(spec);
  const [h, w, c] = spec.inputShape;
  const x = b.imageInput(h, w, c);
  const body = backbone(spec.family, b, x);
  const features = b.dense('fc', b.globalAvgPool(body), spec.featureDim);
  const logits = b.dense('head', features, spec.numClasses);
  return { features, logits };
}
