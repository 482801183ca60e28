/**
 * `npm run bench:accuracy`: the methods it compares, as named variants of the simulation's
 * settings, and the identity of one stored run. Pure.
 *
 * A variant is `NAME:field=value,field=value` over any SimConfig field (sim/config.ts), e.g.
 * `tinyproto-local:method=tinyproto,prototypeScale=local`: values are numbers, true/false, null
 * or strings; a list field (families) takes its items joined by '+' (`families=resnet8+mobilenetv2`).
 * The settings themselves are validated by resolveSimConfig when the run is built.
 */
import { TinyProtoError } from '../common/errors.ts';
import { SIM_DEFAULTS, type SimConfig } from '../sim/config.ts';
import { TINYPROTO_PLUS } from '../method/experiment.ts';

export interface Variant {
  readonly name: string;
  readonly fields: Readonly<Partial<SimConfig>>;
  /** One line for the report, e.g. "method=tinyproto, ratio=0.5". */
  readonly spec: string;
}

/** Fields a variant may not set: the harness owns the run's size, seed, split and checkpoint. */
const HARNESS_FIELDS: readonly (keyof SimConfig)[] = ['clients', 'alpha', 'seed', 'rounds', 'samplesPerClient', 'evalEvery', 'plateau', 'plateauDelta', 'checkpoint', 'resume', 'dataDir'];

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,39}$/;

function parseValue(field: string, raw: string): unknown {
  const current = (SIM_DEFAULTS as unknown as Record<string, unknown>)[field];
  if (Array.isArray(current)) return raw === '' ? [] : raw.split('+');
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

/** Parses `NAME:field=value,...`; E_CONFIG on a bad name, an unknown field or a harness field. */
export function parseVariant(text: string): Variant {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (!NAME_RE.test(name)) throw new TinyProtoError('E_CONFIG', `variant name "${name}": use lower-case letters, digits, '.', '_' or '-' (at most 40)`, { variant: text });
  const body = colon < 0 ? '' : text.slice(colon + 1).trim();
  const fields: Record<string, unknown> = {};
  const parts: string[] = [];
  for (const item of body === '' ? [] : body.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new TinyProtoError('E_CONFIG', `variant ${name}: "${item}" is not field=value`, { variant: text });
    const field = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    if (!Object.hasOwn(SIM_DEFAULTS, field)) throw new TinyProtoError('E_CONFIG', `variant ${name}: unknown setting "${field}"; known: ${Object.keys(SIM_DEFAULTS).join(', ')}`, { variant: text });
    if (HARNESS_FIELDS.includes(field as keyof SimConfig)) throw new TinyProtoError('E_CONFIG', `variant ${name}: "${field}" is set by the benchmark (its size options), not by a variant`, { variant: text });
    if (Object.hasOwn(fields, field)) throw new TinyProtoError('E_CONFIG', `variant ${name}: "${field}" given twice`, { variant: text });
    fields[field] = parseValue(field, raw);
    parts.push(`${field}=${raw}`);
  }
  if (!('method' in fields)) throw new TinyProtoError('E_CONFIG', `variant ${name}: give its method (method=tinyproto|fedproto|local|fedavg)`, { variant: text });
  return { name, fields: fields as Partial<SimConfig>, spec: parts.join(', ') };
}

/** The tinyproto-plus preset's fields as `field=value,...`, with some of them replaced. */
function plusFields(over: Readonly<Record<string, string>>): string {
  return Object.entries({ ...TINYPROTO_PLUS, ...over }).map(([k, v]) => `${k}=${String(v)}`).join(',');
}

/**
 * The built-in variants, each with the paper's settings (benchmarks/sim-settings.ts). The first
 * three are the default comparison; the r sweep (s = 50 / 250 / 450 at d = 500) and the
 * prototype-scale option are there to be picked with `--methods`.
 */
export const BUILTIN_VARIANTS: readonly Variant[] = [
  'tinyproto:method=tinyproto',
  'fedproto:method=fedproto',
  'local:method=local',
  'tinyproto-r50:method=tinyproto,ratio=0.5',
  'tinyproto-r90:method=tinyproto,ratio=0.9',
  'tinyproto-localscale:method=tinyproto,prototypeScale=local',
  // TinyProto without adaptive scaling: masked p_ij uploaded, averaged like FedProto's
  'tinyproto-mean:method=tinyproto,prototypeAggregation=mean',
  // the improvement preset (method/experiment.ts TINYPROTO_PLUS, `simulate --plus`), and its two
  // masked parts without the local scale
  `tinyproto-plus:method=tinyproto,${plusFields({})}`,
  // tinyproto-plus with the 'spread' evaluation rule: the same training, another prototype figure
  `tinyproto-plus-spread:method=tinyproto,${plusFields({ prototypeEval: 'spread' })}`,
  // tinyproto-plus with the prototype contrast (method/prototype-contrast.ts), gamma = 1
  `tinyproto-plus-contrast:method=tinyproto,${plusFields({ prototypeContrast: '1' })}`,
  'tinyproto-masked:method=tinyproto,prototypeLoss=masked,prototypeEval=masked',
].map(parseVariant);

export const DEFAULT_METHODS: readonly string[] = ['tinyproto', 'tinyproto-plus', 'fedproto', 'local'];

/** Built-ins plus `extra` (an extra variant replaces a built-in of the same name). */
export function variantCatalogue(extra: readonly Variant[]): Map<string, Variant> {
  const out = new Map(BUILTIN_VARIANTS.map((v) => [v.name, v]));
  for (const v of extra) out.set(v.name, v);
  return out;
}

/** The variants `names` picks from the catalogue, in that order; E_CONFIG for an unknown name. */
export function pickVariants(catalogue: ReadonlyMap<string, Variant>, names: readonly string[]): Variant[] {
  return names.map((n) => {
    const v = catalogue.get(n);
    if (!v) throw new TinyProtoError('E_CONFIG', `--methods: unknown variant "${n}"; known: ${[...catalogue.keys()].join(', ')} (add one with --variant NAME:field=value,...)`, { name: n });
    return v;
  });
}

/** The size of a benchmark run: everything but the variant, alpha and seed that changes the numbers. */
export interface BenchSize {
  readonly clients: number;
  readonly samplesPerClient: number | null;
  readonly maxRounds: number;
  readonly evalEvery: number;
  readonly plateau: number;
  readonly plateauDelta: number;
}

/** A folder name for one size, e.g. `c8-n200-max40-every2-plateau4-d0.002`. */
export function sizeKey(s: BenchSize): string {
  return `c${s.clients}-n${s.samplesPerClient ?? 'all'}-max${s.maxRounds}-every${s.evalEvery}-plateau${s.plateau}-d${s.plateauDelta}`;
}

/** A file name (no extension) for one run of a size, e.g. `tinyproto-a0.1-s1`. */
export function runKey(variant: string, alpha: number, seed: number): string {
  return `${variant}-a${alpha}-s${seed}`;
}
