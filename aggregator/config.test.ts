import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveExperimentConfig } from './config.ts';

test('a fleet refuses the simulation-only FedAvg baseline, naming the methods it runs', () => {
  assert.throws(
    () => resolveExperimentConfig({ method: 'fedavg', agents: ['a1'] }),
    (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /invalid method: fedavg runs only in `tinyproto simulate`.*a fleet runs tinyproto, fedproto, local/.test(e.message),
  );
  assert.equal(resolveExperimentConfig({ method: 'fedproto', agents: ['a1'] }).method, 'fedproto');
});
