/**
 * The fault suite's harness: a real Mosquitto (or the embedded broker) on a loopback port, a
 * `tinyproto server` and `tinyproto agent` child processes on real Fashion-MNIST shards, ways to
 * kill and restart each of them by PID, and the check that matters: every round closed and the
 * aggregator's store holds every upload the agents produced, exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { freePort, mosquittoBin } from '../../mqtt/mosquitto.ts';
import { openAggregatorStore } from '../../aggregator/store.ts';
import { openAgentStoreReadOnly } from '../../agent/store-view.ts';
import { DEFAULT_DATA_DIR } from '../../data/index.ts';
import { peekHeader } from '../../wire/codec.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = join(ROOT, 'cli', 'main.ts');

export const faultsSkip: string | false = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`)
  ? 'dataset-fashion-mnist not installed'
  : mosquittoBin() === undefined && 'mosquitto not installed (apt-get install mosquitto)';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A child process with its output kept (bounded) and lines watched. */
export class Proc {
  readonly lines: string[] = [];
  exitCode: number | null = null;
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const s of [child.stdout, child.stderr]) {
      let buf = '';
      s?.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          if (this.lines.length < 20_000) this.lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    this.exited = new Promise((res) => child.once('exit', (code, signal) => res((this.exitCode = code ?? (signal ? 128 : null)))));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  has(re: RegExp): boolean {
    return this.lines.some((l) => re.test(l));
  }
  /** SIGKILL this process (one we started) and wait for it. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }
}

function node(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(name, child);
}

export interface BrokerOptions {
  /** Mosquitto's per-client queue bound (the shipped configs say 1000). */
  maxQueued?: number;
  maxInflight?: number;
}

/** Mosquitto without persistence on a fixed loopback port, so it can be killed and restarted there. */
export class FaultBroker {
  proc: Proc | null = null;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly opts: BrokerOptions,
  ) {}
  static async start(dir: string, opts: BrokerOptions = {}): Promise<FaultBroker> {
    const b = new FaultBroker(dir, await freePort(), opts);
    await b.restart();
    return b;
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  async restart(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        `max_queued_messages ${this.opts.maxQueued ?? 1000}`,
        `max_inflight_messages ${this.opts.maxInflight ?? 20}`,
        'max_packet_size 263168',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    const child = spawn(mosquittoBin()!, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = new Proc('mosquitto', child);
    const { createConnection } = await import('node:net');
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((res) => {
        const s = createConnection({ host: '127.0.0.1', port: this.port });
        s.once('connect', () => (s.destroy(), res(true)));
        s.once('error', () => res(false));
      });
      if (ok) return;
      if (!this.proc.alive) throw new Error(`mosquitto exited: ${this.proc.tail()}`);
      await sleep(50);
    }
    throw new Error('mosquitto did not listen');
  }
  async kill9(): Promise<void> {
    await this.proc?.kill9();
  }
  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}

export interface FleetSpec {
  dir: string;
  experiment: string;
  agents: number;
  rounds: number;
  broker: string;
  deadlineMs?: number;
  samplesPerClient?: number;
  extraServerArgs?: string[];
}

export const agentId = (i: number): string => `agent-${i}`;

export function startServer(f: FleetSpec): Proc {
  return node('server', [
    'server',
    '--experiment', f.experiment,
    '--agents', String(f.agents),
    '--rounds', String(f.rounds),
    '--broker', f.broker,
    '--store', join(f.dir, 'server.db'),
    '--deadline-ms', String(f.deadlineMs ?? 120_000),
    '--seed', '5',
    '--telemetry-wait-ms', '20000',
    '--mu', '0.05',
    ...(f.extraServerArgs ?? []),
  ]);
}

export function startAgent(f: FleetSpec, i: number, env: NodeJS.ProcessEnv = {}): Proc {
  return node(
    agentId(i),
    [
      'agent',
      '--id', agentId(i),
      '--experiment', f.experiment,
      '--client', String(i),
      '--clients', String(f.agents),
      '--broker', f.broker,
      '--store', join(f.dir, `${agentId(i)}.db`),
      '--samples-per-client', String(f.samplesPerClient ?? 48),
      '--seed', '5',
      '--family', 'resnet8',
    ],
    // resend quickly in tests; reconnect quickly
    { TINYPROTO_RESEND_AFTER_MS: '1500', TINYPROTO_CATCH_UP_MS: '2000', TINYPROTO_RECONNECT_MIN_MS: '100', TINYPROTO_RECONNECT_MAX_MS: '1000', ...env },
  );
}

