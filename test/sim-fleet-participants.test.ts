/**
 * One experiment file, one answer to "who took part in which round": `simulate` (simulated links
 * and boards, the plan's offline rounds) and the real aggregator (aggregator/aggregator.ts, as
 * `fleet` configures it from the same file) agree round by round, for a setup whose outcome does
 * not depend on timing: participation < 1, a group offline from round 3 on (it stops after
 * round 2, as fleet/churn does it, and does not rejoin: a rejoiner's first round is a race that
 * sim/timing.test.ts covers), a long deadline.
 *
 * The fleet's own churn (stopping an agent process for its offline rounds) is not in this tree
 * yet, so the agents' side is played here by the plan itself (method/fleet-plan.ts): a selected
 * agent online uploads, one offline sends the last will an agent's broker connection leaves
 * (status "offline"). The aggregator decides who is selected, waits, closes and counts.
 * Its offline grace is 0 here (30 s by default) so that the test does not wait; it changes when
 * a round closes, not who took part.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseSimulateArgs } from '../cli/simulate.ts';
import { fleetOptions } from '../cli/fleet.ts';
import { loadExperimentFile } from '../cli/experiment-file.ts';
import { fleetExperimentConfig } from '../fleet/index.ts';
import { simulate } from '../sim/simulate.ts';
import { Aggregator, type AggregatorTransport, type RoundOpened } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { encodeStatus, encodeUpload } from '../wire/codec.ts';
import { fleetPlan, isOffline } from '../method/fleet-plan.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';

const skip = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`) && 'dataset-fashion-mnist not installed';
const EXPERIMENT = 'sim-vs-fleet';

const FILE = `
experiment = "${EXPERIMENT}"
method = "fedproto"
rounds = 4
seed = 5
agents = 6
families = ["resnet8"]
feature-dim = 16
[data]
samples-per-client = 40
[round]
participation = 0.5
[[group]]
name = "steady"
agents = 4
link = "wifi-good"
board = "rpi5"
[[group]]
name = "away"
agents = 2
link = "wifi-congested"
board = "rpi4b"
offline = ["3-4"]
`;

test('simulate and the aggregator agree on who took part in which round (participation 0.5, a group offline in rounds 3-4)', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-simfleet-'));
  const path = join(dir, 'exp.toml');
  writeFileSync(path, FILE);
  try {
    // simulate
    const { config } = parseSimulateArgs(['--experiment-file', path, '--workers', '1', '--threads', '1']);
    const sim = await simulate(config, { dataset: loadDataset(DEFAULT_DATA_DIR, 'all') });
    const simTookPart = sim.rounds.map((r) => [...r.timing!.uploaded].sort((a, b) => a - b).map((c) => `agent-${c}`));

    // the aggregator, configured as `fleet` configures it from the same file
    const fleet = fleetOptions(['--experiment-file', path]).options;
    // the file's experiment id reaches both commands without a flag
    assert.equal(config.experiment, EXPERIMENT);
    assert.equal(fleet.experiment, EXPERIMENT);
    const fromFile = fleetExperimentConfig(fleet, 10, 240);
    const agg = resolveExperimentConfig({ ...fromFile, offlineGraceMs: 0 });
    const file = loadExperimentFile(path);
    const plans = fleetPlan({ agents: file.agents ?? null, groups: file.groups ?? null, link: null, board: null });
    const store = openAggregatorStore(':memory:');
    let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
    const transport: AggregatorTransport = {
      publishRetained: async () => undefined,
      publishReceipt: async () => undefined,
      onAgentMessage: (h) => void (handler = h),
      close: async () => undefined,
    };
    const aggregator = new Aggregator({ config: agg, store, transport });
    const send = (kind: 'upload' | 'status', agent: string, bytes: Uint8Array): Promise<void> => new Promise((resolve) => handler!(kind, agent, bytes, () => resolve()));
    const announced: string[][] = [];
    const play = async (e: RoundOpened): Promise<void> => {
      announced[e.round - 1] = [...e.selected].sort();
      const header = (agent: string) => ({ experiment: EXPERIMENT, sender: agent, round: e.round });
      // every selected agent's state first (the offline ones' last will), then the online ones' uploads
      for (const agent of e.selected) {
        const offline = isOffline(plans.find((p) => p.id === agent)!, e.round);
        const body = offline ? ({ state: 'offline', note: 'connection lost' } as const) : ({ state: 'training', note: '' } as const);
        await send('status', agent, encodeStatus(header(agent), { ...body, timeMs: 0, lastRound: e.round - 1, modelFamily: 'resnet8' }));
      }
      for (const agent of e.selected) {
        const plan = plans.find((p) => p.id === agent)!;
        if (isOffline(plan, e.round)) continue;
        await send('upload', agent, encodeUpload(header(agent), { K: 10, d: 16, s: 16, layout: 'dense', valueType: 'float32', prototypes: [{ classId: plan.index % 10, values: new Float32Array(16).fill(0.1) }] }));
      }
    };
    const playing: Promise<void>[] = [];
    aggregator.on('roundOpened', (e: RoundOpened) => void playing.push(new Promise((r) => setImmediate(r)).then(() => play(e))));
    try {
      await aggregator.start();
      await aggregator.done;
      await Promise.all(playing);
    } finally {
      await aggregator.stop();
    }
    const aggTookPart = [1, 2, 3, 4].map((round) => store.uploadsFor(EXPERIMENT, round).map((u) => u.agent).sort());
    store.close();

    assert.deepEqual(sim.rounds.map((r) => r.selected.map((c) => `agent-${c}`)), announced, 'the same agents selected');
    assert.deepEqual(simTookPart, aggTookPart, 'the same agents took part');
    // the setup exercises what it claims: 3 of 6 selected, and an offline agent selected in round 2 or 3
    assert.ok(announced.every((s) => s.length === 3));
    const offlineSelected = sim.rounds.flatMap((r) => r.selected.filter((c) => r.timing!.offline.includes(c)));
    assert.ok(offlineSelected.length > 0, 'an offline agent was selected');
    assert.deepEqual(sim.rounds.map((r) => r.timing!.late), [[], [], [], []]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
