/** The tables and the statement of `npm run bench:wifi` (Markdown), from the runs' figures. */
import { markdownTable } from '../common/table.ts';
import { roundTimes, stragglers, toTarget } from '../report/targets.ts';
import { compareWorth, spread, stallOdds, uploadWorth, type UploadWorth, type WorthComparison } from './wifi-analysis.ts';
import type { WifiRun } from './wifi-run.ts';

export interface MethodFigures {
  readonly method: string;
  readonly rounds: number;
  readonly bestHead: number | null;
  readonly lastHead: number | null;
  readonly roundSeconds: { p50: number; p95: number } | null;
  /** Rounds 2.. only: round 1 includes the agents' start-up. */
  readonly roundSecondsAfterFirst: { p50: number; p95: number } | null;
  readonly toTarget: ReturnType<typeof toTarget>;
  /** Seconds from the end of round 1 (which includes the agents' start-up) to the target; 0 when round 1 reached it. */
  readonly toTargetAfterFirst: number | null;
  readonly messageBytesPerRound: { up: number; down: number };
  readonly linkBytesPerRound: { up: number; down: number };
  readonly stalls: number;
  readonly energyJoules: number | null;
  /** Agent-side publish-to-PUBACK time of the uploads (telemetry phases.upload), s. */
  readonly agentUploadSeconds: ReturnType<typeof spread>;
  readonly worth: UploadWorth;
  readonly runSeconds: number;
  /** Agent-rounds offline, crashes mid-upload (with what became of the upload), late (stale) uploads. */
  readonly churn: { offline: number; crashed: number; crashOutcomes: string[]; late: number };
  /** Agents whose round took over 1.5x the round's median (report/targets.ts), most often first. */
  readonly stragglers: readonly { agent: string; rounds: number }[];
}

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export function methodFigures(w: WifiRun, target: number): MethodFigures {
  const { run, result } = w;
  const rounds = run.rounds.length;
  const later = { ...run, rounds: run.rounds.filter((r) => r.round > 1) };
  const tel = run.telemetry;
  const reached = toTarget(run, target, 'head');
  return {
    method: w.run.name,
    rounds,
    bestHead: Math.max(...run.rounds.map((r) => r.accuracyHead ?? -1)) >= 0 ? Math.max(...run.rounds.map((r) => r.accuracyHead ?? -1)) : null,
    lastHead: run.rounds[rounds - 1]?.accuracyHead ?? null,
    roundSeconds: roundTimes(run),
    roundSecondsAfterFirst: roundTimes(later),
    toTarget: reached,
    toTargetAfterFirst: reached === null ? null : reached.round === 1 ? 0 : (toTarget(later, target, 'head')?.seconds ?? null),
    messageBytesPerRound: { up: mean(run.rounds.map((r) => r.bytesUp)), down: mean(run.rounds.map((r) => r.bytesDown)) },
    linkBytesPerRound: {
      up: rounds ? result.links.reduce((a, l) => a + l.upBytes, 0) / rounds : 0,
      down: rounds ? result.links.reduce((a, l) => a + l.downBytes, 0) / rounds : 0,
    },
    stalls: result.links.reduce((a, l) => a + l.stalls, 0),
    energyJoules: tel.length ? tel.reduce((a, t) => a + t.energy.joules, 0) : null,
    agentUploadSeconds: spread(tel.map((t) => t.phases.upload)),
    worth: uploadWorth({ method: w.run.name, uploads: w.uploads, computed: w.computed, roundSeconds: run.rounds.map((r) => r.seconds) }),
    runSeconds: w.seconds,
    churn: {
      offline: result.participation.reduce((a, r) => a + r.offline.length, 0),
      crashed: result.crashes.length,
      crashOutcomes: result.crashes.map((c) => `${c.agent} r${c.round}: ${c.outcome}`),
      late: result.participation.reduce((a, r) => a + r.late.length, 0),
    },
    stragglers: stragglers(run),
  };
}

