/**
 * One experiment setup: `simulate`, `fleet` and `server` given the same --seed use the same class
 * masks. Each config is built as its command builds it (the CLI parsers, then the fleet's
 * aggregator config); the aggregator's masks are the MASKS message it publishes, decoded as an
 * agent decodes it, compared byte for byte with the simulation's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSimulateArgs } from '../cli/simulate.ts';
import { fleetOptions } from '../cli/fleet.ts';
import { serverArgs } from '../cli/server.ts';
import { simulationSetup } from '../sim/simulate.ts';
import { fleetExperimentConfig } from '../fleet/index.ts';
import { Aggregator, type AggregatorTransport } from '../aggregator/aggregator.ts';
import type { ExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { decodeMasks } from '../wire/codec.ts';
import type { ClassMasks } from '../wire/masks.ts';
import type { AggregatorTopic } from '../wire/topics.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

/** K of the default data set (Fashion-MNIST), which both commands read from their data. */
const K = 10;
const TOTAL_TRAIN = 1000;

/** Starts the aggregator on an in-memory store, returns the masks of the MASKS message it published. */
async function publishedMasks(config: ExperimentConfig): Promise<ClassMasks> {
  const published: { kind: AggregatorTopic; bytes: Uint8Array }[] = [];
  const transport: AggregatorTransport = {
    publishRetained: async (kind, bytes) => void published.push({ kind, bytes }),
    publishReceipt: async () => undefined,
    onAgentMessage: () => undefined,
    close: async () => undefined,
  };
  const store = openAggregatorStore(':memory:');
  const aggregator = new Aggregator({ config, store, transport });
  try {
    await aggregator.start();
  } finally {
    await aggregator.stop();
    store.close();
  }
  const masks = published.find((p) => p.kind === 'masks');
  assert.ok(masks, 'the aggregator published its masks');
  const decoded = decodeMasks(masks.bytes, { experiment: config.experiment });
  assert.deepEqual(decoded.body.masks.masks, aggregator.classMasks!.masks);
  return decoded.body.masks;
}

function simMasks(argv: string[]): ClassMasks {
  const { masks } = simulationSetup(parseSimulateArgs(argv).config, K, TOTAL_TRAIN);
  assert.ok(masks);
  return masks;
}

for (const seed of [SETUP_DEFAULTS.seed, 7]) {
  test(`simulate, fleet and server with seed ${seed} use byte-identical class masks`, async () => {
    const seedArgs = seed === SETUP_DEFAULTS.seed ? [] : ['--seed', String(seed)];
    const sim = simMasks(seedArgs);
    const fleet = await publishedMasks(fleetExperimentConfig(fleetOptions([...seedArgs, '--experiment', 'setup-fleet']).options, K, TOTAL_TRAIN));
    const server = await publishedMasks(
      serverArgs([...seedArgs, '--experiment', 'setup-server', '--agents', '4', '--total-train-samples', String(TOTAL_TRAIN)], {}).experiment,
    );
    for (const [name, m] of [['fleet', fleet], ['server', server]] as const) {
      assert.equal(m.s, sim.s, name);
      assert.equal(m.params.seed, sim.params.seed, name);
      assert.ok(Buffer.from(m.masks).equals(Buffer.from(sim.masks)), `${name} masks differ from simulate's`);
    }
  });
}

test('the experiment seed changes the masks (the comparison above is not vacuous)', () => {
  assert.ok(!Buffer.from(simMasks(['--seed', '7']).masks).equals(Buffer.from(simMasks([]).masks)));
});
