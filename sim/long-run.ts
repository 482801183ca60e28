/**
 * Rules for long simulations, pure: which rounds are evaluated (every k-th and always the last),
 * and when a run has reached its plateau (a number of evaluations in a row that improved neither
 * the best head accuracy nor the best prototype accuracy by more than a delta).
 */

/** Evaluate round `round` of `rounds`, every `every` rounds? The last round always is. */
export function evaluatesRound(round: number, rounds: number, every: number): boolean {
  return round === rounds || round % every === 0;
}

export interface Evaluated {
  readonly round: number;
  readonly accuracyHead: number | null;
  readonly accuracyPrototype: number | null;
}

/** Feed evaluated rounds in order; `stalled` says when `patience` evaluations in a row brought nothing new. */
export class PlateauRule {
  private bestHead = -Infinity;
  private bestPrototype = -Infinity;
  private since = 0;
  /** The round at which the rule fired, or null. */
  stoppedAt: number | null = null;

  constructor(
    private readonly patience: number,
    private readonly delta: number,
  ) {}

  /** Records one round; true when the run should stop after it. Rounds without accuracy are ignored. */
  feed(r: Evaluated): boolean {
    if (r.accuracyHead === null && r.accuracyPrototype === null) return false;
    const head = r.accuracyHead ?? -Infinity;
    const proto = r.accuracyPrototype ?? -Infinity;
    const improved = head > this.bestHead + this.delta || proto > this.bestPrototype + this.delta;
    this.bestHead = Math.max(this.bestHead, head);
    this.bestPrototype = Math.max(this.bestPrototype, proto);
    this.since = improved ? 0 : this.since + 1;
    if (this.patience > 0 && this.since >= this.patience && this.stoppedAt === null) this.stoppedAt = r.round;
    return this.stoppedAt !== null;
  }
}
