/**
 * TinyProto's mu from what the agents report (issue 12): mu = muFactor * K / N, and N, the
 * fleet's total training-sample count, is the sum of the counts n_i the agents' UPLOADs carry
 * (PROTOCOL.md §3.3: one number per agent, never per class) instead of a hand-typed
 * `--total-train-samples`. Pure: the ledger is rebuilt from stored uploads after a restart.
 *
 *   every agent reported     N = sum_i n_i                         (source 'reported')
 *   k of A agents reported   N = (sum of the k counts) * A / k     (source 'estimated': the mean
 *                            reported count times the number of agents, until all have reported)
 *   none reported yet        N = the configured total, if any      (source 'configured')
 *   muFrom 'configured'      N = the configured total, always      (source 'configured')
 *
 * A relay reports its agents' counts summed, with how many agents the sum covers (PARTIAL,
 * PROTOCOL.md §3.8): the coordinator adds each relay's latest figure to its direct agents' counts.
 *
 * Two mus per round, both reproducible from the store alone:
 * - the intake mu (value bounds and norm clip of method/robust.ts) is fixed when the round opens,
 *   from the counts of earlier rounds' uploads (or the configured total); before any count is
 *   known and with none configured, an upload is bounded with its own count as if every agent
 *   held as many (n_i * A);
 * - the aggregation mu (P_j = mu * sum_i n_ij p_ij) is chosen at the close, from every count
 *   known then (the round's own uploads included), and recorded in the round's summary.
 */
import { TinyProtoError } from '../common/errors.ts';
import { muFromTotals } from '../method/aggregate.ts';
import type { PartialTrainSamples } from '../wire/codec-types.ts';

export type MuFrom = 'reported' | 'configured';
export const MU_FROM: readonly MuFrom[] = Object.freeze(['reported', 'configured'] as const);
export type MuSource = 'fixed' | 'reported' | 'estimated' | 'configured';

/** A configured total further than this (relative to the reported one) from it is warned about. */
export const TOTAL_DISAGREEMENT = 0.1;

/** The ExperimentConfig fields (aggregator/config.ts) mu depends on. */
export interface MuConfig {
  readonly method: string;
  readonly mu: number | 'auto';
  readonly muFactor: number;
  readonly numClasses: number;
  readonly totalTrainSamples: number | null;
  readonly muFrom: MuFrom;
  readonly agents: readonly string[];
}

/** The training-sample counts the experiment's agents reported: one per agent, fixed for the experiment. */
export class ReportedSamples {
  private readonly counts = new Map<string, number>();
  private total = 0;
  /** Per relay, its latest summed counts (how many of its agents, their total). */
  private readonly relays = new Map<string, PartialTrainSamples>();

  constructor(private readonly agents: number) {}

  /** The count `agent` reported, if it did. */
  get(agent: string): number | undefined {
    return this.counts.get(agent);
  }

  get reportedAgents(): number { return this.counts.size; } // prettier-ignore

  /** E_TRAIN_SAMPLES when `agent` reported a different count before (its shard does not change within an experiment). */
  check(agent: string, n: number | null): void {
    const before = this.counts.get(agent);
    if (n !== null && before !== undefined && before !== n) {
      throw new TinyProtoError('E_TRAIN_SAMPLES', `agent "${agent}" reports ${n} training samples, but reported ${before} earlier in this experiment; a count must not change within an experiment`, { agent, before, got: n });
    }
  }

  /** Records a committed upload's count (checked with `check` at intake). */
  note(agent: string, n: number | null): void {
    if (n === null) return;
    this.check(agent, n);
    if (this.counts.has(agent)) return;
    this.counts.set(agent, n);
    this.total += n;
  }

  /**
   * E_TRAIN_SAMPLES when a relay's summed counts contradict its earlier ones: fewer agents, the
   * same agents with another total, or more agents whose counts would be below 1 each.
   */
  checkRelay(relay: string, t: PartialTrainSamples | null): void {
    const before = this.relays.get(relay);
    if (t === null || before === undefined) return;
    if (t.agents < before.agents || (t.agents === before.agents && t.total !== before.total) || t.total - before.total < t.agents - before.agents) {
      throw new TinyProtoError('E_TRAIN_SAMPLES', `relay "${relay}" reports ${t.total} training samples of ${t.agents} agents, but reported ${before.total} of ${before.agents} earlier in this experiment; its agents' counts must not change`, { relay, before, got: t });
    }
  }

  /** Records a committed PARTIAL's summed counts (checked with `checkRelay` at intake). */
  noteRelay(relay: string, t: PartialTrainSamples | null): void {
    if (t === null) return;
    this.checkRelay(relay, t);
    this.relays.set(relay, { agents: t.agents, total: t.total });
  }

