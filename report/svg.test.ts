import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml, formatTick, groupedBarChart, lineChart, niceTicks, stackedBarChart } from './svg.ts';
import { PNG_SIGNATURE, svgToPng } from './png.ts';
import { count, unbalancedTags } from '../test/helpers/report.ts';

const nasty = 'a<b> & "c" \'d\'';

test('escapeXml escapes the five XML specials', () => {
  assert.equal(escapeXml(nasty), 'a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;');
});

test('niceTicks: round steps covering the range; integers when asked', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 3, 10, true), [1, 2, 3]);
  const t = niceTicks(3, 47, 5);
  assert.ok(t[0]! <= 3 && t[t.length - 1]! >= 47);
  assert.equal(formatTick(0.25, true), '25%');
  assert.equal(formatTick(25_000, false), '25k');
});

test('lineChart: one polyline per unbroken run of points, markers, legend, escaped text, balanced tags', () => {
  const svg = lineChart({
    title: `Title ${nasty}`,
    xLabel: 'round',
    yLabel: 'accuracy',
    yPercent: true,
    series: [
      { name: `run ${nasty}`, points: [1, 2, 3].map((x) => ({ x, y: x / 10 })) },
      { name: 'gap', points: [{ x: 1, y: 0.1 }, { x: 2, y: 0.2 }, { x: 3, y: null }, { x: 4, y: 0.3 }, { x: 5, y: 0.4 }], dashed: true },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.deepEqual(unbalancedTags(svg), []);
  assert.equal(count(svg, /<polyline class="line"/), 3, 'one for the first series, two for the broken one');
  assert.equal(count(svg, /class="point"/), 7);
  assert.equal(count(svg, /stroke-dasharray/), 2 + 1, 'two dashed segments and the dashed legend line');
  assert.ok(svg.includes('Title a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;'));
  assert.ok(svg.includes('run a&lt;b&gt;'));
  assert.ok(!svg.includes('a<b>'));
  assert.match(svg, />40%</);
  assert.ok(svg.includes("font-family=\"&#39;DejaVu Sans&#39;, sans-serif\""));
});

test('stackedBarChart: one rect per positive value, swatch per series', () => {
  const svg = stackedBarChart({
    title: 'latency',
    xLabel: 'round',
    yLabel: 's',
    categories: ['1', '2', `<3>`],
    series: [
      { name: 'train', values: [1, 2, 3] },
      { name: 'upload', values: [0.5, 0, null] },
      { name: 'evaluate', values: [0.2, 0.2, 0.2] },
    ],
  });
  assert.deepEqual(unbalancedTags(svg), []);
  assert.equal(count(svg, /<rect class="bar"/), 3 + 1 + 3);
  assert.equal(count(svg, /<rect class="swatch"/), 3);
  assert.ok(svg.includes('&lt;3&gt;'));
});

test('groupedBarChart: missing values leave a gap; PNG rendering starts with the PNG signature', () => {
  const svg = groupedBarChart({
    title: 'energy',
    xLabel: 'round',
    yLabel: 'J',
    categories: ['1', '2'],
    series: [
      { name: 'agent-0 (estimate: rpi4b)', values: [5, 6] },
      { name: 'agent-1 (rapl: /sys/x)', values: [null, 7] },
    ],
  });
  assert.deepEqual(unbalancedTags(svg), []);
  assert.equal(count(svg, /<rect class="bar"/), 3);
  const png = svgToPng(svg, 300);
  assert.deepEqual(new Uint8Array(png.subarray(0, 8)), PNG_SIGNATURE);
  assert.equal(png.readUInt32BE(16), 300, 'IHDR width');
});
