/**
 * The zoo's description on its own (no engine): a counting ArchBuilder checks that the parameter
 * counts and FLOPs are the ones benchmarks/train_torch.py rebuilds in PyTorch (its ZOO_REF table,
 * which `train_torch.py --check` compares the PyTorch models against), and that names are unique.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FAMILIES } from '../zoo-info.ts';
import type { Family, ModelSpec } from '../engine.ts';
import { isTinyProtoError } from '../../common/errors.ts';
import { planBatchNorm, planConv, planDense, sizeOf, type ArchBuilder, type ConvOpts, type FeatureMap, type FeatureVec, type ParamDef } from './builder.ts';
import { describeNet } from './zoo.ts';

class CountingBuilder implements ArchBuilder<FeatureMap, FeatureVec> {
  readonly params: ParamDef[] = [];
  flops = 0;
  imageInput(h: number, w: number, c: number): FeatureMap {
    return { c, h, w };
  }
  conv(name: string, x: FeatureMap, opts: ConvOpts): FeatureMap {
    const p = planConv(name, x, opts);
    this.params.push(p.weight);
    this.flops += p.flops;
    return p.out;
  }
  batchNorm(name: string, x: FeatureMap): FeatureMap {
    const p = planBatchNorm(name, x.c);
    this.params.push(p.weight, p.bias, p.runningMean, p.runningVar);
    return x;
  }
  dense(name: string, x: FeatureVec, outDim: number): FeatureVec {
    const p = planDense(name, x.dim, outDim);
    this.params.push(p.weight, p.bias);
    this.flops += p.flops;
    return { dim: outDim };
  }
  relu = (x: FeatureMap): FeatureMap => x;
  relu6 = (x: FeatureMap): FeatureMap => x;
  add = (a: FeatureMap): FeatureMap => a;
  concat = (a: FeatureMap, b: FeatureMap): FeatureMap => ({ ...a, c: a.c + b.c });
  split = (x: FeatureMap, at: number): [FeatureMap, FeatureMap] => [{ ...x, c: at }, { ...x, c: x.c - at }];
  channelShuffle = (x: FeatureMap): FeatureMap => x;
  globalAvgPool = (x: FeatureMap): FeatureVec => ({ dim: x.c });
}

function spec(family: Family, inputShape: [number, number, number]): ModelSpec {
  return { family, inputShape, featureDim: 500, numClasses: 10, seed: 1 };
}

/** ZOO_REF of train_torch.py: input -> family -> [params, flops]. */
function torchReference(): Record<string, Record<string, [number, number]>> {
  const py = readFileSync(new URL('../../benchmarks/train_torch.py', import.meta.url), 'utf8');
  const block = /ZOO_REF = \{([\s\S]*?)\n\}/.exec(py);
  assert.ok(block, 'ZOO_REF not found in train_torch.py');
  const out: Record<string, Record<string, [number, number]>> = {};
  for (const m of block[1]!.matchAll(/"(\d+x\d+x\d+)": \{([^}]*)\}/g)) {
    const row: Record<string, [number, number]> = {};
    for (const e of m[2]!.matchAll(/"([a-z0-9-]+)": \((\d+), (\d+)\)/g)) row[e[1]!] = [Number(e[2]), Number(e[3])];
    out[m[1]!] = row;
  }
  return out;
}

test('params and FLOPs of every family equal train_torch.py ZOO_REF', () => {
  const ref = torchReference();
  for (const input of ['28x28x1', '32x32x3']) {
    const shape = input.split('x').map(Number) as [number, number, number];
    for (const family of FAMILIES) {
      const b = new CountingBuilder();
      describeNet(b, spec(family, shape));
      const trainable = b.params.filter((p) => p.trainable).reduce((n, p) => n + sizeOf(p.shape), 0);
      assert.deepEqual([trainable, b.flops], ref[input]?.[family], `${family} ${input}`);
      assert.equal(new Set(b.params.map((p) => p.name)).size, b.params.length, `${family}: unique names`);
    }
  }
});

test('an unknown family is E_MODEL, a bad spec E_CONFIG', () => {
  assert.throws(() => describeNet(new CountingBuilder(), spec('vgg' as Family, [8, 8, 1])), (e) => isTinyProtoError(e, 'E_MODEL'));
  assert.throws(() => describeNet(new CountingBuilder(), spec('resnet8', [4, 4, 1])), (e) => isTinyProtoError(e, 'E_CONFIG'));
});
