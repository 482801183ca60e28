/**
 * The report's charts, built from RunData. A chart whose data is missing is skipped with a
 * reason (never drawn empty).
 */
import type { PhaseSeconds, RoundTelemetry } from '../wire/telemetry.ts';
import type { RunData } from './model.ts';
import { colorAt, groupedBarChart, lineChart, stackedBarChart, type LineSeries } from './svg.ts';
import { bandSeries, MAX_AGENT_LINES } from './bands.ts';

export interface Chart {
  /** File stem, unique within the report, e.g. "accuracy-runs" or "energy-run-1". */
  readonly id: string;
  readonly title: string;
  /** The run the chart is about; null for charts comparing all runs. */
  readonly run: string | null;
  readonly svg: string;
}

export interface SkippedChart {
  readonly id: string;
  readonly title: string;
  readonly run: string | null;
  readonly reason: string;
}

export const PHASES: readonly (keyof PhaseSeconds)[] = ['dataLoad', 'train', 'prototypes', 'encode', 'upload', 'waitGlobal', 'evaluate'];
const PHASE_LABEL: Record<string, string> = {
  dataLoad: 'data load',
  train: 'train',
  prototypes: 'prototypes',
  encode: 'encode',
  upload: 'upload',
  waitGlobal: 'wait for global',
  evaluate: 'evaluate',
  other: 'other',
};

/** Groups bars by round with one bar per agent up to this many bars; a line chart beyond. */
const MAX_GROUPED_BARS = 150;

function slug(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return t.slice(0, 60) || 'run';
}

const uniq = <T>(xs: Iterable<T>): T[] => [...new Set(xs)];
const sortedAgents = (t: readonly { agent: string }[]): string[] => uniq(t.map((x) => x.agent)).sort();
const sortedRounds = (t: readonly { round: number }[]): number[] => uniq(t.map((x) => x.round)).sort((a, b) => a - b);

/** "estimate: rpi4b" / "rapl: /sys/class/powercap/..." - every distinct source an agent reported. */
export function energySourceLabel(records: readonly RoundTelemetry[]): string {
  const label = (r: RoundTelemetry): string => {
    if (r.energy.source === 'estimate') return `estimate: ${r.board}`;
    const detail = r.energy.detail.startsWith(`${r.energy.source}:`) ? r.energy.detail.slice(r.energy.source.length + 1).trim() : r.energy.detail;
    return detail ? `${r.energy.source}: ${detail.length > 40 ? detail.slice(0, 39) + '…' : detail}` : r.energy.source;
  };
  return uniq(records.map(label)).join(', ');
}

function byteUnit(max: number): { div: number; unit: string } {
  if (max >= 1024 * 1024) return { div: 1024 * 1024, unit: 'MiB' };
  if (max >= 1024) return { div: 1024, unit: 'KiB' };
  return { div: 1, unit: 'B' };
}

/** Mean phase seconds over the records, with "other" = round - sum of phases (when positive). */
function phaseMeans(records: readonly RoundTelemetry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of [...PHASES, 'other']) out[p] = 0;
  if (records.length === 0) return out;
  for (const r of records) {
    let sum = 0;
    for (const p of PHASES) {
      out[p]! += r.phases[p];
      sum += r.phases[p];
    }
    out['other']! += Math.max(0, r.phases.round - sum);
  }
  for (const k of Object.keys(out)) out[k]! /= records.length;
  return out;
}

function latencySeries(perCategory: readonly Record<string, number>[]): { name: string; values: number[]; color: string }[] {
  return [...PHASES, 'other' as const]
    .map((p, i) => ({ name: PHASE_LABEL[p] ?? p, values: perCategory.map((c) => c[p] ?? 0), color: colorAt(i) }))
    .filter((s) => s.values.some((v) => v > 0));
}

