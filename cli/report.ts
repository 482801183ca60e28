/** `tinyproto report FILE [FILE...] --out DIR`: tables, CSV, JSON and charts for runs. */
import { parseArgs } from 'node:util';
import { TinyProtoError } from '../common/errors.ts';
import { loadRuns } from '../report/load.ts';
import { writeReport } from '../report/write.ts';

export const REPORT_HELP = `Usage: tinyproto report FILE [FILE...] --out DIR [options]

Per round and per agent: what learning cost the boards (latency per phase, peak memory,
energy and its source, bytes) next to what they learned (accuracy).

  FILE                an aggregator store (.db, every experiment in it) or a
                      \`tinyproto simulate --json\` result; several files = one comparison
  --out DIR           directory to write into (required; created; same-named files replaced)
  --title T           page title (default "TinyProto report")
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(REPORT_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new TinyProtoError('E_CONFIG', 'give at least one FILE (an aggregator .db or a simulation .json); see --help');
  if (!values.out) throw new TinyProtoError('E_CONFIG', '--out DIR is required; see --help');
  const runs = loadRuns(positionals);
  if (runs.length === 0) throw new TinyProtoError('E_CONFIG', `${positionals.join(', ')}: no experiments found`);
  const res = writeReport(runs, values.out, values.title === undefined ? {} : { title: values.title });
  for (const s of res.summaries) {
    out(`run ${s.name} (${s.kind}, ${s.method}): ${s.rounds} rounds, ${s.agents} agents`);
  }
  out(`wrote ${res.files.length} files to ${res.outDir}: ${res.files.join(', ')}`);
  for (const s of res.skipped) out(`skipped ${s.title}: ${s.reason}`);
  out(`open ${res.outDir.replace(/\/+$/, '')}/index.html`);
  return 0;
}
