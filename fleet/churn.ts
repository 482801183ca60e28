/**
 * Scripted churn in a fleet (the plans' `offline` and `crash-upload` schedules, method/fleet-plan.ts),
 * applied to the real agent processes while the aggregator's rounds go by:
 *
 * - offline rounds [a, b]: the agent's process is stopped (SIGTERM; it says offline and its
 *   SQLite store persists) when round a-1 closes (or when round a opens, if it still runs then),
 *   and started again when round b+1 opens: it resumes from its store and catches up. A selected
 *   agent that is offline simply misses the round; the aggregator's own rules (deadline, minimum
 *   uploads, offline grace) decide when the round closes.
 * - crash-upload round r: the agent is killed (SIGKILL) as soon as it prints that it trained
 *   round r (agent/run-experiment.ts prints it after the upload is committed to its outbox and
 *   right before it is published), and restarted after `restartDelayMs`; it resends from its
 *   outbox, and the upload counts once (a resend refused as duplicate) or is refused as stale
 *   (E_ROUND) when the round closed meanwhile.
 *
 * Every start, stop and kill is an event (logged, and kept in `events`). Only processes the
 * fleet started are signalled, by PID (fleet/agents.ts); every wait is bounded.
 */
import { silentLogger, type Logger } from '../common/logger.ts';
import { crashesInRound, isOffline, type AgentPlan } from '../method/fleet-plan.ts';
import type { AgentExit, AgentProcesses } from './agents.ts';

export type ChurnAction = 'offline' | 'rejoin' | 'crash' | 'restart';

export interface ChurnEvent {
  readonly agent: string;
  /** The round the action is for: the first offline round, the rejoin round, the crash round. */
  readonly round: number;
  readonly action: ChurnAction;
  /** Milliseconds since the fleet started. */
  readonly atMs: number;
  /** The process stopped or killed (offline, crash) or started (rejoin, restart); null when none ran. */
  readonly pid: number | null;
}

/** How a killed process ended (crash: 'SIGKILL'), by the event it belongs to. */
export interface ChurnExit {
  readonly agent: string;
  readonly round: number;
  readonly action: 'offline' | 'crash';
  readonly pid: number;
  readonly signal: string | null;
  readonly code: number | null;
}

export type ChurnProcesses = Pick<AgentProcesses, 'start' | 'stop' | 'kill' | 'isRunning' | 'pid'>;

export interface FleetChurnOptions {
  readonly plans: readonly AgentPlan[];
  readonly rounds: number;
  readonly processes: ChurnProcesses;
  /** Milliseconds since the fleet started. */
  readonly now: () => number;
  readonly logger?: Logger;
  readonly onEvent?: (e: ChurnEvent) => void;
  /** Wait between a crash and the restart (default 1500 ms). */
  readonly restartDelayMs?: number;
  /** SIGTERM to SIGKILL when stopping an agent for its offline rounds (default 10 s). */
  readonly stopGraceMs?: number;
}

/** `[agent-3] round 2: trained in 1.2 s ...` (agent/run-experiment.ts printAgentEvents). */
const TRAINED = /^\[([^\]\s]+)\] round (\d+): trained in /;

export class FleetChurn {
  readonly events: ChurnEvent[] = [];
  readonly exits: ChurnExit[] = [];
  private readonly plans = new Map<string, AgentPlan>();
  /** Agents that should not run now (offline rounds). */
  private readonly away = new Set<string>();
  /** Crash rounds already applied, as "agent:round". */
  private readonly crashed = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly logger: Logger;
  private closed = false;

  constructor(private readonly opts: FleetChurnOptions) {
    for (const p of opts.plans) this.plans.set(p.id, p);
    this.logger = opts.logger ?? silentLogger;
  }

  /** Starts every agent that is not offline in `round` (the round open now, 1 for a new experiment). */
  begin(round: number): void {
    for (const p of this.opts.plans) {
      if (isOffline(p, round)) {
        this.away.add(p.id);
        this.record(p.id, round, 'offline', null);
      } else {
        this.opts.processes.start(p.id);
      }
    }
  }

  /** Call on the aggregator's roundClosed: agents offline from the next round on are stopped now. */
  roundClosed(round: number): void {
    const next = round + 1;
    if (next > this.opts.rounds) return;
    for (const p of this.opts.plans) if (isOffline(p, next) && !isOffline(p, round)) this.goOffline(p.id, next);
  }

  /** Call on the aggregator's roundOpened: agents whose offline rounds ended rejoin; any still running in an offline round is stopped. */
  roundOpened(round: number): void {
    for (const p of this.opts.plans) {
      if (isOffline(p, round)) {
        if (!this.away.has(p.id)) this.goOffline(p.id, round);
      } else if (this.away.has(p.id)) {
        this.away.delete(p.id);
        this.startNow(p.id, round, 'rejoin');
      }
    }
  }

  /** Call with every line an agent prints: a crash-upload round's upload is the moment to kill it. */
  agentLine(id: string, line: string): void {
    const m = TRAINED.exec(line);
    if (!m || m[1] !== id) return;
    const round = Number(m[2]);
    const plan = this.plans.get(id);
    const key = `${id}:${round}`;
    if (!plan || !crashesInRound(plan, round) || this.crashed.has(key) || this.closed) return;
    this.crashed.add(key);
    const pid = this.opts.processes.pid(id);
    if (pid === null) return;
    this.record(id, round, 'crash', pid);
    this.track(
      this.opts.processes.kill(id).then((exit) => {
        this.noteExit(round, 'crash', exit);
        if (this.closed) return;
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (this.closed || this.away.has(id) || this.opts.processes.isRunning(id)) return;
          this.startNow(id, round, 'restart');
        }, this.opts.restartDelayMs ?? 1500);
        this.timers.add(t);
      }),
    );
  }

  /** Resolves when every stop and kill under way has ended and every scheduled restart has happened, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.pending.size > 0 || this.timers.size > 0) && Date.now() < end) {
      await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, end - Date.now()))))]);
    }
  }

  /** No more actions: scheduled restarts are cancelled; waits (bounded) for stops and kills under way. */
  async close(timeoutMs = 15_000): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.settle(timeoutMs);
  }

  private goOffline(id: string, round: number): void {
    this.away.add(id);
    const pid = this.opts.processes.pid(id);
    if (pid === null) return;
    this.record(id, round, 'offline', pid);
    this.track(this.opts.processes.stop(id, this.opts.stopGraceMs ?? 10_000).then((exit) => this.noteExit(round, 'offline', exit)));
  }

  private startNow(id: string, round: number, action: 'rejoin' | 'restart'): void {
    if (this.closed) return;
    try {
      const pid = this.opts.processes.start(id);
      this.record(id, round, action, pid);
    } catch (e) {
      this.logger.error('agent could not be started again', { agent: id, round, action, error: (e as Error).message });
    }
  }

  private noteExit(round: number, action: 'offline' | 'crash', exit: AgentExit | null): void {
    if (exit) this.exits.push({ agent: exit.id, round, action, pid: exit.pid, signal: exit.signal, code: exit.code });
  }

  private record(agent: string, round: number, action: ChurnAction, pid: number | null): void {
    const e: ChurnEvent = { agent, round, action, atMs: Math.round(this.opts.now()), pid };
    this.events.push(e);
    this.logger.info(`churn: ${agent} ${action} (round ${round})`, { agent, round, action, pid });
    this.opts.onEvent?.(e);
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((e: unknown) => this.logger.error('churn action failed', { error: (e as Error).message })).finally(() => this.pending.delete(t));
    this.pending.add(t);
  }
}