export function buildCharts(runs: readonly RunData[]): { charts: Chart[]; skipped: SkippedChart[] } {
  const charts: Chart[] = [];
  const skipped: SkippedChart[] = [];
  const ids = new Set<string>();
  const idFor = (base: string): string => {
    let id = base;
    for (let i = 2; ids.has(id); i++) id = `${base}-${i}`;
    ids.add(id);
    return id;
  };
  const add = (base: string, title: string, run: string | null, svg: () => string | null, reason: string): void => {
    const s = svg();
    if (s === null) skipped.push({ id: base, title, run, reason });
    else charts.push({ id: idFor(base), title, run, svg: s });
  };
  const compare = runs.length > 1;

  // (a) accuracy per round, one colour per run: head solid, prototype dashed
  add('accuracy-runs', compare ? 'Accuracy per round (runs compared)' : 'Accuracy per round', null, () => {
    const series: LineSeries[] = [];
    runs.forEach((run, i) => {
      const head = run.rounds.map((r) => ({ x: r.round, y: r.accuracyHead }));
      const proto = run.rounds.map((r) => ({ x: r.round, y: r.accuracyPrototype }));
      if (head.some((p) => p.y !== null)) series.push({ name: `${run.name}: head`, points: head, color: colorAt(i) });
      if (proto.some((p) => p.y !== null)) series.push({ name: `${run.name}: prototype`, points: proto, color: colorAt(i), dashed: true });
    });
    if (series.length === 0) return null;
    return lineChart({ title: compare ? 'Accuracy per round (runs compared)' : 'Accuracy per round', xLabel: 'round', yLabel: 'accuracy (test-count-weighted mean)', yPercent: true, series });
  }, 'no run recorded any accuracy');

  // (a2) accuracy against cumulative wall-clock time and against cumulative bytes, runs side by side
  const cumulative = (run: RunData, f: (r: RunData['rounds'][number]) => number) => {
    let acc = 0;
    return run.rounds.map((r) => ({ r, x: (acc += f(r)) }));
  };
  const versus = (id: string, title: string, xLabel: string, f: (r: RunData['rounds'][number]) => number, scale: (max: number) => { div: number; unit: string }): void =>
    add(id, title, null, () => {
      const cum = runs.map((run) => cumulative(run, f));
      const max = Math.max(0, ...cum.flat().map((c) => c.x));
      if (max <= 0) return null;
      const { div, unit } = scale(max);
      const series: LineSeries[] = [];
      runs.forEach((run, i) => {
        const c = cum[i]!;
        if (c.some((p) => p.r.accuracyHead !== null)) series.push({ name: `${run.name}: head`, points: c.map((p) => ({ x: p.x / div, y: p.r.accuracyHead })), color: colorAt(i) });
        if (c.some((p) => p.r.accuracyPrototype !== null)) series.push({ name: `${run.name}: prototype`, points: c.map((p) => ({ x: p.x / div, y: p.r.accuracyPrototype })), color: colorAt(i), dashed: true });
      });
      if (series.length === 0) return null;
      return lineChart({ title, xLabel: `${xLabel} (${unit})`, yLabel: 'accuracy (test-count-weighted mean)', yPercent: true, series });
    }, 'no run recorded accuracy with time or bytes');
  versus('accuracy-time', 'Accuracy against wall-clock time', 'cumulative round time', (r) => r.seconds, (max) => (max >= 600 ? { div: 60, unit: 'min' } : { div: 1, unit: 's' }));
  versus('accuracy-bytes', 'Accuracy against bytes exchanged', 'cumulative bytes up and down, all agents', (r) => r.bytesUp + r.bytesDown, byteUnit);

  // (b) cumulative bytes per run
  add('bytes-runs', 'Cumulative bytes', null, () => {
    const cum = runs.map((run) => {
      let up = 0;
      let down = 0;
      return run.rounds.map((r) => ({ round: r.round, up: (up += r.bytesUp), down: (down += r.bytesDown) }));
    });
    const max = Math.max(0, ...cum.flat().map((c) => Math.max(c.up, c.down)));
    if (max <= 0) return null;
    const { div, unit } = byteUnit(max);
    const series: LineSeries[] = [];
    runs.forEach((run, i) => {
      const c = cum[i]!;
      if (c.length === 0) return;
      series.push({ name: `${run.name}: up`, points: c.map((p) => ({ x: p.round, y: p.up / div })), color: colorAt(i) });
      series.push({ name: `${run.name}: down`, points: c.map((p) => ({ x: p.round, y: p.down / div })), color: colorAt(i), dashed: true });
    });
    return lineChart({ title: 'Cumulative bytes (encoded messages, all agents)', xLabel: 'round', yLabel: `cumulative ${unit}`, series });
  }, 'no bytes were exchanged (no rounds, or the Local method)');

  for (const run of runs) {
    const s = slug(run.name);
    const suffix = compare ? ` - ${run.name}` : '';

    // (a) accuracy per agent
    add(`accuracy-agents-${s}`, `Accuracy per agent${suffix}`, run.name, () => {
      if (run.perAgent.length === 0) return null;
      const series: LineSeries[] = [];
      const all = sortedAgents(run.perAgent);
      if (all.length > MAX_AGENT_LINES) {
        const rs = sortedRounds(run.perAgent);
        const at = (r: number) => run.perAgent.filter((a) => a.round === r);
        series.push(...bandSeries('head', rs, (r) => at(r).map((a) => a.accuracyHead), colorAt(0), all.length));
        if (run.perAgent.some((a) => a.accuracyPrototype !== null)) series.push(...bandSeries('prototype', rs, (r) => at(r).map((a) => a.accuracyPrototype), colorAt(1), all.length));
        return lineChart({ title: `Accuracy per agent${suffix}`, xLabel: 'round', yLabel: 'accuracy on the agent\u2019s test split', yPercent: true, series });
      }
      all.forEach((agent, j) => {
        const rows = run.perAgent.filter((a) => a.agent === agent);
        series.push({ name: `${agent}: head`, points: rows.map((a) => ({ x: a.round, y: a.accuracyHead })), color: colorAt(j) });
        if (rows.some((a) => a.accuracyPrototype !== null)) {
          series.push({ name: `${agent}: prototype`, points: rows.map((a) => ({ x: a.round, y: a.accuracyPrototype })), color: colorAt(j), dashed: true });
        }
      });
      return lineChart({ title: `Accuracy per agent${suffix}`, xLabel: 'round', yLabel: 'accuracy on the agent\u2019s test split', yPercent: true, series });
    }, 'no per-agent accuracy recorded');

    const tel = run.telemetry;
    const agents = sortedAgents(tel);
    const rounds = sortedRounds(tel);
    const noTelemetry = 'no telemetry recorded for this run';

    // (c) energy per round per agent, with each agent's energy source in the legend
    add(`energy-${s}`, `Energy per round per agent${suffix}`, run.name, () => {
      if (tel.length === 0) return null;
      const title = `Energy per round per agent${suffix}`;
      const label = (agent: string): string => `${agent} (${energySourceLabel(tel.filter((t) => t.agent === agent))})`;
      const value = (agent: string, round: number): number | null => tel.find((t) => t.agent === agent && t.round === round)?.energy.joules ?? null;
      if (rounds.length * agents.length <= MAX_GROUPED_BARS && agents.length <= MAX_AGENT_LINES) {
        return groupedBarChart({
          title,
          xLabel: 'round',
          yLabel: 'energy (J)',
          categories: rounds.map(String),
          series: agents.map((agent, j) => ({ name: label(agent), values: rounds.map((r) => value(agent, r)), color: colorAt(j) })),
        });
      }
      return lineChart({
        title,
        xLabel: 'round',
        // many agents: the sources move from the legend (one entry per agent) to the axis
        yLabel: agents.length > MAX_AGENT_LINES ? `energy (J; ${energySourceLabel(tel)})` : 'energy (J)',
        series:
          agents.length > MAX_AGENT_LINES
            ? bandSeries('energy', rounds, (r) => agents.map((a) => value(a, r)), colorAt(0), agents.length)
            : agents.map((agent, j) => ({ name: label(agent), points: rounds.map((r) => ({ x: r, y: value(agent, r) })), color: colorAt(j) })),
      });
    }, noTelemetry);

    // (d) peak RSS per round per agent
    add(`memory-${s}`, `Peak RSS per round per agent${suffix}`, run.name, () => {
      if (tel.length === 0) return null;
      const rss = (agent: string, r: number): number | null => {
        const t = tel.find((x) => x.agent === agent && x.round === r);
        return t ? t.memory.peakRssBytes / 1e6 : null;
      };
      if (agents.length > MAX_AGENT_LINES) {
        return lineChart({ title: `Peak RSS per round per agent${suffix}`, xLabel: 'round', yLabel: 'peak resident set size (MB)', series: bandSeries('peak RSS', rounds, (r) => agents.map((a) => rss(a, r)), colorAt(0), agents.length) });
      }
      return lineChart({
        title: `Peak RSS per round per agent${suffix}`,
        xLabel: 'round',
        yLabel: 'peak resident set size (MB)',
        series: agents.map((agent, j) => ({
          name: agent,
          points: rounds.map((r) => {
            const t = tel.find((x) => x.agent === agent && x.round === r);
            return { x: r, y: t ? t.memory.peakRssBytes / 1e6 : null };
          }),
          color: colorAt(j),
        })),
      });
    }, noTelemetry);

    // (e) latency breakdown: mean over agents per round, and per agent for the last round
    add(`latency-rounds-${s}`, `Latency per phase, mean over agents${suffix}`, run.name, () => {
      if (tel.length === 0) return null;
      const series = latencySeries(rounds.map((r) => phaseMeans(tel.filter((t) => t.round === r))));
      if (series.length === 0) return null;
      return stackedBarChart({ title: `Latency per phase, mean over agents${suffix}`, xLabel: 'round', yLabel: 'seconds', categories: rounds.map(String), series });
    }, noTelemetry);

    const last = rounds[rounds.length - 1];
    add(`latency-agents-${s}`, `Latency per phase per agent, last round${suffix}`, run.name, () => {
      if (last === undefined) return null;
      const lastTel = tel.filter((t) => t.round === last);
      const lastAgents = sortedAgents(lastTel);
      const series = latencySeries(lastAgents.map((a) => phaseMeans(lastTel.filter((t) => t.agent === a))));
      if (series.length === 0) return null;
      return stackedBarChart({ title: `Latency per phase per agent, round ${last}${suffix}`, xLabel: 'agent', yLabel: 'seconds', categories: lastAgents, series });
    }, noTelemetry);
  }
  return { charts, skipped };
}
