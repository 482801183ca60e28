import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convergenceLine, curvesSvg, groupRuns, recentHeadGain, reportMarkdown, verdictLines } from './accuracy-report.ts';
import type { StoredRun } from './accuracy-runs.ts';

/** A stored run whose evaluated rounds reach `head` / `proto` / `own` at its last round. */
function run(variant: string, alpha: number, seed: number, head: number, proto: number | null, own: number, rounds = 4): StoredRun {
  const recs = Array.from({ length: rounds }, (_, i) => {
    const f = (i + 1) / rounds;
    return {
      round: i + 1,
      selected: [],
      evaluated: (i + 1) % 2 === 0 || i + 1 === rounds,
      accuracyHead: head * f,
      accuracyPrototype: proto === null ? null : proto * f,
      accuracyPrototypeOwn: own * f,
      bytesUp: 0,
      bytesDown: 0,
      bytesUpPerClient: 0,
      bytesDownPerClient: 0,
      messageBytesUpPerClient: 0,
      messageBytesDownPerClient: 0,
      loss: 0,
      protoLoss: 0,
      seconds: 1,
      prototypeScales: [],
    };
  });
  return {
    variant,
    spec: `method=${variant}`,
    alpha,
    seed,
    size: { clients: 2, samplesPerClient: 10, maxRounds: rounds, evalEvery: 2, plateau: 0, plateauDelta: 0.002 },
    setup: '{}',
    method: variant === 'fedproto' ? 'fedproto' : variant === 'local' ? 'local' : 'tinyproto',
    date: '2026-12-02',
    seconds: 1,
    resumedFrom: null,
    mu: null,
    masks: null,
    stopped: { reason: 'rounds', round: rounds },
    summary: {
      best: { accuracyHead: head, roundHead: rounds, accuracyPrototype: proto, roundPrototype: proto === null ? null : rounds },
      last: { accuracyHead: head, accuracyPrototype: proto, accuracyPrototypeOwn: own },
      bestPrototypeOwn: own,
      totalBytesUp: 0,
      totalBytesDown: 0,
      meanBytesUpPerClientRound: variant === 'local' ? 0 : 100,
      meanBytesDownPerClientRound: 0,
    },
    clients: [],
    rounds: recs,
  };
}

const runs = [
  ...[1, 2, 3].map((s) => run('tinyproto', 0.1, s, 0.9 + s * 0.001, 0.8, 0.85)),
  ...[1, 2, 3].map((s) => run('fedproto', 0.1, s, 0.8 + s * 0.001, 0.805 + (s - 2) * 0.01, 0.8)),
  ...[1, 2, 3].map((s) => run('local', 0.1, s, 0.95, null, 0.85 + (s - 2) * 0.05)),
  run('tinyproto', 0.5, 1, 0.5, 0.5, 0.5),
  run('zz-extra', 0.1, 1, 0.1, 0.1, 0.1),
];

test('runs are grouped per alpha, variants in the requested order, others after', () => {
  const g = groupRuns(runs, ['tinyproto', 'fedproto', 'local']);
  assert.deepEqual([...g.keys()], [0.1, 0.5]);
  assert.deepEqual(g.get(0.1)!.map((s) => s.variant), ['tinyproto', 'fedproto', 'local', 'zz-extra']);
  const tiny = g.get(0.1)![0]!;
  assert.deepEqual(tiny.seeds, [1, 2, 3]);
  assert.ok(Math.abs(tiny.head!.mean - 0.902) < 1e-9);
  assert.equal(g.get(0.1)![2]!.proto, null); // Local has no all-K prototype accuracy
});

test('verdicts come from the numbers: prototype vs FedProto by all K, vs Local by own classes, ties within the spread', () => {
  const lines = verdictLines(groupRuns(runs, ['tinyproto', 'fedproto', 'local']));
  const tiny = lines.find((l) => l.startsWith('**Dir(0.1), tinyproto**'))!;
  assert.match(tiny, />= FedProto by head: yes, by prototype: yes; >= Local by head: no, by prototype: yes/);
  assert.match(tiny, /leads FedProto by head \(90\.20 vs 80\.20/);
  assert.match(tiny, /ties FedProto by prototype \(all K\)/);
  assert.match(tiny, /trails Local by head/);
  assert.match(tiny, /ties Local by prototype \(own classes\) \(85\.00 vs 85\.00, spread 5\.00; paired by seed [+-]0\.00 ± 5\.00 \(2\/3 seeds >=\)\)/);
  // paired by seed: the same split per seed, so a constant gap has no spread
  assert.match(tiny, /trails Local by head \(90\.20 vs 95\.00, spread 0\.10; paired by seed -4\.80 ± 0\.10 \(0\/3 seeds >=\)\)/);
  // a variant measured at an alpha without baselines gets no sentence; the extra variant gets one
  assert.ok(!lines.some((l) => l.startsWith('**Dir(0.5)')));
  assert.ok(lines.some((l) => l.startsWith('**Dir(0.1), zz-extra**') && /trails FedProto by head/.test(l)));
});

test('the report has a table per alpha and the curves one panel per alpha', () => {
  const g = groupRuns(runs, ['tinyproto', 'fedproto', 'local']);
  const md = reportMarkdown(g);
  assert.match(md, /\*\*Dir\(0\.1\)\*\*\n\n\| variant \| seeds \|/);
  assert.match(md, /\| tinyproto \| 3 \| 90\.20 ± 0\.10 \(90\.10-90\.30\) \|/);
  const svg = curvesSvg(runs, g);
  assert.equal((svg.match(/<svg x="/g) ?? []).length, 2);
  assert.match(svg, /Dir\(0\.5\): mean over seeds/);
  assert.ok((svg.match(/class="line"/g) ?? []).length >= 8);
});

test('convergence: the head gain over the last 10 rounds, and how many runs the plateau rule stopped', () => {
  const long = run('tinyproto', 0.1, 1, 0.9, 0.8, 0.8, 12);
  assert.ok(Math.abs(recentHeadGain(long)! - (0.9 - 0.15)) < 1e-9); // round 12 vs round 2
  assert.equal(recentHeadGain(run('tinyproto', 0.1, 1, 0.9, 0.8, 0.8, 4)), null);
  const stopped = { ...long, stopped: { reason: 'plateau' as const, round: 12 } };
  assert.match(convergenceLine([long, stopped]), /stopped 1 of 2 runs; the other 1 ran to the cap of 12 rounds, their head accuracy still changing by 75\.00 points .* so they had not converged/);
  assert.equal(convergenceLine([stopped]), 'Convergence: the plateau rule stopped 1 of 1 runs.');
});
