/** writeReport: CSV, JSON, SVG + PNG charts and index.html for one or more runs. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import type { RunData } from './model.ts';
import { buildCharts, type Chart, type SkippedChart } from './charts.ts';
import { toCsv } from './csv.ts';
import { reportHtml } from './html.ts';
import { svgToPng } from './png.ts';
import { summariseRun, type RunSummary } from './summary.ts';

export interface ReportOptions {
  /** Page title (default "TinyProto report"). */
  readonly title?: string;
  /** PNG width in pixels (default 1000). */
  readonly pngWidth?: number;
  /** Report when each run first reached this accuracy (0..1), and what it cost to get there. */
  readonly targetAccuracy?: number;
  readonly now?: () => Date;
}

export interface ReportResult {
  readonly outDir: string;
  /** Names of the files written, relative to outDir, in the order written. */
  readonly files: readonly string[];
  readonly charts: readonly Chart[];
  readonly skipped: readonly SkippedChart[];
  readonly summaries: readonly RunSummary[];
}

function roundsCsv(runs: readonly RunData[]): string {
  const rows = runs.flatMap((run) => {
    let up = 0;
    let down = 0;
    return run.rounds.map((r) => [
      run.name, run.kind, run.method, r.round, r.accuracyHead, r.accuracyPrototype, r.bytesUp, r.bytesDown, (up += r.bytesUp), (down += r.bytesDown), r.seconds,
    ]);
  });
  return toCsv(
    ['run', 'kind', 'method', 'round', 'accuracy_head', 'accuracy_prototype', 'bytes_up', 'bytes_down', 'cumulative_bytes_up', 'cumulative_bytes_down', 'seconds'],
    rows,
  );
}

function agentsCsv(runs: readonly RunData[]): string {
  return toCsv(
    ['run', 'agent', 'round', 'accuracy_head', 'accuracy_prototype'],
    runs.flatMap((run) => run.perAgent.map((a) => [run.name, a.agent, a.round, a.accuracyHead, a.accuracyPrototype])),
  );
}

function telemetryCsv(runs: readonly RunData[]): string {
  return toCsv(
    [
      'run', 'experiment', 'agent', 'round', 'family', 'board',
      'phase_data_load_s', 'phase_train_s', 'phase_prototypes_s', 'phase_encode_s', 'phase_upload_s', 'phase_wait_global_s', 'phase_evaluate_s', 'phase_round_s',
      'peak_rss_bytes', 'heap_used_bytes', 'engine_bytes', 'engine_tensors', 'wasm_heap_bytes', 'free_system_bytes',
      'cpu_user_s', 'cpu_system_s', 'net_bytes_sent', 'net_bytes_received', 'temperature_c',
      'energy_joules', 'energy_source', 'energy_detail', 'accuracy_head', 'accuracy_prototype', 'test_count', 'at',
    ],
    runs.flatMap((run) =>
      run.telemetry.map((t) => [
        run.name, t.experiment, t.agent, t.round, t.family, t.board,
        t.phases.dataLoad, t.phases.train, t.phases.prototypes, t.phases.encode, t.phases.upload, t.phases.waitGlobal, t.phases.evaluate, t.phases.round,
        t.memory.peakRssBytes, t.memory.heapUsedBytes, t.memory.engineBytes, t.memory.engineTensors, t.memory.wasmHeapBytes, t.memory.freeSystemBytes,
        t.cpu.userSeconds, t.cpu.systemSeconds, t.net.bytesSent, t.net.bytesReceived, t.temperatureC,
        t.energy.joules, t.energy.source, t.energy.detail, t.accuracy?.head, t.accuracy?.prototype, t.accuracy?.testCount, t.at,
      ]),
    ),
  );
}

/**
 * Writes rounds.csv, agents.csv, telemetry.csv, report.json, every chart as .svg and .png, and
 * index.html into outDir (created if needed; files of the same names are replaced).
 */
export function writeReport(runs: readonly RunData[], outDir: string, opts: ReportOptions = {}): ReportResult {
  if (runs.length === 0) throw new TinyProtoError('E_CONFIG', 'report: no runs to report');
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${outDir}: cannot create the report directory (${(e as Error).message})`);
  }
  const files: string[] = [];
  const put = (name: string, data: string | Uint8Array): void => {
    writeFileSync(join(outDir, name), data);
    files.push(name);
  };
  const { charts, skipped } = buildCharts(runs);
  const summaries = runs.map((r) => summariseRun(r, opts.targetAccuracy ?? null));
  const generatedAt = (opts.now ?? (() => new Date()))();
  put('rounds.csv', roundsCsv(runs));
  put('agents.csv', agentsCsv(runs));
  put('telemetry.csv', telemetryCsv(runs));
  for (const c of charts) {
    put(`${c.id}.svg`, c.svg + '\n');
    put(`${c.id}.png`, svgToPng(c.svg, opts.pngWidth ?? 1000));
  }
  put(
    'report.json',
    JSON.stringify(
      {
        generatedAt: generatedAt.toISOString(),
        runs: runs.map((run, i) => ({ ...run, summary: summaries[i] })),
        charts: charts.map((c) => ({ id: c.id, title: c.title, run: c.run, svg: `${c.id}.svg`, png: `${c.id}.png` })),
        skipped,
      },
      null,
      1,
    ),
  );
  const title = opts.title ?? 'TinyProto report';
  put('index.html', reportHtml({ title, generatedAt, summaries, charts, skipped, files: [...files] }));
  return { outDir, files, charts, skipped, summaries };
}
