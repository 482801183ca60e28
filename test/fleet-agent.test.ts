/**
 * One agent per board, for every experiment: two long-lived agents, started with only their
 * broker, id, fleet, data directory and state directory, take part in two experiments that
 * `tinyproto server --fleet` (the real command, in process) announces in turn over the embedded
 * broker (the second announced while the first runs, so it waits in the boards' queue); each
 * keeps each experiment's state in its own SQLite file and goes back to waiting. Announcements
 * of a data source kind this build cannot load, or that do not list the boards, are passed over.
 * Then one agent is restarted with an experiment in progress and resumes it from its store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { agentConfigFromArgs, createFleetAgent } from '../cli/agent.ts';
import { runServer } from '../cli/server.ts';
import { openAgentStore } from '../agent/store.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { makeIdx, syntheticIdx } from '../data/fixtures.ts';
import { silentLogger } from '../common/logger.ts';
import type { AgentConfig } from '../agent/config.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { encodeExperiment, type ExperimentBody } from '../wire/codec.ts';
import { fleetExperimentTopic } from '../wire/topics.ts';

const PASSED_OVER: ExperimentBody = {
  state: 'open', method: 'tinyproto', fleet: 'lab', dataset: 'synthetic', source: 'idx', numClasses: 10, featureDim: 20, clients: 2, alpha: 1, seed: 1, samplesPerClient: 40,
  assignment: { mode: 'list', agents: [{ agent: 'board-a', client: 0, family: null }, { agent: 'board-b', client: 1, family: null }] },
};

/** A small IDX data set (28x28, 10 classes) in `dir`. */
function writeIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count, offset] of [['train', 400, 0], ['t10k', 100, 1]] as const) {
    const s = syntheticIdx(count, 28, 28, offset);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(makeIdx([count, 28, 28], s.images)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(makeIdx([count], s.labels)));
  }
}

