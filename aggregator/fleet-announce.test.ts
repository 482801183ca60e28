import { test } from 'node:test';
import assert from 'node:assert/strict';
import { announcementBody, resolveFleetSpec } from './fleet-announce.ts';
import { resolveExperimentConfig } from './config.ts';
import { assignmentOf, decodeExperiment, encodeExperiment } from '../wire/codec.ts';
import { assertConfigError } from '../test/helpers/assert.ts';

test('the announcement carries the experiment (method, K, d, seed) and the fleet spec; agent i of the list is client i', () => {
  const config = resolveExperimentConfig({ experiment: 'e1', agents: ['pi-a', 'pi-b', 'pi-c'], featureDim: 64, seed: 9, mu: 0.01, method: 'fedproto' });
  const spec = resolveFleetSpec({ fleet: 'lab', alpha: 0.5, samplesPerClient: 600, families: ['resnet8', 'mobilenetv2'] });
  const body = announcementBody(config, spec, 'open');
  assert.deepEqual({ ...body, assignment: undefined }, {
    state: 'open', method: 'fedproto', fleet: 'lab', dataset: 'fashion-mnist', source: 'idx', numClasses: 10, featureDim: 64, clients: 3, alpha: 0.5, seed: 9, samplesPerClient: 600, assignment: undefined,
  });
  const round = decodeExperiment(encodeExperiment({ experiment: 'e1', sender: 'aggregator', round: 0 }, body)).body;
  assert.deepEqual(assignmentOf(round, 'pi-c'), { client: 2, family: 'resnet8' });
  assert.deepEqual(assignmentOf(round, 'pi-b'), { client: 1, family: 'mobilenetv2' });
  assert.equal(announcementBody(config, resolveFleetSpec({ fleet: 'lab', clients: 20 }), 'ended').clients, 20);
  assertConfigError(() => announcementBody(config, resolveFleetSpec({ fleet: 'lab', clients: 2 }), 'open'), /invalid clients: must be at least the number of agents \(3\)/);
});

test('more agents than a list holds: the numbered rule for agent-0..agent-(N-1), an error otherwise', () => {
  const agents = Array.from({ length: 5000 }, (_, i) => `agent-${i}`);
  const config = resolveExperimentConfig({ experiment: 'big', agents, mu: 0.01 });
  const body = announcementBody(config, resolveFleetSpec({ fleet: 'lab' }), 'open');
  assert.deepEqual(body.assignment, { mode: 'numbered', prefix: 'agent-' });
  assert.deepEqual(assignmentOf(body, 'agent-4999'), { client: 4999, family: null });
  const shuffled = resolveExperimentConfig({ experiment: 'big', agents: [...agents.slice(1), 'agent-0'], mu: 0.01 });
  assertConfigError(() => announcementBody(shuffled, resolveFleetSpec({ fleet: 'lab' }), 'open'), /more than 4096 agents needs agent ids agent-0\.\.N-1 in order/);
});

test('fleet spec errors name the setting', () => {
  assertConfigError(() => resolveFleetSpec({ fleet: 'lab', source: 'png' as never }), /invalid source: must be one of idx, cifar, image-folder/);
  assertConfigError(() => resolveFleetSpec({ fleet: 'lab', alpha: 0 }), /invalid alpha/);
  assertConfigError(() => resolveFleetSpec({ fleet: 'l/b' }), /invalid fleet id "l\/b"/);
  assertConfigError(() => resolveFleetSpec({ fleet: 'lab', dataset: 'my data' }), /invalid dataset/);
});
