/** The self-contained index.html: summary table per run, charts inline as SVG with PNG links. */
import { bytes, pct } from '../common/table.ts';
import type { Chart, SkippedChart } from './charts.ts';
import { participationText, type RunSummary } from './summary.ts';
import type { ToTarget } from './targets.ts';
import { escapeXml } from './svg.ts';

const escapeHtml = escapeXml;

const accuracyCell = (b: { accuracy: number; round: number } | null): string => (b === null ? 'n/a' : `${pct(b.accuracy)} (round ${b.round})`);

export function targetText(t: ToTarget | null): string {
  if (t === null) return 'not reached';
  return `round ${t.round}, ${t.seconds.toFixed(1)} s, ${bytes(t.bytes)}, ${t.energyJoules === null ? 'energy n/a' : `${t.energyJoules.toFixed(1)} J`}`;
}

function runTable(s: RunSummary): string {
  const rows: [string, string][] = [
    ['source', `${s.kind}, method ${s.method}`],
    ['rounds / agents', `${s.rounds} / ${s.agents}`],
    ['best accuracy (head)', accuracyCell(s.bestHead)],
    ['best accuracy (prototype)', accuracyCell(s.bestPrototype)],
    ['last accuracy (head / prototype)', `${pct(s.lastHead)} / ${pct(s.lastPrototype)}`],
    ['total bytes up / down', `${bytes(s.totalBytesUp)} / ${bytes(s.totalBytesDown)}`],
    ['round time (sum)', `${s.seconds.toFixed(1)} s`],
    ['energy (all agents, all rounds)', s.energyJoules === null ? 'n/a (no telemetry)' : `${s.energyJoules.toFixed(1)} J (${s.energySources.join('; ')})`],
    ['round time p50 / p95', s.roundSeconds === null ? 'n/a' : `${s.roundSeconds.p50.toFixed(1)} s / ${s.roundSeconds.p95.toFixed(1)} s`],
    ['stragglers (rounds over 1.5x the median)', s.stragglers.length === 0 ? 'none' : s.stragglers.slice(0, 8).map((x) => `${x.agent} (${x.rounds})`).join(', ')],
    ...(s.participation === null ? [] : ([['participation and churn', participationText(s.participation)]] as [string, string][])),
    ...(s.target === null ? [] : (['head', 'prototype'] as const).map((m): [string, string] => [`to ${pct(s.target!.accuracy)} (${m})`, targetText(s.target![m])])),
  ];
  return [
    `<h3>${escapeHtml(s.name)}</h3>`,
    '<table>',
    ...rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
  ].join('\n');
}

export function reportHtml(opts: {
  title: string;
  generatedAt: Date;
  summaries: readonly RunSummary[];
  charts: readonly Chart[];
  skipped: readonly SkippedChart[];
  files: readonly string[];
}): string {
  const { title, summaries, charts, skipped } = opts;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: 'DejaVu Sans', sans-serif; margin: 2em auto; max-width: 1060px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
th { background: #f5f5f5; font-weight: normal; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.note { color: #666; font-size: 0.9em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">Generated ${escapeHtml(opts.generatedAt.toISOString())}. Bytes are whole encoded messages (header, class bitmap, values, CRC; no MQTT framing) summed over agents; downlink = global prototypes times the agents they went to. Accuracy per round is the test-count-weighted mean over the agents that evaluated.</p>
<h2>Runs</h2>
${summaries.map(runTable).join('\n')}
<h2>Charts</h2>
${charts
  .map(
    (c) => `<figure id="${escapeHtml(c.id)}">
${c.svg.replace(/^<\?xml[^>]*>\s*/, '')}
<figcaption>${escapeHtml(c.title)} &mdash; <a href="${escapeHtml(encodeURIComponent(c.id))}.png">PNG</a>, <a href="${escapeHtml(encodeURIComponent(c.id))}.svg">SVG</a></figcaption>
</figure>`,
  )
  .join('\n')}
${
  skipped.length
    ? `<h2>Skipped charts</h2>\n<ul>\n${skipped.map((s) => `<li>${escapeHtml(s.title)}: ${escapeHtml(s.reason)}</li>`).join('\n')}\n</ul>`
    : ''
}
<h2>Files</h2>
<ul>
${opts.files.map((f) => `<li><a href="${escapeHtml(encodeURIComponent(f))}">${escapeHtml(f)}</a></li>`).join('\n')}
</ul>
</body>
</html>
`;
}
