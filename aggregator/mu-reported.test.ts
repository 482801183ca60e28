/**
 * mu 'auto' from the agents' reported training-sample counts (issue 12): a configured total 10x
 * wrong is overridden by the counts (and warned about with both figures), `muFrom: 'configured'`
 * keeps it, an agent whose count changes is refused (E_TRAIN_SAMPLES), and a restarted
 * aggregator reproduces every round's mu and GLOBAL bit for bit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from './aggregator.ts';
import { resolveExperimentConfig, type ExperimentOptions } from './config.ts';
import { openAggregatorStore, type AggregatorStore } from './store.ts';
import type { AggregatorTransport, RoundClosed } from './aggregator-types.ts';
import { decodeGlobal, decodeReceipt, encodeUpload } from '../wire/codec.ts';
import { muFromTotals } from '../method/aggregate.ts';
import { memoryLogger } from '../common/logger.ts';
import { toHex } from '../test/helpers/codec.ts';

const EXP = 'mu-rep';
const agents = ['a1', 'a2'];
const COUNTS: Record<string, number> = { a1: 100, a2: 300 };
const TRUE_MU = muFromTotals(400, 2, 0.65);
const base = { experiment: EXP, method: 'tinyproto', agents, numClasses: 2, featureDim: 4, ratio: 0.5, roundDeadlineMs: 600_000 } as const;

/** A TinyProto upload of round `round`: class 0, s = 2 values, with the given count (null: none). */
function upload(agent: string, round: number, n: number | null, v: number): Uint8Array {
  return encodeUpload({ experiment: EXP, sender: agent, round }, { K: 2, d: 4, s: 2, layout: 'sparse', valueType: 'float32', prototypes: [{ classId: 0, values: Float32Array.of(v, -v) }], trainSamples: n });
}

interface Harness {
  aggregator: Aggregator;
  send(agent: string, bytes: Uint8Array): Promise<void>;
  receipts: string[];
  globals: Uint8Array[];
  closed: RoundClosed[];
  logger: ReturnType<typeof memoryLogger>;
}

async function harness(store: AggregatorStore, options: ExperimentOptions): Promise<Harness> {
  let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  const h = { receipts: [] as string[], globals: [] as Uint8Array[], closed: [] as RoundClosed[], logger: memoryLogger() };
  const transport: AggregatorTransport = {
    publishRetained: async (kind, bytes) => void (kind === 'global' && h.globals.push(bytes)),
    publishReceipt: async (to, bytes) => {
      const r = decodeReceipt(bytes).body;
      h.receipts.push(`${to}:${r.outcome}${r.code ? `:${r.code}` : ''}`);
    },
    onAgentMessage: (fn) => void (handler = fn),
    close: async () => undefined,
  };
  const aggregator = new Aggregator({ config: resolveExperimentConfig({ ...base, ...options }), store, transport, logger: h.logger });
  aggregator.on('roundClosed', (r: RoundClosed) => h.closed.push(r));
  await aggregator.start();
  const send = (agent: string, bytes: Uint8Array): Promise<void> => new Promise((resolve) => handler!('upload', agent, bytes, () => resolve()));
  return { ...h, aggregator, send };
}

