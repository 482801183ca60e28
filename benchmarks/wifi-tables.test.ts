import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uploadWorth, type UploadOnLink } from './wifi-analysis.ts';
import { resultsTable, uploadTable, worthStatement, type MethodFigures } from './wifi-tables.ts';

const up = (round: number, agent: string, linkBytes: number, linkSeconds: number): UploadOnLink => ({ round, agent, messageBytes: linkBytes - 60, linkBytes, linkSeconds });

function figures(method: string, bytes: number, times: number[], rounds: number[]): MethodFigures {
  const uploads = times.map((t, i) => up(1 + (i % 2), `agent-${i >> 1}`, bytes, t));
  return {
    method, rounds: 2, bestHead: 0.6, lastHead: 0.6, roundSeconds: { p50: rounds[0]!, p95: rounds[1]! }, roundSecondsAfterFirst: null,
    toTarget: { round: 2, seconds: 30, bytes: bytes * 8, energyJoules: 100 }, toTargetAfterFirst: 12, messageBytesPerRound: { up: bytes * 2, down: 4000 }, linkBytesPerRound: { up: bytes * 3, down: 5000 },
    stalls: 1, energyJoules: 120, agentUploadSeconds: null,
    worth: uploadWorth({ method, uploads, computed: uploads.map(() => 0.03), roundSeconds: rounds }), runSeconds: 60,
    churn: { offline: 3, crashed: 1, crashOutcomes: ['agent-8 r5: counted'], late: 0 }, stragglers: [{ agent: 'agent-9', rounds: 2 }],
  };
}

test('the worth statement is the figures: ratio, computed and measured savings, stall odds, round-time difference', () => {
  const fed = figures('fedproto', 17_224, [0.05, 0.3, 0.05, 0.06], [20, 24]);
  const tiny = figures('tinyproto', 1_925, [0.03, 0.03, 0.03, 0.035], [21, 25]);
  const { text, comparison } = worthStatement(fed, tiny, { label: '`wifi-congested`', stallProbability: 0.005, stallMs: 250 });
  assert.match(text, /fedproto's upload is 8\.9x tinyproto's/);
  assert.match(text, /17,224 B vs 1,925 B/);
  assert.match(text, /fedproto's 12 segments: 5\.8% of uploads/);
  assert.match(text, /tinyproto's 2 segments: 1\.0% of uploads/);
  assert.ok(comparison.slowestSavingSeconds !== null && comparison.slowestSavingSeconds > 0);
  // rounds differ by -1 s against a 4 s spread: stated as within the noise
  assert.match(text, /difference -1\.00 s/);
  assert.match(text, /within the rounds' own spread/);
  const table = resultsTable([tiny, fed], 0.55);
  assert.match(table, /rounds to 55\.0%/);
  assert.match(table, /after round 1 \(start-up excluded\) \| 12\.0 s \| 12\.0 s/);
  assert.match(table, /3 \/ 1 \(agent-8 r5: counted\) \/ 0/);
  assert.match(uploadTable([tiny, fed]), /1,925 B \| 17,224 B/);
});
