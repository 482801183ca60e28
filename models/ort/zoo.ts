/**
 * The model zoo for the ONNX Runtime engine: the same four families, layer for layer and name
 * for name, as models/tfjs/zoo.ts (read that file's header for the architectures). The tests
 * check that both zoos give the same state names, shapes, FLOPs and gradients.
 */
import type { Family, ModelSpec } from '../engine.ts';
import { TinyProtoError } from '../../common/errors.ts';
import { validateSpec } from '../spec.ts';
import type { OrtNetBuilder, V2, V4 } from './net.ts';

type Act = 'relu' | 'relu6' | 'none';

function activate(b: OrtNetBuilder, x: V4, act: Act): V4 {
  if (act === 'relu') return b.relu(x);
  if (act === 'relu6') return b.relu6(x);
  return x;
}

function convBn(b: OrtNetBuilder, name: string, x: V4, opts: { filters: number; kernel: number; stride?: number }, act: Act): V4 {
  return activate(b, b.batchNorm(`${name}.bn`, b.conv(`${name}.conv`, x, opts)), act);
}

function dwBn(b: OrtNetBuilder, name: string, x: V4, opts: { kernel: number; stride?: number }, act: Act): V4 {
  return activate(b, b.batchNorm(`${name}.bn`, b.conv(`${name}.conv`, x, { ...opts, filters: x.c, depthwise: true })), act);
}

// ---- ResNet-8 ---------------------------------------------------------------------------

function basicBlock(b: OrtNetBuilder, name: string, x: V4, planes: number, stride: number): V4 {
  const o = convBn(b, `${name}.2`, convBn(b, `${name}.1`, x, { filters: planes, kernel: 3, stride }, 'relu'), { filters: planes, kernel: 3 }, 'none');
  const needProj = stride !== 1 || x.c !== planes;
  const s = needProj ? convBn(b, `${name}.shortcut`, x, { filters: planes, kernel: 1, stride }, 'none') : x;
  return b.relu(b.add(o, s));
}

function resnet8(b: OrtNetBuilder, x: V4): V4 {
  let y = convBn(b, 'stem', x, { filters: 16, kernel: 3 }, 'relu');
  y = basicBlock(b, 'layer1', y, 16, 1);
  y = basicBlock(b, 'layer2', y, 32, 2);
  return basicBlock(b, 'layer3', y, 64, 2);
}

// ---- MobileNetV2 / EfficientNet-lite ----------------------------------------------------

function invertedResidual(b: OrtNetBuilder, name: string, x: V4, expand: number, out: number, stride: number, kernel: number): V4 {
  let y = x;
  if (expand !== 1) y = convBn(b, `${name}.expand`, y, { filters: x.c * expand, kernel: 1 }, 'relu6');
  y = dwBn(b, `${name}.dw`, y, { kernel, stride }, 'relu6');
  y = convBn(b, `${name}.project`, y, { filters: out, kernel: 1 }, 'none');
  return stride === 1 && x.c === out ? b.add(x, y) : y;
}

type MbConfig = readonly (readonly [number, number, number, number, number])[];

/** (t, c, n, s, k) rows, as models/tfjs/zoo.ts. */
export const MOBILENETV2_CFG: MbConfig = [
  [1, 8, 1, 1, 3],
  [4, 16, 2, 2, 3],
  [4, 24, 2, 2, 3],
  [4, 32, 1, 1, 3],
];

export const EFFICIENTNET_LITE_CFG: MbConfig = [
  [1, 8, 1, 1, 3],
  [4, 16, 2, 2, 3],
  [4, 24, 2, 2, 5],
  [4, 40, 1, 1, 3],
];

function mbNet(b: OrtNetBuilder, x: V4, stemCh: number, cfg: MbConfig, lastCh: number): V4 {
  let y = convBn(b, 'stem', x, { filters: stemCh, kernel: 3 }, 'relu6');
  let i = 0;
  for (const [t, c, n, stride, k] of cfg) {
    for (let r = 0; r < n; r++) y = invertedResidual(b, `blocks.${i++}`, y, t, c, r === 0 ? stride : 1, k);
  }
  return convBn(b, 'last', y, { filters: lastCh, kernel: 1 }, 'relu6');
}

// ---- ShuffleNetV2 -----------------------------------------------------------------------

function shuffleUnit(b: OrtNetBuilder, name: string, x: V4, out: number, stride: number): V4 {
  const half = out / 2;
  if (!Number.isInteger(half)) throw new TinyProtoError('E_MODEL', `${name}: odd channel count ${out}`);
  const branch2 = (v: V4): V4 => {
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

const SHUFFLE_STAGES: readonly (readonly [number, number])[] = [
  [48, 2],
  [96, 2],
  [192, 1],
];

function shufflenetv2(b: OrtNetBuilder, x: V4): V4 {
  let y = convBn(b, 'stem', x, { filters: 24, kernel: 3 }, 'relu');
  SHUFFLE_STAGES.forEach(([ch, repeats], si) => {
    for (let r = 0; r < repeats; r++) y = shuffleUnit(b, `stage${si + 2}.${r}`, y, ch, r === 0 ? 2 : 1);
  });
  return convBn(b, 'last', y, { filters: 256, kernel: 1 }, 'relu');
}

// ---- assembly -----------------------------------------------------------------------------

function backbone(family: Family, b: OrtNetBuilder, x: V4): V4 {
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

export interface OrtNetOutputs {
  /** [N, d] features (the prototype space). */
  readonly features: V2;
  /** [N, K] head logits. */
  readonly logits: V2;
}

/** Emit a model's forward pass into `b` (image input `x`, NHWC). */
export function emitNet(b: OrtNetBuilder, spec: ModelSpec): OrtNetOutputs {
  validateSpec(spec);
  const [h, w, c] = spec.inputShape;
  const x = b.imageInput(h, w, c);
  const body = backbone(spec.family, b, x);
  const features = b.dense('fc', b.globalAvgPool(body), spec.featureDim);
  const logits = b.dense('head', features, spec.numClasses);
  return { features, logits };
}