/** Resolves once `n` rounds have closed (a round closes right after the batch that completes it). */
function closedRounds(h: Harness, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${h.closed.length} of ${n} rounds closed`)), 10_000);
    const check = (): void => {
      if (h.closed.length < n) return;
      clearTimeout(timer);
      h.aggregator.off('roundClosed', check);
      resolve();
    };
    h.aggregator.on('roundClosed', check);
    setImmediate(check);
  });
}

const warnings = (h: Harness): string[] => h.logger.entries.filter((e) => e.level === 'warn' && /configured total/.test(e.msg)).map((e) => e.msg);

test('a configured total 10x wrong: mu follows the reported counts, a warning names both figures and the mu', async () => {
  const store = openAggregatorStore(':memory:');
  const h = await harness(store, { rounds: 2, totalTrainSamples: 4000 });
  try {
    await h.send('a1', upload('a1', 1, COUNTS['a1']!, 2));
    await h.send('a2', upload('a2', 1, COUNTS['a2']!, 4));
    await closedRounds(h, 1);
    const r1 = h.closed[0]!;
    assert.deepEqual([r1.mu, r1.totalTrainSamples, r1.muSource], [TRUE_MU, 400, 'reported']);
    assert.equal(h.aggregator.scale, TRUE_MU);
    // P_0 = mu * (2 + 4, -2 - 4)
    const g = decodeGlobal(h.globals.at(-1)!).body.prototypes[0]!;
    assert.deepEqual([...g.values], [Math.fround(TRUE_MU * 6), Math.fround(-TRUE_MU * 6)]);
    const w = warnings(h);
    assert.equal(w.length, 1);
    assert.match(w[0]!, /configured total training samples 4000 disagrees with the 400 the agents report \(sum of 2 agents' counts\) by more than 10%: using 400 \(--mu-from configured keeps 4000\)/);
    assert.match(w[0]!, new RegExp(`mu = ${TRUE_MU.toPrecision(6)}`));
    // the stored round summary says which N and mu the round used
    const stored = store.getRound(EXP, 1)!.summary!;
    assert.deepEqual([stored['mu'], stored['totalTrainSamples'], stored['muSource']], [TRUE_MU, 400, 'reported']);

    // round 2: a count that changes is refused, the agent's real one is still taken
    await h.send('a1', upload('a1', 2, 101, 1));
    assert.equal(h.receipts.at(-1), 'a1:rejected:E_TRAIN_SAMPLES');
    assert.equal(store.rejectionCounts(EXP)['E_TRAIN_SAMPLES'], 1);
    await h.send('a1', upload('a1', 2, 100, 1));
    await h.send('a2', upload('a2', 2, 300, 1));
    await closedRounds(h, 2);
    assert.deepEqual(h.receipts, ['a1:accepted', 'a2:accepted', 'a1:rejected:E_TRAIN_SAMPLES', 'a1:accepted', 'a2:accepted']);
    assert.equal(h.closed[1]!.mu, TRUE_MU);
    assert.equal(warnings(h).length, 1, 'the same disagreement is warned once');
  } finally {
    await h.aggregator.stop();
    store.close();
  }
});

test("muFrom 'configured' keeps the configured total (and still warns); agreeing figures are not warned about", async () => {
  const store = openAggregatorStore(':memory:');
  const h = await harness(store, { rounds: 1, totalTrainSamples: 4000, muFrom: 'configured' });
  try {
    await h.send('a1', upload('a1', 1, 100, 2));
    await h.send('a2', upload('a2', 1, 300, 4));
    await closedRounds(h, 1);
    assert.deepEqual([h.closed[0]!.mu, h.closed[0]!.totalTrainSamples, h.closed[0]!.muSource], [muFromTotals(4000, 2, 0.65), 4000, 'configured']);
    assert.match(warnings(h)[0]!, /4000 disagrees with the 400 the agents report .*: using 4000 \(muFrom configured\)/);
  } finally {
    await h.aggregator.stop();
    store.close();
  }
  const store2 = openAggregatorStore(':memory:');
  const ok = await harness(store2, { rounds: 1, totalTrainSamples: 420 });
  try {
    await ok.send('a1', upload('a1', 1, 100, 2));
    await ok.send('a2', upload('a2', 1, 300, 4));
    await closedRounds(ok, 1);
    assert.deepEqual([ok.closed[0]!.mu, ok.closed[0]!.muSource], [TRUE_MU, 'reported']);
    assert.deepEqual(warnings(ok), []);
  } finally {
    await ok.aggregator.stop();
    store2.close();
  }
});

test('no configured total: the counts are all mu needs; an upload without one is refused, not guessed', async () => {
  const store = openAggregatorStore(':memory:');
  const h = await harness(store, { rounds: 1 });
  try {
    assert.equal(h.aggregator.scale, null);
    await h.send('a1', upload('a1', 1, null, 2));
    assert.equal(h.receipts.at(-1), 'a1:rejected:E_TRAIN_SAMPLES');
    await h.send('a1', upload('a1', 1, 100, 2));
    await h.send('a2', upload('a2', 1, 300, 4));
    await closedRounds(h, 1);
    assert.deepEqual([h.closed[0]!.mu, h.closed[0]!.muSource], [TRUE_MU, 'reported']);
    assert.deepEqual(warnings(h), []);
  } finally {
    await h.aggregator.stop();
    store.close();
  }
});

test('a restarted aggregator reproduces each round\'s N, mu and GLOBAL bit for bit, and still refuses a changed count', async () => {
  const script: Array<[string, number, number, number]> = [
    ['a1', 1, 100, 2],
    ['a2', 1, 300, 4],
    ['a1', 2, 100, 3],
    ['a2', 2, 300, 5],
  ];
  // reference: one process
  const refStore = openAggregatorStore(':memory:');
  const ref = await harness(refStore, { rounds: 2, totalTrainSamples: 4000 });
  for (const [i, [a, r, n, v]] of script.entries()) {
    await ref.send(a, upload(a, r, n, v));
    if (i === 1) await closedRounds(ref, 1);
  }
  await ref.aggregator.done;
  await ref.aggregator.stop();
  // restarted after the first upload of round 2
  const store = openAggregatorStore(':memory:');
  const first = await harness(store, { rounds: 2, totalTrainSamples: 4000 });
  for (const [i, [a, r, n, v]] of script.slice(0, 3).entries()) {
    await first.send(a, upload(a, r, n, v));
    if (i === 1) await closedRounds(first, 1);
  }
  await first.aggregator.stop();
  const second = await harness(store, { rounds: 2, totalTrainSamples: 4000 });
  try {
    await second.send('a2', upload('a2', 2, 299, 5));
    assert.equal(second.receipts.at(-1), 'a2:rejected:E_TRAIN_SAMPLES');
    const [a, r, n, v] = script[3]!;
    await second.send(a, upload(a, r, n, v));
    await second.aggregator.done;
    const summaries = (s: AggregatorStore): unknown[] => s.rounds(EXP).map((x) => [x.summary!['mu'], x.summary!['totalTrainSamples'], x.summary!['muSource']]);
    assert.deepEqual(summaries(store), summaries(refStore));
    assert.deepEqual(summaries(store), [[TRUE_MU, 400, 'reported'], [TRUE_MU, 400, 'reported']]);
    for (const round of [1, 2]) assert.equal(toHex(store.getRound(EXP, round)!.globalBytes!), toHex(refStore.getRound(EXP, round)!.globalBytes!));
  } finally {
    await second.aggregator.stop();
    store.close();
    refStore.close();
  }
});
