import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bandSeries, quantile } from './bands.ts';

test('quantiles interpolate; bands give the median and the 10th-90th percentiles per round', () => {
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([0, 10], 0.1), 1);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  const values = new Map<number, (number | null)[]>([
    [1, Array.from({ length: 11 }, (_, i) => i / 10)],
    [2, [null, null]],
  ]);
  const s = bandSeries('head', [1, 2], (r) => values.get(r) ?? [], '#123456', 11);
  assert.deepEqual(s.map((x) => x.name), ['head: median of 11 agents', 'head: 10th percentile', 'head: 90th percentile']);
  assert.equal(s[0]!.points[0]!.y, 0.5);
  assert.ok(Math.abs(s[1]!.points[0]!.y! - 0.1) < 1e-12);
  assert.ok(Math.abs(s[2]!.points[0]!.y! - 0.9) < 1e-12);
  assert.equal(s[0]!.points[1]!.y, null, 'a round nobody evaluated breaks the line');
  assert.ok(s[1]!.dashed && !s[0]!.dashed && s.every((x) => x.color === '#123456'));
});