function payload(frame: Uint8Array): Buffer {
  const h = peekHeader(frame);
  return Buffer.from(frame.subarray(h.headerLength, h.headerLength + h.payloadLength));
}

/** Every round closed; the aggregator holds each agent's upload of each round exactly once, byte for byte; nothing left pending. */
export function assertEverythingDelivered(f: FleetSpec): { rejections: Record<string, number>; outcomes: string[] } {
  const store = openAggregatorStore(join(f.dir, 'server.db'));
  try {
    const rounds = store.rounds(f.experiment);
    assert.deepEqual(
      rounds.map((r) => [r.round, r.status]),
      Array.from({ length: f.rounds }, (_, i) => [i + 1, 'closed']),
      'every round closed',
    );
    const outcomes: string[] = [];
    for (let i = 0; i < f.agents; i++) {
      const view = openAgentStoreReadOnly(join(f.dir, `${agentId(i)}.db`));
      try {
        const out = view.outbox(f.experiment);
        for (const u of out) {
          const held = store.uploadsFor(f.experiment, u.round).filter((x) => x.agent === agentId(i));
          outcomes.push(`${agentId(i)}:${u.round}:${u.outcome ?? u.state}`);
          if (u.state === 'rejected') continue;
          assert.equal(u.state, 'acked', `${agentId(i)} round ${u.round}: settled by a receipt (outcome ${u.outcome})`);
          assert.equal(held.length, 1, `${agentId(i)} round ${u.round}: held once by the aggregator`);
          // the aggregator keeps the signed frame the agent sent; the agent keeps it unsigned
          assert.deepEqual(payload(held[0]!.bytes), payload(u.bytes), `${agentId(i)} round ${u.round}: the same upload`);
        }
      } finally {
        view.close();
      }
    }
    // nothing the aggregator holds came from nowhere
    for (const r of rounds) for (const u of store.uploadsFor(f.experiment, r.round)) assert.ok(outcomes.some((o) => o.startsWith(`${u.agent}:${r.round}:`)), `${u.agent} round ${r.round} is in its outbox`);
    return { rejections: store.rejectionCounts(f.experiment), outcomes };
  } finally {
    store.close();
  }
}

/** The server's 'round N opened' lines so far. */
export function openedRounds(server: Proc): number[] {
  return server.lines.flatMap((l) => {
    const m = /^round (\d+) (opened|resumed)/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

/** Rounds the server reported closed (its round table). */
export function closedRounds(server: Proc): number[] {
  return server.lines.flatMap((l) => {
    const m = /^\s+(\d+)\s+\d+\/\d+\s/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

/**
 * Runs `body` against a fresh experiment: Mosquitto (no persistence), a server and `agents`
 * agent processes (agent indexes in `idle` are not started: the body plays them). Prints every
 * process's last lines when the body fails; stops everything it started, by PID.
 */
export async function withFleet(
  name: string,
  brokerOpts: BrokerOptions,
  body: (f: FleetSpec, broker: FaultBroker, server: Proc, agents: Proc[], track: (p: Proc) => Proc) => Promise<void>,
  spec: Partial<FleetSpec> & { idle?: number[]; serverLater?: boolean; agentEnv?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `tinyproto-fault-${name}-`));
  const procs: Proc[] = [];
  let broker: FaultBroker | null = null;
  try {
    broker = await FaultBroker.start(join(dir, 'broker'), brokerOpts);
    const { agentEnv: _agentEnv, idle: _idle, serverLater: _serverLater, ...fleetSpec } = spec;
    const f: FleetSpec = { dir, experiment: `fault-${name}`, agents: 3, rounds: 3, broker: broker.url, ...fleetSpec };
    // serverLater: the body starts the server itself (its Proc here is a placeholder that never ran)
    const server = spec.serverLater === true ? new Proc('server (not started)', spawn('true')) : startServer(f);
    procs.push(server);
    const agents = Array.from({ length: f.agents }, (_, i) => i).filter((i) => !(spec.idle ?? []).includes(i)).map((i) => startAgent(f, i, spec.agentEnv));
    procs.push(...agents);
    const track = (p: Proc): Proc => (procs.push(p), p);
    await body(f, broker, server, agents, track);
  } catch (e) {
    // the processes' own output is the diagnosis of a failed fault case
    for (const p of procs) console.error(`--- ${p.name} (pid ${p.pid}, exit ${p.exitCode}):\n${p.tail(25)}`);
    if (broker?.proc) console.error(`--- mosquitto:\n${broker.proc.tail(20)}`);
    throw e;
  } finally {
    for (const p of procs) await p.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