function serverArgv(experiment: string, broker: string, store: string, rounds: number, key: string): string[] {
  return [
    '--signing-key', key,
    '--experiment', experiment, '--agents', 'board-a,board-b', '--rounds', String(rounds), '--broker', broker, '--store', store,
    '--fleet', 'lab', '--dataset', 'synthetic', '--source', 'idx', '--alpha', '1', '--samples-per-client', '40', '--families', 'resnet8',
    '--feature-dim', '20', '--mu', '0.01', '--batch-size', '16', '--deadline-ms', '60000', '--min-uploads', '2', '--telemetry-wait-ms', '15000',
  ];
}

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('long-lived agents take part in two announced experiments in turn, each with its own state, and resume after a restart', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-fleet-'));
  const data = join(dir, 'data');
  writeIdx(data);
  // one aggregator key for the fleet: every experiment's server signs with it (agents pin it once)
  const key = join(dir, 'aggregator-key.pem');
  writeFileSync(key, generateSigningKey().privateKeyPem);
  const broker = await startEmbeddedBroker({ port: 0 });
  const lines: string[] = [];
  const out = (s: string): void => {
    lines.push(s);
    if (process.env['TINYPROTO_TEST_VERBOSE']) process.stderr.write(`${s}\n`);
  };
  const boards = ['board-a', 'board-b'].map((id) => {
    // only what a board is configured with once: broker, id, fleet, data, state directory
    const { config, mode } = agentConfigFromArgs(['--id', id, '--fleet', 'lab', '--broker', broker.url, '--datasets', `synthetic=${data}`, '--state-dir', join(dir, id)], {});
    assert.equal(mode, 'fleet');
    return { config: config as AgentConfig & { fleet: string }, agent: createFleetAgent(config as AgentConfig & { fleet: string }, out, silentLogger) };
  });
  const events: string[] = [];
  for (const b of boards) {
    b.agent.supervisor.on('started', (s: { experiment: string }) => events.push(`${b.config.id} started ${s.experiment}`));
    b.agent.supervisor.on('finished', (s: { experiment: string }) => events.push(`${b.config.id} finished ${s.experiment}`));
    b.agent.supervisor.on('failed', (s: { experiment: string; code: string }) => events.push(`${b.config.id} failed ${s.experiment} ${s.code}`));
    b.agent.supervisor.on('skipped', (s: { experiment: string }) => events.push(`${b.config.id} skipped ${s.experiment}`));
  }
  try {
    for (const b of boards) await b.agent.supervisor.start();
    // announcements the boards must pass over: a data source kind this build cannot load, and an
    // experiment that does not list them (signed with the fleet's key, as a server would)
    const raw = await mqtt.connectAsync(broker.url, { clientId: 'operator' });
    const signer = ed25519Signer(readFileSync(key, 'utf8'));
    const announce = (experiment: string, body: Partial<ExperimentBody>): Promise<unknown> =>
      raw.publishAsync(
        fleetExperimentTopic('lab', experiment),
        Buffer.from(encodeExperiment({ experiment, sender: 'aggregator', round: 0 }, { ...PASSED_OVER, ...body }, { signer, embedKey: true })),
        { qos: 1, retain: true },
      );
    await announce('exp-photos', { source: 'image-folder' });
    await announce('exp-others', { assignment: { mode: 'list', agents: [{ agent: 'board-z', client: 0, family: null }] } });
    await raw.endAsync();
    await until('both boards to pass over the two announcements', () => boards.every((b) => events.includes(`${b.config.id} failed exp-photos E_DATA_SOURCE`) && events.includes(`${b.config.id} skipped exp-others`)));
    // two experiments in turn: exp-2 is announced while exp-1 runs, and waits in the boards' queue
    const servers: Promise<number>[] = [];
    servers.push(runServer(serverArgv('exp-1', broker.url, join(dir, 'exp-1-server.db'), 1, key), out, silentLogger));
    await until('both boards to start exp-1', () => boards.every((b) => events.includes(`${b.config.id} started exp-1`)));
    servers.push(runServer(serverArgv('exp-2', broker.url, join(dir, 'exp-2-server.db'), 1, key), out, silentLogger));
    assert.deepEqual(await Promise.all(servers), [0, 0]);
    for (const experiment of ['exp-1', 'exp-2']) {
      const s = openAggregatorStore(join(dir, `${experiment}-server.db`));
      try {
        assert.ok(s.rounds(experiment).every((r) => r.status === 'closed' && r.uploads === 2), `${experiment}: ${JSON.stringify(s.rounds(experiment))}`);
      } finally {
        s.close();
      }
    }
    // the ended announcements send both agents back to waiting
    await until('exp-2 to end on both boards', () => boards.every((b) => b.agent.supervisor.hasEnded('exp-2') && b.agent.supervisor.current === null));
    for (const b of boards) {
      const own = events.filter((e) => e.startsWith(`${b.config.id} `) && /(started|finished) exp-[12]$/.test(e)).map((e) => e.slice(b.config.id.length + 1));
      assert.deepEqual(own, ['started exp-1', 'finished exp-1', 'started exp-2', 'finished exp-2']);
    }
    assert.deepEqual(events.filter((e) => e.includes('failed') && !e.includes('exp-photos')), []);
    for (const b of boards) {
      for (const e of ['exp-1', 'exp-2']) {
        const path = join(dir, b.config.id, `${e}.db`);
        assert.ok(existsSync(path), `${path} exists`);
        const st = openAgentStore(path);
        try {
          assert.equal(st.lastCompletedRound(e), 1, `${b.config.id} ${e}`);
          assert.equal(st.loadShard()?.meta.clients, 2);
          assert.equal(st.loadShard()?.meta.client, b.config.id === 'board-a' ? 0 : 1);
          assert.equal(st.lastCompletedRound(e === 'exp-1' ? 'exp-2' : 'exp-1'), 0, 'one experiment per file');
        } finally {
          st.close();
        }
      }
    }
    assert.ok(lines.some((l) => l.includes('announced "exp-2" to fleet "lab"')));

    // restart safety: exp-3 has 2 rounds; board-b is stopped after round 1 and restarted on the same state directory
    const store3 = join(dir, 'exp-3-server.db');
    const server3 = runServer(serverArgv('exp-3', broker.url, store3, 2, key), out, silentLogger);
    const b = boards[1]!;
    const path3 = join(dir, 'board-b', 'exp-3.db');
    await until('board-b to finish round 1 of exp-3', () => {
      if (!existsSync(path3)) return false;
      const st = openAgentStore(path3);
      try {
        return st.lastCompletedRound('exp-3') >= 1;
      } finally {
        st.close();
      }
    });
    await b.agent.close();
    const again = createFleetAgent(b.config, out, silentLogger, { resumeWaitMs: 2000 });
    boards[1] = { config: b.config, agent: again };
    const resumed: string[] = [];
    again.supervisor.on('started', (s: { experiment: string }) => resumed.push(s.experiment));
    await again.supervisor.start();
    assert.equal(await server3, 0);
    await until('exp-3 to end on board-b', () => again.supervisor.hasEnded('exp-3') && again.supervisor.current === null);
    assert.deepEqual(resumed, ['exp-3'], 'the restarted agent resumed exp-3 and ran nothing else (exp-1 and exp-2 had ended)');
    // round 1 was trained once per experiment on board-b: the restart did not train it again
    assert.equal(lines.filter((l) => l.startsWith('[board-b] round 1: trained')).length, 3);
    const st = openAgentStore(path3);
    try {
      assert.equal(st.lastCompletedRound('exp-3'), 2);
    } finally {
      st.close();
    }
  } finally {
    for (const b of boards) await b.agent.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
