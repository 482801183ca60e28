/**
 * `npm run bench:accuracy`: the report built from every stored run of a size (pure but for the
 * chart rendering): per alpha a table of each variant's accuracy at convergence over seeds, the
 * verdicts of every variant against FedProto and Local, and the per-round curves as one SVG with a
 * panel per alpha.
 *
 * Metrics: "head" is the classifier head; "proto" is the nearest global prototype among all K
 * classes (TinyProto, FedProto; Local has no global prototypes); "proto (own)" is the nearest
 * prototype among the client's own classes, the one prototype metric Local has too, so the
 * prototype verdict against Local uses it and the one against FedProto uses "proto".
 */
import { markdownTable } from '../common/table.ts';
import { colorAt, lineChart } from '../report/svg.ts';
import { formatPaired, formatSpread, meanCurve, pairedDiff, spreadOf, verdict, type Spread, type Verdict } from './accuracy-stats.ts';
import type { StoredRun } from './accuracy-runs.ts';

export interface VariantStats {
  readonly variant: string;
  readonly spec: string;
  readonly method: string;
  readonly seeds: readonly number[];
  readonly head: Spread | null;
  readonly proto: Spread | null;
  readonly protoOwn: Spread | null;
  readonly bestHead: Spread | null;
  readonly bestProto: Spread | null;
  readonly bestRoundHead: Spread | null;
  readonly rounds: Spread | null;
  readonly plateaued: number;
  /** Head accuracy gained over the run's last RECENT_ROUNDS rounds: near 0 when converged. */
  readonly recentGain: Spread | null;
  readonly bytesUp: number | null;
  /** Per seed, the last evaluation's head, proto and proto (own): for paired differences. */
  readonly perSeed: { readonly head: SeedValues; readonly proto: SeedValues; readonly protoOwn: SeedValues };
}

type SeedValues = ReadonlyMap<number, number | null>;

export const RECENT_ROUNDS = 10;

/** The head accuracy at the last evaluation minus the one RECENT_ROUNDS rounds earlier (null when the run is shorter). */
export function recentHeadGain(run: StoredRun): number | null {
  const ev = run.rounds.filter((r) => r.evaluated && r.accuracyHead !== null);
  const last = ev[ev.length - 1];
  if (!last) return null;
  const before = [...ev].reverse().find((r) => r.round <= last.round - RECENT_ROUNDS);
  return before ? last.accuracyHead! - before.accuracyHead! : null;
}

/** The last evaluated value of a metric in a run (the run's final evaluation). */
function lastOf(run: StoredRun, pick: (r: StoredRun['rounds'][number]) => number | null): number | null {
  for (let i = run.rounds.length - 1; i >= 0; i--) {
    const v = pick(run.rounds[i]!);
    if (run.rounds[i]!.evaluated && v !== null) return v;
  }
  return null;
}

export function variantStats(runs: readonly StoredRun[]): VariantStats {
  const r0 = runs[0]!;
  return {
    variant: r0.variant,
    spec: r0.spec,
    method: r0.method,
    seeds: runs.map((r) => r.seed).sort((a, b) => a - b),
    head: spreadOf(runs.map((r) => lastOf(r, (x) => x.accuracyHead))),
    proto: spreadOf(runs.map((r) => lastOf(r, (x) => x.accuracyPrototype))),
    protoOwn: spreadOf(runs.map((r) => lastOf(r, (x) => x.accuracyPrototypeOwn))),
    bestHead: spreadOf(runs.map((r) => r.summary.best.accuracyHead)),
    bestProto: spreadOf(runs.map((r) => r.summary.best.accuracyPrototype)),
    bestRoundHead: spreadOf(runs.map((r) => r.summary.best.roundHead)),
    rounds: spreadOf(runs.map((r) => r.rounds.length)),
    plateaued: runs.filter((r) => r.stopped.reason === 'plateau').length,
    recentGain: spreadOf(runs.map(recentHeadGain)),
    bytesUp: spreadOf(runs.map((r) => r.summary.meanBytesUpPerClientRound))?.mean ?? null,
    perSeed: {
      head: new Map(runs.map((r) => [r.seed, lastOf(r, (x) => x.accuracyHead)])),
      proto: new Map(runs.map((r) => [r.seed, lastOf(r, (x) => x.accuracyPrototype)])),
      protoOwn: new Map(runs.map((r) => [r.seed, lastOf(r, (x) => x.accuracyPrototypeOwn)])),
    },
  };
}

