import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Announcements } from './announcements.ts';
import { encodeGlobal, encodeRound } from '../wire/codec.ts';
import type { RoundBody } from '../wire/codec-types.ts';

const BODY: RoundBody = { method: 'fedproto', valueType: 'float32', deadlineMs: 1e13, lambda: 1, lr: 0.01, batchSize: 8, localEpochs: 1, selected: [] };
const round = (experiment: string, r: number): Uint8Array => encodeRound({ experiment, sender: 'aggregator', round: r }, BODY);
const global = (experiment: string, r: number): Uint8Array =>
  encodeGlobal({ experiment, sender: 'aggregator', round: r }, { K: 2, d: 2, s: 2, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 0, values: new Float32Array([1, 2]), contributors: 1 }] });

test('a round is superseded by a later ROUND or by a GLOBAL of that round or later; not by its own ROUND or an older GLOBAL', () => {
  const a = new Announcements('e1');
  assert.equal(a.supersededBy(1), null);
  a.heard('round', round('e1', 1));
  a.heard('global', global('e1', 0));
  assert.equal(a.supersededBy(1), null);
  a.heard('round', round('e1', 3));
  assert.deepEqual(a.supersededBy(1), { by: 'round', round: 3 });
  assert.equal(a.supersededBy(3), null);
  a.heard('global', global('e1', 3));
  assert.deepEqual(a.supersededBy(3), { by: 'global', round: 3 });
  assert.equal(a.supersededBy(4), null);
});

test('frames of another experiment, of another kind or that do not decode are not noted, and never throw', () => {
  const a = new Announcements('e1');
  a.heard('round', round('e2', 9));
  a.heard('global', global('e2', 9));
  a.heard('round', new Uint8Array([1, 2, 3]));
  a.heard('masks', round('e1', 9));
  a.heard('receipt', round('e1', 9));
  assert.equal(a.supersededBy(1), null);
});
