/**
 * `npm run bench:startup`: start-up time and peak RSS of `tinyproto agent --help`, and of a
 * one-agent fleet through one round (the agent process's peak RSS, the fleet's wall time),
 * compiled (dist/, plain node) against the sources through tsx. Needs `npm run build` first.
 * Peak RSS is each process's own getrusage maxRSS, recorded by a preload at exit (tsx's esbuild
 * service is a separate process and is not counted).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { markdownTable, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, samples: { type: 'string', default: '300' }, out: { type: 'string', default: 'benchmarks/results' } } });
const RUNS = Math.max(1, Math.min(20, Number(values.runs)));
if (!existsSync('dist/cli/main.js')) {
  process.stderr.write('bench:startup: run `npm run build` first\n');
  process.exit(2);
}
const PRELOAD = `data:text/javascript,${encodeURIComponent('import{appendFileSync}from"node:fs";process.on("exit",()=>{const f=process.env.TP_RSS_LOG;if(f)appendFileSync(f,JSON.stringify({cmd:process.argv.slice(2,3)[0]??"",rssKB:process.resourceUsage().maxRSS})+"\\n")});')}`;
const MODES = { compiled: ['dist/cli/main.js'], tsx: ['--import', 'tsx', 'cli/main.ts'] } as const;
type Mode = keyof typeof MODES;

function run(mode: Mode, args: string[]): { seconds: number; rss: { cmd: string; rssKB: number }[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tp-startup-'));
  const log = join(dir, 'rss.jsonl');
  const env = { ...process.env, TP_RSS_LOG: log, NODE_OPTIONS: `--import=${PRELOAD}`, TINYPROTO_FROM_SOURCE: mode === 'tsx' ? '1' : '' };
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...MODES[mode], ...args.map((a) => a.replace('@DIR', dir))], { env, encoding: 'utf8', timeout: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${mode} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-400)}`);
  const rss = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cmd: string; rssKB: number });
  rmSync(dir, { recursive: true, force: true });
  return { seconds, rss };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const json: Record<string, unknown> = { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, runs: RUNS };
const rows: string[][] = [];
for (const mode of ['compiled', 'tsx'] as Mode[]) {
  const help = Array.from({ length: RUNS }, () => run(mode, ['agent', '--help']));
  const helpS = median(help.map((h) => h.seconds));
  const helpMB = median(help.map((h) => h.rss.find((x) => x.cmd === 'agent')!.rssKB / 1024));
  const round = run(mode, ['fleet', '--agents', '1', '--rounds', '1', '--samples-per-client', String(values.samples), '--engine', 'ort', '--dir', '@DIR/fleet']);
  // the agent process (argv "agent ..."), not the fleet parent (broker, aggregator) or the shard-carving child
  const agentMB = Math.max(...round.rss.filter((x) => x.cmd === 'agent').map((x) => x.rssKB / 1024));
  json[mode] = { agentHelpSeconds: helpS, agentHelpPeakMB: helpMB, fleetRoundSeconds: round.seconds, agentPeakMB: agentMB, processes: round.rss };
  rows.push([mode, helpS.toFixed(2), helpMB.toFixed(0), round.seconds.toFixed(1), agentMB.toFixed(0)]);
}
const header = ['run from', 'agent --help s (median)', 'agent --help peak MB', `1-agent fleet, 1 round, ${values.samples} samples: s`, 'agent process peak MB'];
process.stdout.write(textTable(header, rows) + '\n');
const md = `${markdownTable(header, rows)}\n\n${RUNS} runs of \`agent --help\` per mode (median); ${String(json['cpu'])}, ${String(json['cores'])} cores, Node ${process.version}. \`npm run bench:startup\``;
const updated = writeBenchmarkResults(values.out!, 'startup', 'bench:startup', md, json);
process.stdout.write(updated ? 'README block bench:startup updated\n' : 'results written (README block bench:startup not found)\n');