/** Per alpha, per variant (in `order`, then any other stored variant by name). */
export function groupRuns(runs: readonly StoredRun[], order: readonly string[]): Map<number, VariantStats[]> {
  const alphas = [...new Set(runs.map((r) => r.alpha))].sort((a, b) => a - b);
  const names = [...new Set(runs.map((r) => r.variant))].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || a.localeCompare(b);
  });
  const out = new Map<number, VariantStats[]>();
  for (const alpha of alphas) {
    const list: VariantStats[] = [];
    for (const n of names) {
      const rs = runs.filter((r) => r.alpha === alpha && r.variant === n);
      if (rs.length > 0) list.push(variantStats(rs));
    }
    out.set(alpha, list);
  }
  return out;
}

const rangeText = (s: Spread | null, digits = 0): string => (s === null ? 'n/a' : s.n > 1 && s.min !== s.max ? `${s.mean.toFixed(digits)} (${s.min}-${s.max})` : s.mean.toFixed(digits));

export const TABLE_HEADER = ['variant', 'seeds', 'head, last', 'proto, last', 'proto (own), last', 'best head', 'best proto', 'best-head round', 'rounds run', 'plateau', `head gain, last ${RECENT_ROUNDS} rounds`, 'up B/client/round'];

export function tableRows(stats: readonly VariantStats[]): string[][] {
  return stats.map((s) => [
    s.variant,
    String(s.seeds.length),
    formatSpread(s.head),
    formatSpread(s.proto),
    formatSpread(s.protoOwn),
    formatSpread(s.bestHead),
    formatSpread(s.bestProto),
    rangeText(s.bestRoundHead),
    rangeText(s.rounds),
    `${s.plateaued}/${s.seeds.length}`,
    s.recentGain === null ? 'n/a' : `${s.recentGain.mean >= 0 ? '+' : ''}${(s.recentGain.mean * 100).toFixed(2)}`,
    s.bytesUp === null ? 'n/a' : s.bytesUp.toFixed(0),
  ]);
}

const WORD: Record<Verdict, string> = { lead: 'leads', tie: 'ties', trail: 'trails' };
const pts = (s: Spread): string => (s.mean * 100).toFixed(2);

type Metric = 'head' | 'proto' | 'protoOwn';

/** "leads FedProto by head (92.40 vs 91.00, spread 0.30; paired by seed +1.40 ± 0.20 (3/3 seeds >=))". */
function compare(a: VariantStats, b: VariantStats, metric: Metric, against: string, label: string): { text: string; atLeast: boolean | null } {
  const x = a[metric];
  const y = b[metric];
  if (x === null || y === null) return { text: `${label} vs ${against}: not measured`, atLeast: null };
  const v = verdict(x, y);
  const paired = formatPaired(pairedDiff(a.perSeed[metric], b.perSeed[metric]));
  return { text: `${WORD[v]} ${against} by ${label} (${pts(x)} vs ${pts(y)}, spread ${(Math.max(x.std, y.std) * 100).toFixed(2)}; paired by seed ${paired})`, atLeast: v !== 'trail' };
}

const yesNo = (b: boolean | null): string => (b === null ? 'not measured' : b ? 'yes' : 'no');

/**
 * Per alpha, one sentence per variant that is neither FedProto nor Local (names 'fedproto' and
 * 'local'): whether it is >= FedProto and >= Local by head and by prototype, from the numbers.
 */
