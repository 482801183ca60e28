/**
 * PARTIAL body (PROTOCOL.md §3.8): a relay's float64 running sums of one round's uploads, per
 * class with its contributor count, and the ids of the agents whose uploads it summed (ids only,
 * never class counts). Layout: K u16, d u16, s u16, layout u8, A u16 (agents), class-presence
 * bitmap ceil(K/8), per present class in increasing order contributors u16 then s f64 sums,
 * then A agent ids (u8 length + ASCII) in strictly increasing order (canonical). Bit 7 of the
 * layout byte: the relay's summed training-sample counts follow A (u32 agents, u64 total).
 */
import { LAYOUTS, UPLOAD_FLAG_TRAIN_SAMPLES, type PartialBody, type PartialClassSums, type PartialTrainSamples, type DecodeExpect } from './codec-types.ts';
import { checkIdString, checkUint, enumIndex, enumName, fail, hex2, readU64, u64, type Reader, Writer } from './codec-io.ts';
import { readShape } from './codec-values.ts';

/** Agents a PARTIAL may name (u16). */
export const PARTIAL_MAX_AGENTS = 0xffff;

function byOrdinal(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Validates a PARTIAL body for the encoder; returns its classes and agents sorted. */
function checkTrainSamples(ctx: string, t: PartialTrainSamples | null | undefined): PartialTrainSamples | null {
  if (t === undefined || t === null) return null;
  return { agents: checkUint(ctx, 'trainSamples.agents', t.agents, 1, 0xffffffff), total: checkUint(ctx, 'trainSamples.total', t.total, 1, Number.MAX_SAFE_INTEGER) };
}

function checkPartialBody(ctx: string, b: PartialBody): { classes: PartialClassSums[]; agents: string[] } {
  checkUint(ctx, 'K', b.K, 1, 0xffff);
  checkUint(ctx, 'd', b.d, 1, 0xffff);
  checkUint(ctx, 's', b.s, 1, 0xffff);
  if (b.s > b.d) fail('E_SHAPE', `${ctx}: s = ${b.s} exceeds d = ${b.d}`, { s: b.s, d: b.d });
  enumIndex(ctx, 'layout', LAYOUTS, b.layout);
  if (b.layout === 'dense' && b.s !== b.d) fail('E_SHAPE', `${ctx}: dense layout needs s = d, got s = ${b.s}, d = ${b.d}`, { s: b.s, d: b.d });
  if (!Array.isArray(b.agents)) fail('E_CODEC_FIELD', `${ctx}: agents must be an array`);
  const agents = [...b.agents].sort(byOrdinal);
  const A = checkUint(ctx, 'agent count', agents.length, 1, PARTIAL_MAX_AGENTS);
  agents.forEach((a, i) => {
    checkIdString(ctx, 'agent id', a);
    if (i > 0 && agents[i - 1] === a) fail('E_CODEC_FIELD', `${ctx}: agent "${a}" appears more than once`, { agent: a });
  });
  if (!Array.isArray(b.classes)) fail('E_SHAPE', `${ctx}: classes must be an array`);
  const classes = [...b.classes].sort((x, y) => x.classId - y.classId);
  classes.forEach((c, i) => {
    if (!Number.isInteger(c.classId) || c.classId < 0 || c.classId >= b.K) fail('E_SHAPE', `${ctx}: class id ${c.classId} out of range [0, ${b.K})`, { got: c.classId, K: b.K });
    if (i > 0 && classes[i - 1]!.classId === c.classId) fail('E_CODEC_FIELD', `${ctx}: class ${c.classId} appears more than once`, { classId: c.classId });
    if (!(c.sums instanceof Float64Array) || c.sums.length !== b.s) {
      fail('E_SHAPE', `${ctx}: class ${c.classId} has ${c.sums instanceof Float64Array ? c.sums.length : typeof c.sums} sums, expected s = ${b.s} (Float64Array)`, { classId: c.classId, expected: b.s });
    }
    checkUint(ctx, `class ${c.classId} contributors`, c.contributors, 1, A);
    for (let t = 0; t < c.sums.length; t++) {
      if (!Number.isFinite(c.sums[t]!)) fail('E_NON_FINITE', `${ctx}: class ${c.classId} sum ${t} is not finite (${c.sums[t]})`, { classId: c.classId, index: t });
    }
  });
  return { classes, agents };
}

/** PARTIAL payload bytes: 9 + [12 with the counts] + ceil(K/8) + present * (2 + 8 s) + sum over agents of (1 + id length). */
export function partialBodySize(K: number, present: number, s: number, agents: readonly string[], withTrainSamples = false): number {
  return 9 + (withTrainSamples ? 12 : 0) + Math.ceil(K / 8) + present * (2 + 8 * s) + agents.reduce((n, a) => n + 1 + a.length, 0);
}

export function encodePartialBody(ctx: string, b: PartialBody): Uint8Array {
  const { classes, agents } = checkPartialBody(ctx, b);
  const samples = checkTrainSamples(ctx, b.trainSamples);
  const w = new Writer(partialBodySize(b.K, classes.length, b.s, agents, samples !== null));
  w.u16(b.K);
  w.u16(b.d);
  w.u16(b.s);
  w.u8(enumIndex(ctx, 'layout', LAYOUTS, b.layout) | (samples !== null ? UPLOAD_FLAG_TRAIN_SAMPLES : 0));
  w.u16(agents.length);
  if (samples !== null) {
    w.u32(samples.agents);
    u64(w, samples.total);
  }
  const bitmap = new Uint8Array(Math.ceil(b.K / 8));
  for (const c of classes) bitmap[c.classId >> 3] = bitmap[c.classId >> 3]! | (1 << (c.classId & 7));
  w.bytes(bitmap);
  for (const c of classes) {
    w.u16(c.contributors);
    for (let t = 0; t < b.s; t++) w.f64(c.sums[t]!);
  }
  for (const a of agents) w.shortAscii(a);
  return w.finish();
}

export function decodePartialBody(r: Reader, e: DecodeExpect): PartialBody {
  const ctx = r.ctx;
  const { K, d, s } = readShape(r, e);
  const layoutByte = r.u8('layout');
  const hasSamples = (layoutByte & UPLOAD_FLAG_TRAIN_SAMPLES) !== 0;
  const layout = enumName(ctx, 'layout', LAYOUTS, layoutByte & ~UPLOAD_FLAG_TRAIN_SAMPLES);
  if (layout === 'dense' && s !== d) fail('E_SHAPE', `${ctx}: dense layout needs s = d, got s = ${s}, d = ${d}`, { s, d });
  const A = r.u16('agent count');
  if (A < 1) fail('E_CODEC_FIELD', `${ctx}: a partial sums at least one upload, got 0 agents`, { got: 0 });
  let trainSamples: PartialTrainSamples | null = null;
  if (hasSamples) {
    const agents = r.u32('training-sample agents');
    const total = readU64(r, 'training-sample total');
    if (agents < 1) fail('E_CODEC_FIELD', `${ctx}: training-sample counts of 0 agents`, { got: 0 });
    if (total < 1) fail('E_CODEC_FIELD', `${ctx}: training-sample total must be >= 1, got 0`, { got: 0 });
    trainSamples = { agents, total };
  }
  const bitmap = r.bytes(Math.ceil(K / 8), 'class-presence bitmap');
  const tailBits = K & 7;
  const last = bitmap[bitmap.length - 1]!;
  if (tailBits !== 0 && last >> tailBits !== 0) fail('E_SHAPE', `${ctx}: presence bitmap has bits set beyond K = ${K} (last byte ${hex2(last)})`, { K, lastByte: last });
  const classes: PartialClassSums[] = [];
  for (let j = 0; j < K; j++) {
    if (((bitmap[j >> 3]! >> (j & 7)) & 1) === 0) continue;
    const contributors = r.u16(`class ${j} contributors`);
    if (contributors < 1 || contributors > A) fail('E_CODEC_FIELD', `${ctx}: class ${j} has ${contributors} contributors, expected 1..${A} (the agent count)`, { classId: j, got: contributors, max: A });
    r.need(8 * s, `class ${j} sums`);
    const sums = new Float64Array(s);
    for (let t = 0; t < s; t++) {
      const x = r.f64(`class ${j} sum ${t}`);
      if (!Number.isFinite(x)) fail('E_NON_FINITE', `${ctx}: class ${j} sum ${t} is not finite (${x})`, { classId: j, index: t });
      sums[t] = x;
    }
    classes.push({ classId: j, contributors, sums });
  }
  const agents: string[] = [];
  for (let i = 0; i < A; i++) {
    const a = r.shortId('agent id');
    const prev = agents[i - 1];
    if (prev !== undefined && byOrdinal(prev, a) >= 0) fail('E_CODEC_FIELD', `${ctx}: agent ids must be unique and in increasing order, got "${a}" after "${prev}"`, { agent: a, previous: prev });
    agents.push(a);
  }
  r.finish();
  return trainSamples === null ? { K, d, s, layout, classes, agents } : { K, d, s, layout, classes, agents, trainSamples };
}
