/**
 * The userspace link emulator: a TCP proxy on loopback between one agent and the broker that
 * applies a link profile (emulation/link-profiles.ts) to every connection through it, per
 * direction. It is what `tc netem` + `tbf` do on a real board's interface
 * (docs/link-emulation.md), for kernels without netem and without root.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../common/logger.ts';
import { Rng } from '../common/rng.ts';
import { TinyProtoError } from '../common/errors.ts';
import { LinkDirection, MAX_TRANSFERS, type DirectionStats, type Transfer } from './link-direction.ts';
import { activeEvent, type LinkProfile } from './link-profiles.ts';

export interface LinkEmulatorOptions {
  readonly profile: LinkProfile;
  /** Where connections go (the broker). */
  readonly targetHost: string;
  readonly targetPort: number;
  /** Listen address; loopback by default. */
  readonly host?: string;
  /** 0 = any free port. */
  readonly port?: number;
  /** Seed of the jitter and loss draws. */
  readonly seed?: number;
  readonly logger?: Logger;
  /** How often the disconnect schedule is checked, ms (default 50). */
  readonly tickMs?: number;
}

export interface LinkStats {
  readonly connections: number;
  readonly open: number;
  /** Connections refused or reset by a disconnect event. */
  readonly resets: number;
  readonly up: DirectionStats;
  readonly down: DirectionStats;
  /**
   * The last transfers per direction over all connections (link-direction.ts Transfer), ordered
   * by start, with times in the performance.now() time base of this process.
   */
  readonly transfers: { readonly up: readonly Transfer[]; readonly down: readonly Transfer[] };
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  readonly up: LinkDirection;
  readonly down: LinkDirection;
}

export class LinkEmulator {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private readonly t0 = performance.now();
  private readonly rng: Rng;
  private readonly logger: Logger;
  private tick: NodeJS.Timeout | null = null;
  private inDisconnect = false;
  private connections = 0;
  private resets = 0;
  private readonly totals = { up: { bytes: 0, segments: 0, stalls: 0 }, down: { bytes: 0, segments: 0, stalls: 0 } };
  /** Transfers of connections already closed. */
  private readonly closedTransfers: { up: Transfer[]; down: Transfer[] } = { up: [], down: [] };

  constructor(private readonly opts: LinkEmulatorOptions) {
    this.rng = new Rng(opts.seed ?? 1);
    this.logger = opts.logger ?? silentLogger;
  }

  /** ms since this emulator was created: the clock of the profile's schedule. */
  now(): number {
    return performance.now() - this.t0;
  }

  async start(): Promise<{ host: string; port: number }> {
    // half-open allowed: a FIN is passed on only after the bytes queued ahead of it
    const server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((res, rej) => {
      server.once('error', (e) => rej(new TinyProtoError('E_CONFIG', `link emulator cannot listen: ${e.message}`)));
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => res());
    });
    if (this.opts.profile.schedule.some((e) => e.kind === 'disconnect')) {
      this.tick = setInterval(() => this.checkDisconnect(), this.opts.tickMs ?? 50);
      this.tick.unref();
    }
    const a = server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null;
    if (!a) throw new TinyProtoError('E_INTERNAL', 'link emulator not started');
    return `mqtt://${a.address}:${a.port}`;
  }

  stats(): LinkStats {
    const sum = (k: 'up' | 'down'): DirectionStats => {
      const s = { ...this.totals[k] };
      for (const p of this.pairs) for (const f of ['bytes', 'segments', 'stalls'] as const) s[f] += p[k].stats[f];
      return s;
    };
    const transfers = (k: 'up' | 'down'): Transfer[] =>
      [...this.closedTransfers[k], ...[...this.pairs].flatMap((p) => p[k].transfers)]
        .map((t) => ({ startMs: t.startMs + this.t0, endMs: t.endMs + this.t0, bytes: t.bytes }))
        .sort((a, b) => a.startMs - b.startMs)
        .slice(-MAX_TRANSFERS);
    return { connections: this.connections, open: this.pairs.size, resets: this.resets, up: sum('up'), down: sum('down'), transfers: { up: transfers('up'), down: transfers('down') } };
  }

  private checkDisconnect(): void {
    const down = activeEvent(this.opts.profile.schedule, 'disconnect', this.now()) !== null;
    if (down && !this.inDisconnect) {
      this.logger.info('link emulator: disconnect', { open: this.pairs.size, atMs: Math.round(this.now()) });
      for (const p of [...this.pairs]) this.drop(p, true);
    }
    this.inDisconnect = down;
  }

  private accept(client: Socket): void {
    this.connections++;
    if (activeEvent(this.opts.profile.schedule, 'disconnect', this.now()) !== null) {
      this.resets++;
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const server = connect({ host: this.opts.targetHost, port: this.opts.targetPort, allowHalfOpen: true });
    server.setNoDelay(true);
    const p = this.opts.profile;
    const ctx = { now: () => this.now(), random: () => this.rng.next(), stallProbability: p.stallProbability, stallMs: p.stallMs, schedule: p.schedule };
    const pair: Pair = { client, server, up: new LinkDirection(p.up, ctx, client, server), down: new LinkDirection(p.down, ctx, server, client) };
    this.pairs.add(pair);
    for (const s of [client, server]) {
      s.on('error', () => this.drop(pair, false));
      s.on('close', () => {
        if (client.closed && server.closed) this.drop(pair, false);
      });
    }
  }

  private drop(pair: Pair, reset: boolean): void {
    if (!this.pairs.delete(pair)) return;
    if (reset) this.resets++;
    for (const k of ['up', 'down'] as const) {
      pair[k].close();
      for (const f of ['bytes', 'segments', 'stalls'] as const) this.totals[k][f] += pair[k].stats[f];
      const kept = this.closedTransfers[k];
      kept.push(...pair[k].transfers);
      if (kept.length > MAX_TRANSFERS) kept.splice(0, kept.length - MAX_TRANSFERS);
    }
    for (const s of [pair.client, pair.server]) {
      if (s.destroyed) continue;
      if (reset) s.resetAndDestroy();
      else s.destroy();
    }
  }

  async close(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    for (const p of [...this.pairs]) this.drop(p, false);
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((res) => s.close(() => res()));
  }
}
