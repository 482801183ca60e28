import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeGroups, mainLink, wifiScenario, WIFI_EXPERIMENT_FILE } from './wifi-scenario.ts';

test('the bench scenario: the experiment file\'s groups, --quick, --agents, and a minimum the churn leaves reachable', () => {
  const full = wifiScenario({ quick: false, file: WIFI_EXPERIMENT_FILE });
  assert.equal(full.plans.length, 12);
  assert.deepEqual([...new Set(full.plans.map((p) => p.board))], ['rpi4b', 'rpi5', 'jetson-orin-nano', 'rpizero2w']);
  assert.equal(mainLink(full.plans), 'wifi-congested');
  assert.ok(full.plans.some((p) => p.offline.length > 0) && full.plans.some((p) => p.crashUpload.length > 0), 'the file has churn');
  assert.equal(full.aggregator.minUploads, 6);
  assert.match(describeGroups(full.plans), /zero \(agent-9..agent-11\): 3 x rpizero2w on wifi-congested, offline rounds 3-4/);

  const quick = wifiScenario({ quick: true, file: WIFI_EXPERIMENT_FILE });
  assert.equal(quick.plans.length, 4);
  assert.equal(quick.rounds, 2);
  // the file's minimum of 6 uploads, capped to the 3 agents online in round 2
  assert.equal(quick.aggregator.minUploads, 3);
  assert.ok(quick.plans.every((p) => p.link === 'wifi-congested'));

  const uniform = wifiScenario({ quick: false, file: WIFI_EXPERIMENT_FILE, agents: '5', board: 'rpi5', rounds: '3' });
  assert.equal(uniform.plans.length, 5);
  assert.ok(uniform.plans.every((p) => p.board === 'rpi5' && p.link === 'wifi-congested' && p.offline.length === 0));
  assert.equal(uniform.rounds, 3);
  assert.throws(() => wifiScenario({ quick: false, file: WIFI_EXPERIMENT_FILE, rounds: '0' }), /--rounds must be a positive integer/);
});
