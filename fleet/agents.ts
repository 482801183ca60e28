/**
 * The fleet's agent processes: starts agent i with its fixed arguments and environment (so a
 * restart resumes from the same SQLite store), stops it (SIGTERM, then SIGKILL after a grace
 * period), kills it (SIGKILL) and tells whether it runs. Only PIDs this class spawned are ever
 * signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';

export interface AgentProcessSpec {
  readonly id: string;
  /** Arguments after the Node executable (node flags, the CLI entry, 'agent', flags). */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

export interface AgentExit {
  readonly id: string;
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Whether this class asked for the exit (stop/kill) rather than the agent ending by itself. */
  readonly requested: boolean;
}

export interface AgentProcessesOptions {
  readonly specs: readonly AgentProcessSpec[];
  readonly logger?: Logger;
  /** Each started process (first start and every restart), e.g. to move it into its cgroup. */
  readonly onStart?: (id: string, pid: number) => void;
  /** Every line the agent prints on stdout or stderr. */
  readonly onLine?: (id: string, line: string) => void;
  readonly onExit?: (e: AgentExit) => void;
  /** Node executable (default: this process's). */
  readonly execPath?: string;
}

interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<AgentExit>;
  requested: boolean;
}

export class AgentProcesses {
  private readonly specs = new Map<string, AgentProcessSpec>();
  private readonly running = new Map<string, Running>();
  private readonly logger: Logger;

  constructor(private readonly opts: AgentProcessesOptions) {
    for (const s of opts.specs) this.specs.set(s.id, s);
    this.logger = opts.logger ?? silentLogger;
  }

  get ids(): string[] {
    return [...this.specs.keys()];
  }

  /** Whether agent `id` has a live process (started and not yet exited). */
  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** The PID of agent `id`'s live process, or null. */
  pid(id: string): number | null {
    return this.running.get(id)?.pid ?? null;
  }

  /** Starts agent `id` (E_INTERNAL when it runs already); returns its PID. */
  start(id: string): number {
    const spec = this.specs.get(id);
    if (!spec) throw new TinyProtoError('E_INTERNAL', `no agent "${id}" in this fleet`);
    if (this.running.has(id)) throw new TinyProtoError('E_INTERNAL', `agent "${id}" runs already (pid ${this.running.get(id)!.pid})`);
    const child = spawn(this.opts.execPath ?? process.execPath, [...spec.args], { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const pid = child.pid;
    if (pid === undefined) throw new TinyProtoError('E_INTERNAL', `agent "${id}" did not start`);
    let entry!: Running;
    const exited = new Promise<AgentExit>((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.running.get(id) === entry) this.running.delete(id);
        const e: AgentExit = { id, pid, code, signal, requested: entry.requested };
        if (!e.requested && code !== 0 && signal === null) this.logger.error('agent process exited', { agent: id, code });
        this.opts.onExit?.(e);
        resolve(e);
      });
    });
    entry = { child, pid, exited, requested: false };
    this.running.set(id, entry);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.opts.onLine?.(id, line));
    }
    this.opts.onStart?.(id, pid);
    return pid;
  }

  /**
   * Stops agent `id`: SIGTERM (it finishes the work in hand and says offline), SIGKILL after
   * `graceMs`. Resolves with its exit, or null when it was not running.
   */
  async stop(id: string, graceMs = 30_000): Promise<AgentExit | null> {
    const r = this.running.get(id);
    if (!r) return null;
    if (r.requested) return r.exited; // stopping or killed already: one signal each
    r.requested = true;
    const kill = setTimeout(() => r.child.kill('SIGKILL'), graceMs);
    r.child.kill('SIGTERM');
    try {
      return await r.exited;
    } finally {
      clearTimeout(kill);
    }
  }

  /** Kills agent `id` at once (SIGKILL), as a crash would. Resolves with its exit, or null when it was not running. */
  async kill(id: string): Promise<AgentExit | null> {
    const r = this.running.get(id);
    if (!r) return null;
    r.requested = true;
    r.child.kill('SIGKILL');
    return r.exited;
  }

  /** Stops (when running) and starts agent `id` again with the same arguments and store; returns the new PID. */
  async restart(id: string, graceMs?: number): Promise<number> {
    await this.stop(id, graceMs);
    return this.start(id);
  }

  /** Stops every running agent (in parallel). */
  async stopAll(graceMs = 30_000): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stop(id, graceMs)));
  }
}
