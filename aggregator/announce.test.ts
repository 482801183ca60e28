import { test } from 'node:test';
import assert from 'node:assert/strict';
import { announceRound, ROUND_LIST_LIMIT } from './announce.ts';
import { resolveExperimentConfig } from './config.ts';
import { decodeRound } from '../wire/codec.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../wire/codec-types.ts';
import { isSelected } from '../method/selection.ts';

const config = (agents: number, participation: number) =>
  resolveExperimentConfig({ experiment: 'big', agents: Array.from({ length: agents }, (_, i) => `board-${String(i).padStart(6, '0')}`), participation, mu: 0.01 });

test('a ROUND stays small at any fleet size: a list up to 1,000 selected agents, a rank threshold above', () => {
  const small = announceRound(config(40, 0.5), 'aggregator', 3, 1e12);
  assert.equal(small.selected.length, 20);
  assert.deepEqual(decodeRound(small.bytes).body.selected, small.selected);
  // 22,000 agents at 50 %: a list of 11,000 ids of 12 characters would be about 143 KB; at 100 % ids of
  // 32 characters about 726 KB, over the 256 KiB limit. By threshold the payload is 32 bytes.
  const big = config(22_000, 0.5);
  const a = announceRound(big, 'aggregator', 3, 1e12);
  assert.equal(a.selected.length, 11_000);
  assert.ok(a.selected.length > ROUND_LIST_LIMIT);
  assert.ok(a.bytes.length < 100, `${a.bytes.length} bytes`);
  assert.ok(a.bytes.length < DEFAULT_MAX_MESSAGE_BYTES);
  const body = decodeRound(a.bytes).body;
  assert.deepEqual(body.selected, []);
  const chosen = big.agents.filter((id) => isSelected(id, 'big', 3, body));
  assert.deepEqual(chosen, a.selected, 'every agent decides from the threshold exactly as the aggregator selected');
  // everyone selected: an empty list (everyone), whatever the size
  const all = announceRound(config(22_000, 1), 'aggregator', 3, 1e12);
  assert.equal(all.selected.length, 22_000);
  assert.ok(all.bytes.length < 100);
});
