/** `tinyproto report FILE [FILE...] --out DIR`: tables, CSV, JSON and charts for runs. */
import { parseArgs } from 'node:util';
import { flagNumber } from './args.ts';
import { targetText } from '../report/html.ts';
import { TinyProtoError } from '../common/errors.ts';
import { loadRuns } from '../report/load.ts';
import { writeReport } from '../report/write.ts';
import { participationText } from '../report/summary.ts';

export const REPORT_HELP = `Usage: tinyproto report FILE [FILE...] --out DIR [options]

Per round and per agent: what learning cost the boards (latency per phase, peak memory,
energy and its source, bytes) next to what they learned (accuracy).

  FILE                an aggregator store (.db, every experiment in it) or a
                      \`tinyproto simulate --json\` result; several files = one comparison
  --out DIR           directory to write into (required; created; same-named files replaced)
  --title T           page title (default "TinyProto report")
  --target ACC        also report, per run, the first round at which accuracy (head, prototype)
                      reached ACC (a fraction, e.g. 0.8) and the time, bytes and energy it took
                      (default none)
  -h, --help

Writes rounds.csv, agents.csv, telemetry.csv, report.json, each chart as .svg and .png,
and index.html (self-contained summary page). Charts without data are skipped with a note.
`;

export function runReport(argv: string[], out: (s: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      title: { type: 'string' },
      target: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(REPORT_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new TinyProtoError('E_CONFIG', 'give at least one FILE (an aggregator .db or a simulation .json); see --help');
  if (!values.out) throw new TinyProtoError('E_CONFIG', '--out DIR is required; see --help');
  const target = values.target === undefined ? undefined : flagNumber('target', values.target);
  if (target !== undefined && !(target > 0 && target <= 1)) throw new TinyProtoError('E_CONFIG', `--target must be an accuracy in (0, 1], e.g. 0.8, got ${values.target}`);
  const runs = loadRuns(positionals);
  if (runs.length === 0) throw new TinyProtoError('E_CONFIG', `${positionals.join(', ')}: no experiments found`);
  const res = writeReport(runs, values.out, { ...(values.title === undefined ? {} : { title: values.title }), ...(target === undefined ? {} : { targetAccuracy: target }) });
  for (const s of res.summaries) {
    const times = s.roundSeconds === null ? '' : `, round time p50 ${s.roundSeconds.p50.toFixed(1)} s / p95 ${s.roundSeconds.p95.toFixed(1)} s`;
    out(`run ${s.name} (${s.kind}, ${s.method}): ${s.rounds} rounds, ${s.agents} agents${times}`);
    if (s.stragglers.length > 0) out(`  stragglers: ${s.stragglers.slice(0, 8).map((x) => `${x.agent} (${x.rounds} rounds)`).join(', ')}`);
    if (s.participation !== null) out(`  participation: ${participationText(s.participation)}`);
    if (s.target !== null) for (const m of ['head', 'prototype'] as const) out(`  to ${(s.target.accuracy * 100).toFixed(1)}% (${m}): ${targetText(s.target[m])}`);
  }
  out(`wrote ${res.files.length} files to ${res.outDir}: ${res.files.join(', ')}`);
  for (const s of res.skipped) out(`skipped ${s.title}: ${s.reason}`);
  out(`open ${res.outDir.replace(/\/+$/, '')}/index.html`);
  return 0;
}