const pc = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
const sec = (x: number | null | undefined, d = 1): string => (x === null || x === undefined ? '-' : `${x.toFixed(d)} s`);
const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(x * 1000).toFixed(1)} ms`);
const kib = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : x >= 1024 * 1024 ? `${(x / 2 ** 20).toFixed(2)} MiB` : `${(x / 1024).toFixed(1)} KiB`);
const b = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${Math.round(x).toLocaleString('en-US')} B`);
const j = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${x.toFixed(0)} J`);

export function resultsTable(figs: readonly MethodFigures[], target: number): string {
  const header = ['', ...figs.map((f) => f.method)];
  const row = (label: string, f: (m: MethodFigures) => string): string[] => [label, ...figs.map(f)];
  return markdownTable(header, [
    row('rounds', (m) => String(m.rounds)),
    row('best / last accuracy (head)', (m) => `${pc(m.bestHead)} / ${pc(m.lastHead)}`),
    row('round time p50 / p95, all rounds', (m) => `${sec(m.roundSeconds?.p50)} / ${sec(m.roundSeconds?.p95)}`),
    row('round time p50 / p95, rounds 2+', (m) => `${sec(m.roundSecondsAfterFirst?.p50)} / ${sec(m.roundSecondsAfterFirst?.p95)}`),
    row(`rounds to ${pc(target)}`, (m) => (m.toTarget ? String(m.toTarget.round) : 'not reached')),
    row(`time to ${pc(target)}`, (m) => sec(m.toTarget?.seconds)),
    row(`time to ${pc(target)} after round 1 (start-up excluded)`, (m) => sec(m.toTargetAfterFirst)),
    row(`bytes to ${pc(target)} (messages, up + down)`, (m) => kib(m.toTarget?.bytes)),
    row(`energy to ${pc(target)} (all agents)`, (m) => j(m.toTarget?.energyJoules)),
    row('bytes per round up / down (messages)', (m) => `${kib(m.messageBytesPerRound.up)} / ${kib(m.messageBytesPerRound.down)}`),
    row('bytes per round up / down (through the links)', (m) => `${kib(m.linkBytesPerRound.up)} / ${kib(m.linkBytesPerRound.down)}`),
    row('energy, whole run (all agents)', (m) => j(m.energyJoules)),
    row('retransmission stalls (all links)', (m) => String(m.stalls)),
    row('churn: offline agent-rounds / crashes mid-upload / late uploads', (m) => `${m.churn.offline} / ${m.churn.crashed}${m.churn.crashOutcomes.length ? ` (${m.churn.crashOutcomes.join(', ')})` : ''} / ${m.churn.late}`),
    row('stragglers (round > 1.5x median; rounds)', (m) => (m.stragglers.length ? m.stragglers.slice(0, 4).map((x) => `${x.agent} (${x.rounds})`).join(', ') : 'none')),
  ]);
}

export function uploadTable(figs: readonly MethodFigures[]): string {
  const header = ['per upload', ...figs.map((f) => f.method)];
  const row = (label: string, f: (m: MethodFigures) => string): string[] => [label, ...figs.map(f)];
  return markdownTable(header, [
    row('uploads matched to a link transfer', (m) => String(m.worth.measuredSeconds?.n ?? 0)),
    row('message bytes (p50)', (m) => b(m.worth.messageBytes?.p50)),
    row('bytes on the link (p50; MQTT PUBLISH)', (m) => b(m.worth.linkBytes?.p50)),
    row('link time, measured p50 / p95', (m) => `${ms(m.worth.measuredSeconds?.p50)} / ${ms(m.worth.measuredSeconds?.p95)}`),
    row('link time, computed (bytes / rate + latency) p50', (m) => ms(m.worth.computedSeconds?.p50)),
    row('slowest upload per round, measured p50', (m) => ms(m.worth.slowestPerRound?.p50)),
    row('publish to PUBACK at the agent (telemetry) p50 / p95', (m) => `${ms(m.agentUploadSeconds?.p50)} / ${ms(m.agentUploadSeconds?.p95)}`),
    row('round time p50', (m) => sec(m.worth.roundSeconds?.p50, 2)),
  ]);
}

/** "What the 10x smaller upload is worth in seconds", stated from the figures. */
export function worthStatement(
  big: MethodFigures,
  small: MethodFigures,
  link: { label: string; stallProbability: number; stallMs: number },
): { text: string; comparison: WorthComparison } {
  const c = compareWorth(big.worth, small.worth);
  const f = (x: number | null, unit: 'ms' | 's'): string => (x === null ? 'n/a' : unit === 'ms' ? `${(x * 1000).toFixed(1)} ms` : `${x.toFixed(2)} s`);
  const ratio = c.bytesRatio === null ? 'n/a' : `${c.bytesRatio.toFixed(1)}x`;
  const perRound = (m: MethodFigures): number => {
    const n = m.worth.measuredSeconds?.n ?? 0;
    return m.rounds > 0 ? Math.max(1, Math.round(n / m.rounds)) : 1;
  };
  const odds = (m: MethodFigures): string => {
    const o = stallOdds(m.worth.linkBytes?.p50 ?? 0, link.stallProbability, link.stallMs, perRound(m));
    return `${m.method}'s ${o.segments} segment${o.segments === 1 ? '' : 's'}: ${(o.anyStall * 100).toFixed(1)}% of uploads and ${(o.anyInRound * 100).toFixed(0)}% of rounds of ${perRound(m)} uploads`;
  };
  const spreadOf = (m: MethodFigures): number | null => (m.worth.roundSeconds ? m.worth.roundSeconds.p95 - m.worth.roundSeconds.p50 : null);
  const noise = Math.max(spreadOf(big) ?? 0, spreadOf(small) ?? 0);
  const text =
    `**What the smaller upload is worth in seconds.** On ${link.label}, ${big.method}'s upload is ${ratio} ${small.method}'s on the link ` +
    `(${b(big.worth.linkBytes?.p50)} vs ${b(small.worth.linkBytes?.p50)} per MQTT PUBLISH, median). ` +
    `Computed as bytes / rate + latency, that is ${f(c.computedSavingSeconds, 'ms')} per upload (${ms(big.worth.computedSeconds?.p50)} vs ${ms(small.worth.computedSeconds?.p50)}); ` +
    `measured through the emulators (first byte in, last byte out) ${f(c.measuredSavingSeconds, 'ms')} (${ms(big.worth.measuredSeconds?.p50)} vs ${ms(small.worth.measuredSeconds?.p50)}, median). ` +
    `A round waits for its slowest upload, and there the difference is ${f(c.slowestSavingSeconds, 'ms')} (median over rounds, ${ms(big.worth.slowestPerRound?.p50)} vs ${ms(small.worth.slowestPerRound?.p50)}), ` +
    `mostly retransmission stalls rather than the rate: a stall (${link.stallMs} ms) hits ${odds(big)}, against ${odds(small)} (computed). ` +
    `The measured round time p50 was ${sec(big.worth.roundSeconds?.p50, 2)} for ${big.method} and ${sec(small.worth.roundSeconds?.p50, 2)} for ${small.method} (difference ${f(c.roundDifferenceSeconds, 's')}), ` +
    `so on this link the smaller upload is worth about ${f(c.slowestSavingSeconds, 'ms')} per round, ${c.savingShareOfRound === null ? 'n/a' : `${(c.savingShareOfRound * 100).toFixed(2)}%`} of a ${small.method} round` +
    (c.roundDifferenceSeconds !== null && Math.abs(c.roundDifferenceSeconds) < noise
      ? `; the measured round-time difference is within the rounds' own spread (p95 - p50 up to ${noise.toFixed(1)} s), so it does not show the saving: training on the emulated boards sets the round time here.`
      : '.');
  return { text, comparison: c };
}
