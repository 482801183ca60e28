/**
 * The flags of the improvement options (method/experiment.ts `IMPROVEMENT_FIELDS`; README "Why
 * TinyProto trailed FedProto"): one flag per field, plus `--plus` for the `tinyproto-plus`
 * preset. Shared by the commands that train (simulate; the agent can take the same).
 */
import { PROTOTYPE_EVAL_RULES, PROTOTYPE_PASSES, PROTOTYPE_SUPPORTS, LAMBDA_RULES, SETUP_DEFAULTS, TINYPROTO_PLUS, type ImprovementOptions } from '../method/experiment.ts';
import { flagInt, flagNumber } from './args.ts';
import type { PrototypeScale } from '../method/prototype-scale.ts';

const D = SETUP_DEFAULTS;

export const IMPROVEMENT_HELP = `  Improvement options (the defaults are the paper's method; README "Why TinyProto trailed FedProto"):
  --prototype-loss L      ${PROTOTYPE_SUPPORTS.join(' | ')}: the prototype MSE over all d dimensions (the paper) or
                          over the class's mask only (TinyProto) (default ${D.prototypeLoss})
  --off-mask-weight B     with the masked loss: pull each dimension off the class's mask towards
                          zero with B times a mask dimension's weight (0..1; default ${D.offMaskWeight})
  --class-balance BETA    weigh class j's prototype term by n_j^-BETA (the total kept): 1 = every
                          held class the same share, 0 = every sample alike (0..1; default ${D.classBalance})
  --prototype-contrast G  add G times the cross-entropy of the masked nearest-prototype scores
                          to the local loss (0..100; 0 = off) (default ${D.prototypeContrast})
  --prototype-eval E      ${PROTOTYPE_EVAL_RULES.join(' | ')}: nearest prototype by distance over all d, over each
                          class's own mask, by cosine similarity, or over each class's mask divided by
                          the spread of the client's own features of that class there (default ${D.prototypeEval})
  --prototype-pass P      ${PROTOTYPE_PASSES.join(' | ')}: class means from a pass after training (eval-mode batch
                          norm; ours) or from the last epoch's training steps (the paper's code) (default ${D.prototypePass})
  --warmup-rounds N       rounds of CE alone before the prototype term starts (default ${D.warmupRounds})
  --lambda-rule R         ${LAMBDA_RULES.join(' | ')}: lambda * MSE, or --lambda-relative * MSE / (the client's own
                          class-mean mean square): a scale-free weight (default ${D.lambdaRule})
  --lambda-relative C     coefficient of the relative rule (default ${D.lambdaRelative})
  --lambda-final F        the pull's strength in the last round as a fraction of the first: lambda
                          falls on a half cosine over the rounds (0..1; 1 = fixed) (default ${D.lambdaFinal})
  --clip-norm C           scale each step's gradient down to global L2 norm C when it is longer
                          (a guard against runaway training; 0 = off) (default ${D.clipNorm})
  --stale-rounds K        drop a class's global prototype after K rounds in a row without a
                          contributor (0 = keep for ever, the paper) (default ${D.staleRounds})
  --plus                  tinyproto-plus: ${Object.entries(TINYPROTO_PLUS).map(([k, v]) => `${k} = ${v}`).join(', ')} (flags above override it; default off)
`;

export const IMPROVEMENT_OPTIONS = {
  'prototype-loss': { type: 'string' },
  'off-mask-weight': { type: 'string' },
  'class-balance': { type: 'string' },
  'prototype-contrast': { type: 'string' },
  'prototype-eval': { type: 'string' },
  'prototype-pass': { type: 'string' },
  'warmup-rounds': { type: 'string' },
  'lambda-rule': { type: 'string' },
  'lambda-relative': { type: 'string' },
  'lambda-final': { type: 'string' },
  'clip-norm': { type: 'string' },
  'stale-rounds': { type: 'string' },
  plus: { type: 'boolean' },
} as const;

export type ImprovementFlagValues = { readonly [K in keyof typeof IMPROVEMENT_OPTIONS]?: (typeof IMPROVEMENT_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The options the flags give (undefined where a flag is absent; validation is the config's). */
export function improvementFlags(values: ImprovementFlagValues): Partial<ImprovementOptions> & { prototypeScale?: PrototypeScale } {
  const given: Partial<Record<keyof ImprovementOptions, unknown>> = {
    prototypeLoss: values['prototype-loss'],
    offMaskWeight: flagNumber('off-mask-weight', values['off-mask-weight']),
    classBalance: flagNumber('class-balance', values['class-balance']),
    prototypeContrast: flagNumber('prototype-contrast', values['prototype-contrast']),
    prototypeEval: values['prototype-eval'],
    prototypePass: values['prototype-pass'],
    warmupRounds: flagInt('warmup-rounds', values['warmup-rounds']),
    lambdaRule: values['lambda-rule'],
    lambdaRelative: flagNumber('lambda-relative', values['lambda-relative']),
    lambdaFinal: flagNumber('lambda-final', values['lambda-final']),
    clipNorm: flagNumber('clip-norm', values['clip-norm']),
    staleRounds: flagInt('stale-rounds', values['stale-rounds']),
  };
  const out: Record<string, unknown> = values.plus === true ? { ...TINYPROTO_PLUS } : {};
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as Partial<ImprovementOptions> & { prototypeScale?: PrototypeScale };
}
