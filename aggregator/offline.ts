/**
 * Which agents are offline (their last STATUS, usually their last will), and since when, kept
 * across rounds: a round does not wait for a selected agent that has been offline for longer
 * than the grace period (a Wi-Fi blip or a quick restart is waited for).
 */
export class OfflineAgents {
  private readonly since = new Map<string, number>();

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number,
  ) {}

  /** Records an agent's state; returns the time its grace ends when it just went offline. */
  note(agent: string, state: string): number | null {
    if (state !== 'offline') {
      this.since.delete(agent);
      return null;
    }
    if (!this.since.has(agent)) this.since.set(agent, this.now());
    return this.since.get(agent)! + this.graceMs;
  }

  /** Selected agents without an upload that have been offline for longer than the grace. */
  gone(selected: ReadonlySet<string>, accepted: ReadonlySet<string>): number {
    let n = 0;
    for (const [a, t] of this.since) if (selected.has(a) && !accepted.has(a) && this.now() - t >= this.graceMs) n++;
    return n;
  }

  /** When the grace of each offline agent among `selected` ends (to look again then). */
  graceEnds(selected: ReadonlySet<string>): number[] {
    return [...this.since].filter(([a]) => selected.has(a)).map(([, t]) => t + this.graceMs);
  }
}
