/**
 * The live dashboard end to end in headless Chromium: embedded broker, an aggregator running a
 * two-round experiment, the dashboard, and two in-process agents on tiny Fashion-MNIST shards.
 * The page is opened before the agents start; it must show round 1 closed through its event
 * stream (no reload) and list the agents. Leaves screenshots in test-results/ (dashboard-open.png before the agents start, dashboard.png
 * after round 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { startDashboard, type Dashboard } from '../dashboard/server.ts';
import { Agent } from '../agent/agent.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { openAgentStore } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { createEngine } from '../models/index.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const skip = !haveChromium ? `${CHROMIUM} not installed (apt-get install chromium)` : !haveData ? 'dataset-fashion-mnist not installed' : false;
const RESULTS = fileURLToPath(new URL('../test-results', import.meta.url));

test('the dashboard shows a live experiment in headless Chromium', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-dash-'));
  const experiment = 'dash-e2e';
  const ids = ['agent-0', 'agent-1'];
  let broker: EmbeddedBroker | null = null;
  let browser: Browser | null = null;
  let dashboard: Dashboard | null = null;
  const aggStore = openAggregatorStore(join(dir, 'aggregator.db'));
  const running: { agent: Agent; transport: MqttAgentTransport; store: ReturnType<typeof openAgentStore> }[] = [];
  let aggregator: Aggregator | null = null;
  let aggTransport: MqttAggregatorTransport | null = null;
  try {
    broker = await startEmbeddedBroker({ port: 0 });
    const exp = resolveExperimentConfig({ experiment, agents: ids, rounds: 2, totalTrainSamples: 2 * 60, roundDeadlineMs: 120_000, minUploads: 2 });
    aggTransport = new MqttAggregatorTransport(experiment, { broker: broker.url, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: 'auto' });
    aggregator = new Aggregator({ config: exp, store: aggStore, transport: aggTransport });
    await aggTransport.start();
    await aggregator.start();
    dashboard = await startDashboard({ aggregator, store: aggStore });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 60_000,
    });
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(dashboard.url, { timeout: 30_000 });
    await page.locator('#conn-text', { hasText: 'live' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#exp').textContent(), experiment);
    assert.equal(await page.locator('#c-round').textContent(), '1 / 2');
    assert.match((await page.locator('#c-deadline').textContent()) ?? '', /^deadline in \d+:\d\d$/);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'dashboard-open.png'), fullPage: true, timeout: 30_000 });
    // a marker that a reload would wipe
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    const engine = await createEngine({ backend: 'wasm' });
    for (let i = 0; i < ids.length; i++) {
      const cfg = resolveAgentConfig({ id: ids[i]!, experiment, broker: broker.url, client: i, clients: 2, alpha: 1, seed: 3, samplesPerClient: 60, family: 'resnet8', store: join(dir, `${ids[i]}.db`) });
      const store = openAgentStore(cfg.store);
      const transport = new MqttAgentTransport(cfg, Agent.willMessage(cfg, 0, 'resnet8'));
      const agent = new Agent({ config: cfg, store, transport, engine });
      running.push({ agent, transport, store });
      await agent.start();
      await transport.start();
    }

    await page.locator('#rounds tr[data-round="1"][data-status="closed"]').waitFor({ timeout: 200_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'updated live, not reloaded');
    assert.ok(Number(await page.locator('body').getAttribute('data-events')) > 0, 'live events arrived');
    const row = (await page.locator('#rounds tr[data-round="1"]').innerText()).replace(/\s+/g, ' ');
    assert.match(row, /^1 2 \/ 2 [\d.]+ (B|KiB) \/ [\d.]+ (B|KiB)/);
    for (const id of ids) {
      const agentRow = page.locator(`#agents tr[data-agent="${id}"]`);
      assert.equal(await agentRow.count(), 1, id);
      assert.notEqual(await agentRow.getAttribute('data-state'), 'unseen', `${id} reported a status`);
    }
    assert.match((await page.locator('#c-agents').textContent()) ?? '', /^\d \/ 2$/);
    assert.equal(await page.locator('#banner').isVisible(), false);
    assert.ok((await page.locator('#ch-bytes polyline, #ch-bytes circle').count()) > 0, 'bytes chart drawn');
    // axes carry their units
    assert.equal(await page.locator('#ch-bytes text.unit').textContent(), 'bytes per round (encoded messages)');
    // counted in one evaluation: two separate counts could straddle a re-render (a chart drawn from
    // "no data yet" to data between them) and see neither
    assert.equal(await page.evaluate(() => document.querySelectorAll('#ch-mem text.unit, #ch-mem text.empty').length), 1);
    const shot = join(RESULTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: 30_000 });
    assert.ok(statSync(shot).size > 10_000);
    assert.deepEqual(pageErrors, []);

    // the connection banner appears when the server goes away
    await dashboard.close();
    await page.locator('#banner').waitFor({ state: 'visible', timeout: 15_000 });
    assert.match((await page.locator('#conn-text').textContent()) ?? '', /connection lost, retrying/);
  } finally {
    await browser?.close().catch(() => undefined);
    await dashboard?.close();
    for (const r of running) {
      await r.agent.stop();
      await r.transport.close();
      r.store.close();
    }
    await aggregator?.stop();
    await aggTransport?.close();
    aggStore.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