export function verdictLines(groups: ReadonlyMap<number, readonly VariantStats[]>, baselines = { fedproto: 'fedproto', local: 'local' }): string[] {
  const out: string[] = [];
  for (const [alpha, stats] of groups) {
    const fed = stats.find((s) => s.variant === baselines.fedproto);
    const local = stats.find((s) => s.variant === baselines.local);
    for (const s of stats) {
      if (s === fed || s === local) continue;
      const parts: { text: string; atLeast: boolean | null }[] = [];
      if (fed) parts.push(compare(s, fed, 'head', 'FedProto', 'head'), compare(s, fed, 'proto', 'FedProto', 'prototype (all K)'));
      if (local) parts.push(compare(s, local, 'head', 'Local', 'head'), compare(s, local, 'protoOwn', 'Local', 'prototype (own classes)'));
      if (parts.length === 0) continue;
      const summary = [
        fed ? `>= FedProto by head: ${yesNo(parts[0]!.atLeast)}, by prototype: ${yesNo(parts[1]!.atLeast)}` : null,
        local ? `>= Local by head: ${yesNo(parts[fed ? 2 : 0]!.atLeast)}, by prototype: ${yesNo(parts[fed ? 3 : 1]!.atLeast)}` : null,
      ].filter((x) => x !== null);
      out.push(`**Dir(${alpha}), ${s.variant}** (mean over ${s.seeds.length} seed${s.seeds.length === 1 ? '' : 's'}, last evaluation): ${summary.join('; ')}. It ${parts.map((p) => p.text).join('; ')}.`);
    }
  }
  return out;
}

/** Mean-over-seeds curves, one panel per alpha, head solid and prototype (own classes) dashed; one SVG. */
export function curvesSvg(runs: readonly StoredRun[], groups: ReadonlyMap<number, readonly VariantStats[]>): string {
  const W = 640;
  const H = 440;
  const names = [...new Set([...groups.values()].flatMap((l) => l.map((s) => s.variant)))];
  const panels = [...groups.entries()].map(([alpha, stats]) =>
    lineChart({
      title: `Dir(${alpha}): mean over seeds`,
      xLabel: 'round',
      yLabel: 'accuracy',
      yPercent: true,
      yFromZero: false,
      width: W,
      height: H,
      series: stats.flatMap((s) => {
        const rs = runs.filter((r) => r.alpha === alpha && r.variant === s.variant);
        const color = colorAt(names.indexOf(s.variant));
        const curve = (pick: (r: StoredRun['rounds'][number]) => number | null) =>
          meanCurve(rs.map((r) => ({ points: r.rounds.filter((x) => x.evaluated).map((x) => ({ round: x.round, value: pick(x) })) }))).map((p) => ({ x: p.round, y: p.value }));
        return [
          { name: `${s.variant} head`, color, points: curve((x) => x.accuracyHead) },
          { name: `${s.variant} proto (own)`, color, dashed: true, points: curve((x) => x.accuracyPrototypeOwn) },
        ];
      }),
    }),
  );
  const inner = panels.map((svg, i) => svg.replace(/<svg\b/, `<svg x="${i * W}" y="0"`));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * Math.max(1, panels.length)}" height="${H}" viewBox="0 0 ${W * Math.max(1, panels.length)} ${H}">\n<rect width="100%" height="100%" fill="#ffffff"/>\n${inner.join('\n')}\n</svg>\n`;
}

/** Whether the runs converged: how many the plateau rule stopped, and how much the others were still gaining. */
export function convergenceLine(runs: readonly StoredRun[]): string {
  const capped = runs.filter((r) => r.stopped.reason !== 'plateau');
  const gain = spreadOf(capped.map(recentHeadGain));
  const cap = Math.max(...runs.map((r) => r.size.maxRounds));
  return (
    `Convergence: the plateau rule stopped ${runs.length - capped.length} of ${runs.length} runs` +
    (capped.length === 0
      ? '.'
      : `; the other ${capped.length} ran to the cap of ${cap} rounds` +
        (gain === null ? '.' : `, their head accuracy still changing by ${(gain.mean * 100).toFixed(2)} points on average over their last ${RECENT_ROUNDS} rounds (${(gain.min * 100).toFixed(2)} to ${(gain.max * 100).toFixed(2)}), so they had ${gain.mean > 0.005 ? 'not' : 'nearly'} converged.`))
  );
}

/** The Markdown of the report: per alpha a table, then the verdicts. */
export function reportMarkdown(groups: ReadonlyMap<number, readonly VariantStats[]>, runs: readonly StoredRun[] = []): string {
  const parts: string[] = [];
  for (const [alpha, stats] of groups) parts.push(`**Dir(${alpha})**\n\n${markdownTable(TABLE_HEADER, tableRows(stats))}`);
  if (runs.length > 0) parts.push(convergenceLine(runs));
  const lines = verdictLines(groups);
  if (lines.length > 0) parts.push(lines.join('\n\n'));
  return parts.join('\n\n');
}
