/**
 * A rejoining agent's broker session delivers the announcements it missed in one burst: the
 * agent trains only the round still open, skips the ones the aggregator has moved past (a later
 * ROUND arrived), and a round whose status went out while the next ROUND arrived is skipped too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentTransport } from '../agent/agent.ts';
import { printAgentEvents } from '../agent/run-experiment.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { openAgentStore } from '../agent/store.ts';
import { createEngine } from '../models/index.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { encodeRound } from '../wire/codec.ts';
import type { RoundBody } from '../wire/codec-types.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const BODY: RoundBody = { method: 'fedproto', valueType: 'float32', deadlineMs: Date.now() + 600_000, lambda: 1, lr: 0.01, batchSize: 8, localEpochs: 1, selected: [] };

/** In memory: the test delivers aggregator frames; every publish is acknowledged at once. */
class BurstTransport implements AgentTransport {
  handler: ((kind: Parameters<Parameters<AgentTransport['onMessage']>[0]>[0], bytes: Uint8Array) => void) | null = null;
  readonly published: string[] = [];
  /** Runs once, when the agent publishes its next 'training' status (before it trains). */
  onTraining: (() => void) | null = null;
  onMessage(h: NonNullable<BurstTransport['handler']>): void {
    this.handler = h;
  }
  onConnect(): void {}
  async publish(kind: Parameters<AgentTransport['publish']>[0]): Promise<void> {
    this.published.push(kind);
    if (kind === 'status' && this.onTraining) {
      const f = this.onTraining;
      this.onTraining = null;
      f();
    }
  }
  async close(): Promise<void> {}
}

test('missed announcements delivered in a burst: only the open round is trained', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-superseded-'));
  const cfg = resolveAgentConfig({ id: 'agent-0', experiment: 'burst', broker: 'mqtt://127.0.0.1:1', client: 0, clients: 4, samplesPerClient: 40, store: join(dir, 'agent.db'), family: 'resnet8' });
  const store = openAgentStore(cfg.store);
  const engine = await createEngine();
  const transport = new BurstTransport();
  const agent = new Agent({ config: cfg, store, transport, engine });
  const trained: number[] = [];
  const skipped: string[] = [];
  agent.on('trained', (t: { round: number }) => trained.push(t.round));
  agent.on('skipped', (s: { round: number; reason: string }) => skipped.push(`${s.round}: ${s.reason}`));
  const lines: string[] = [];
  printAgentEvents(agent, '[agent-0]', (l) => lines.push(l));
  const announce = (r: number): void => transport.handler!('round', encodeRound({ experiment: 'burst', sender: 'aggregator', round: r }, BODY));
  try {
    await agent.start();
    // rounds 1-3 announced while the agent was away, delivered at once on reconnection
    announce(1);
    announce(2);
    announce(3);
    await agent.idle();
    assert.deepEqual(trained, [3]);
    assert.deepEqual(skipped, ['1: superseded by round 3', '2: superseded by round 3']);
    assert.equal(store.lastCompletedRound('burst'), 3);
    // the agent's progress lines (what `tinyproto agent` and a fleet's --verbose show)
    assert.ok(lines.includes('[agent-0] round 1: skipped (superseded by round 3)'), lines.join('\n'));
    // round 4: round 5 is announced while the agent tells the broker it is training round 4
    transport.onTraining = () => announce(5);
    announce(4);
    await agent.idle(); // round 4's task (round 5 was queued during it)
    await agent.idle(); // round 5's
    assert.deepEqual(trained, [3, 5]);
    assert.deepEqual(skipped.slice(2), ['4: superseded by round 5']);
    assert.equal(store.lastCompletedRound('burst'), 5);
  } finally {
    await agent.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