  /** What a relay reports upstream: the counts of its agents so far, summed (null before any). */
  summed(): PartialTrainSamples | null {
    return this.counts.size === 0 ? null : { agents: this.counts.size, total: this.total };
  }

  /** N from the counts: the sum when every agent reported, else the mean times the agents; null before any. */
  estimate(): { total: number; complete: boolean; reportedAgents: number; reportedSum: number } | null {
    let k = this.counts.size;
    let sum = this.total;
    for (const r of this.relays.values()) {
      k += r.agents;
      sum += r.total;
    }
    if (k === 0) return null;
    const complete = k >= this.agents;
    return { total: complete ? sum : (sum * this.agents) / k, complete, reportedAgents: k, reportedSum: sum };
  }
}

/** Which mu a round uses and where its N came from. */
export interface MuChoice {
  readonly mu: number;
  readonly source: MuSource;
  /** The N mu was derived from (null for a fixed mu). */
  readonly totalTrainSamples: number | null;
  /** N from the agents' counts (sum, or the estimate), null before any count. */
  readonly reportedTotal: number | null;
  readonly reportedAgents: number;
  /** Every agent has reported (reportedTotal is a sum, not an estimate). */
  readonly reportedComplete: boolean;
  readonly configured: number | null;
}

/**
 * The mu to use now (null: no scaling, i.e. not TinyProto, or mu 'auto' with neither a count nor
 * a configured total yet).
 */
export function chooseMu(c: MuConfig, reported: ReportedSamples): MuChoice | null {
  if (c.method !== 'tinyproto') return null;
  const est = reported.estimate();
  const base = { reportedTotal: est?.total ?? null, reportedAgents: est?.reportedAgents ?? 0, reportedComplete: est?.complete ?? false, configured: c.totalTrainSamples };
  if (c.mu !== 'auto') return { ...base, mu: c.mu, source: 'fixed', totalTrainSamples: null };
  const configured = c.totalTrainSamples;
  if (c.muFrom === 'configured' || est === null) {
    if (configured === null) return null;
    return { ...base, mu: muFromTotals(configured, c.numClasses, c.muFactor), source: 'configured', totalTrainSamples: configured };
  }
  return { ...base, mu: muFromTotals(est.total, c.numClasses, c.muFactor), source: est.complete ? 'reported' : 'estimated', totalTrainSamples: est.total };
}

/**
 * The mu one upload is bounded and clipped with: the round's intake mu, or before any is known
 * its own count times the number of agents. E_TRAIN_SAMPLES for an upload without a count when
 * that is all there is.
 */
export function uploadBoundMu(c: MuConfig, intakeMu: number | null, n: number | null, agent: string): number | null {
  if (c.method !== 'tinyproto' || intakeMu !== null) return intakeMu;
  if (n === null) {
    throw new TinyProtoError('E_TRAIN_SAMPLES', `upload from "${agent}" reports no training-sample count, and mu 'auto' has no configured total to fall back on (give --total-train-samples or mu, or update the agent)`, { agent });
  }
  return muFromTotals(n * c.agents.length, c.numClasses, c.muFactor);
}

/** The mu a PARTIAL's sums are bounded with: the intake mu, or its relay's summed counts' (as for one upload). */
export function partialBoundMu(c: MuConfig, intakeMu: number | null, t: PartialTrainSamples | null, relay: string): number | null {
  if (c.method !== 'tinyproto' || intakeMu !== null) return intakeMu;
  if (t === null) {
    throw new TinyProtoError('E_TRAIN_SAMPLES', `partial from relay "${relay}" reports no training-sample counts, and mu 'auto' has no configured total to fall back on (give --total-train-samples or mu, or update the relay)`, { relay });
  }
  return muFromTotals((t.total * c.agents.length) / t.agents, c.numClasses, c.muFactor);
}

/**
 * The warning when a configured total and the agents' counts disagree by more than 10%: both
 * figures and the mu that results (null when they agree, or one of them is missing).
 */
export function totalsDisagreement(choice: MuChoice | null): string | null {
  if (choice === null || choice.source === 'fixed' || choice.configured === null || choice.reportedTotal === null) return null;
  const { configured, reportedTotal } = choice;
  if (Math.abs(configured - reportedTotal) <= TOTAL_DISAGREEMENT * reportedTotal) return null;
  const how = choice.reportedComplete ? `sum of ${choice.reportedAgents} agents' counts` : `estimated: the mean of the ${choice.reportedAgents} counts reported so far times the agents`;
  const use = choice.source === 'configured' ? `using ${configured} (muFrom configured)` : `using ${formatCount(reportedTotal)} (--mu-from configured keeps ${configured})`;
  return `configured total training samples ${configured} disagrees with the ${formatCount(reportedTotal)} the agents report (${how}) by more than ${TOTAL_DISAGREEMENT * 100}%: ${use}, mu = ${choice.mu.toPrecision(6)}`;
}

function formatCount(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
