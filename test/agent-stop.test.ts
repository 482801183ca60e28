/**
 * An agent stops (SIGTERM: agent.stop() then transport.close()) while its broker is gone and its
 * session is reconnecting: the offline status it publishes on the way out cannot be acknowledged
 * then, and must not keep the process alive (systemd would wait for TimeoutStopSec, then SIGKILL).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { Agent } from '../agent/agent.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { openAgentStore } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { createEngine } from '../models/index.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

/** Settles with the promise, or rejects after `ms` naming `what` (a hang is the failure here). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

test('an agent stops while its broker is unreachable', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-stop-'));
  const broker = await startEmbeddedBroker({ port: 0 });
  let brokerOpen = true;
  const cfg = resolveAgentConfig({ id: 'agent-0', experiment: 'stop', broker: broker.url, client: 0, clients: 4, samplesPerClient: 40, store: join(dir, 'agent.db'), reconnectMinMs: 50, reconnectMaxMs: 200 });
  const store = openAgentStore(cfg.store);
  const engine = await createEngine({ backend: 'wasm' });
  const transport = new MqttAgentTransport(cfg, Agent.willMessage(cfg, 0, 'resnet8'));
  const agent = new Agent({ config: cfg, store, transport, engine });
  try {
    await agent.start();
    await transport.start();
    const lost = new Promise<void>((resolve) => transport.onDisconnect(() => resolve()));
    await broker.close();
    brokerOpen = false;
    await within(lost, 30_000, 'the disconnect');
    await within(agent.stop(), 30_000, 'agent.stop()');
    await within(transport.close(), 30_000, 'transport.close()');
    assert.equal(store.lastCompletedRound('stop'), 0);
  } finally {
    store.close();
    if (brokerOpen) await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
