/**
 * bench:load's relay runs: N simulated agents split over two `tinyproto relay` processes (each
 * with its embedded broker: its site), in front of one `tinyproto server --relays` (embedded
 * broker: the coordinator's). Same agents, rounds, checks and columns as the direct runs; the
 * server's "uploads" are the ones its relays' partials counted; "server CPU" adds the relays'.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../mqtt/mosquitto.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { experimentMasks } from '../method/experiment.ts';
import { exited, lines, sampler, type NetRow } from './load-proc.ts';

interface AgentsDone {
  sends: number;
  perRound: { round: number; sawGlobal: number; receipted: number; roundMs: number | null }[];
}

const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `agent-${from + i}`);

async function waitFor(out: string[], re: RegExp, ms: number): Promise<void> {
  for (let k = 0; k < ms / 50 && !out.some((l) => re.test(l)); k++) await new Promise((r) => setTimeout(r, 50));
}

export async function runRelayed(n: number, rounds: number, timeoutMs: number): Promise<NetRow> {
  const dir = mkdtempSync(join(tmpdir(), `tinyproto-load-relays-${n}-`));
  const experiment = `load-relays-${n}`;
  const config = resolveExperimentConfig({ experiment, agents: ids(0, n), mu: 1e-4 });
  const s = experimentMasks(config)!.s;
  const half = Math.ceil(n / 2);
  const sites = [ids(0, half), ids(half, n)];
  const [up, ...sitePorts] = [await freePort(), await freePort(), await freePort()];
  const common = ['--experiment', experiment, '--rounds', String(rounds), '--mu', '1e-4', '--deadline-ms', '120000'];
  const spawnCli = (args: string[]): { child: ChildProcess; out: string[] } => {
    const child = spawn(process.execPath, ['bin/tinyproto.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    lines(child, (l) => out.push(l));
    child.stderr?.on('data', () => undefined);
    return { child, out };
  };
  const server = spawnCli(['server', ...common, '--agents', String(n), '--relays', 'relay-a,relay-b', '--store', join(dir, 'server.db'), '--min-uploads', String(n), '--telemetry-wait-ms', '0', '--broker', 'embedded', '--embedded-port', String(up)]);
  await waitFor(server.out, /connected to/, 30_000);
  const relays = sites.map((agents, i) =>
    spawnCli(['relay', '--id', `relay-${'ab'[i]}`, '--upstream', `mqtt://127.0.0.1:${up}`, ...common, '--agents', agents.join(','), '--store', join(dir, `relay-${i}.db`), '--broker', 'embedded', '--embedded-port', String(sitePorts[i])]),
  );
  for (const r of relays) await waitFor(r.out, /relay relay-. for/, 30_000);
  const samples = [server, ...relays].map((p) => sampler(p.child.pid!));
  const t0 = Date.now();
  const done: (AgentsDone | null)[] = [null, null];
  const connectMs = [0, 0];
  const agentProcs = sites.map((agents, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'benchmarks/load-agents.ts', `mqtt://127.0.0.1:${sitePorts[i]}`, experiment, String(agents.length), String(rounds), String(config.numClasses), String(config.featureDim), String(s), '5000', String(timeoutMs - 30_000), String(i * half)], { stdio: ['ignore', 'pipe', 'inherit'] });
    lines(child, (l) => {
      const m = JSON.parse(l) as { event: string; connectMs?: number };
      if (m.event === 'connected') connectMs[i] = m.connectMs!;
      else if (m.event === 'done') done[i] = m as unknown as AgentsDone;
    });
    return child;
  });
  await Promise.all(agentProcs.map((a) => exited(a, timeoutMs)));
  const wallS = (Date.now() - t0) / 1000;
  const serverCode = await exited(server.child, 30_000);
  const relayCodes = await Promise.all(relays.map((r) => exited(r.child, 30_000)));
  const used = samples.map((x) => x.stop());
  const store = openAggregatorStore(join(dir, 'server.db'));
  const closed = store.rounds(experiment).filter((r) => r.status === 'closed');
  const stored = closed.reduce((a, r) => a + Number((r.summary as { uploads?: number } | null)?.uploads ?? 0), 0);
  store.close();
  rmSync(dir, { recursive: true, force: true });
  const perRound = Array.from({ length: rounds }, (_, k) => done.map((d) => d?.perRound[k]));
  const roundS = perRound.map((rs) => (rs.every((r) => r?.roundMs != null) ? Math.max(...rs.map((r) => r!.roundMs!)) / 1000 : NaN));
  const missedGlobal = perRound.reduce((a, rs) => a + rs.reduce((b, r, i) => b + (sites[i]!.length - (r?.sawGlobal ?? 0)), 0), 0);
  return {
    broker: 'relays: 2 x tinyproto relay (embedded) -> server (embedded)',
    n,
    rounds: closed.length,
    connectS: Math.max(...connectMs) / 1000,
    roundS,
    uploadsPerS: stored / Math.max(1e-9, roundS.reduce((a, x) => a + (Number.isFinite(x) ? x : 0), 0)),
    aggCpuS: used.reduce((a, u) => a + u.cpu, 0),
    aggPeakMb: Math.max(...used.map((u) => u.rss)) / 1e6,
    brokerCpuS: null,
    stored,
    lost: n * rounds - stored,
    missedGlobal,
    sends: done.reduce((a, d) => a + (d?.sends ?? 0), 0),
    ok: serverCode === 0 && relayCodes.every((c) => c === 0) && closed.length === rounds,
    note: `wall ${wallS.toFixed(1)} s, server exit ${String(serverCode)}, relays exit ${relayCodes.join('/')}; CPU = server + relays, RSS = the largest`,
  };
}
