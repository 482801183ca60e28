import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRecorder, type EnergyMeterLike } from './telemetry.ts';

function fakeEnergy(): EnergyMeterLike & { usage: unknown } {
  const m = {
    board: 'x86-generic',
    usage: null as unknown,
    start() {},
    async stop(usage: unknown) {
      m.usage = usage;
      return { joules: 12.5, source: 'estimate' as const, detail: 'estimate: x86-generic' };
    },
  };
  return m;
}

test('a round record: phases, wall time, bytes as deltas, energy from the meter', async () => {
  let t = 1000;
  let sent = 100;
  let received = 50;
  const energy = fakeEnergy();
  const rec = new RoundRecorder({
    energy,
    engineMemory: () => ({ numBytes: 4096, numTensors: 12, wasmHeapBytes: 1 << 20 }),
    wire: () => ({ bytesSent: sent, bytesReceived: received }),
    freeMemory: () => 123,
    temperature: () => 47.5,
    now: () => t,
    samplePeriodMs: 0,
  });
  assert.equal(await rec.finish({ experiment: 'e', agent: 'a', family: 'resnet8' }, null), null, 'nothing open');
  rec.begin(3);
  await rec.time('train', () => {
    t += 2500;
  });
  rec.add('upload', 0.25);
  t += 500;
  sent += 700;
  received += 2100;
  const r = await rec.finish({ experiment: 'e', agent: 'a', family: 'resnet8' }, { head: 0.5, prototype: 0.4, testCount: 10 });
  assert.ok(r);
  assert.equal(r.round, 3);
  assert.equal(r.phases.train, 2.5);
  assert.equal(r.phases.upload, 0.25);
  assert.equal(r.phases.round, 3);
  assert.deepEqual(r.net, { bytesSent: 700, bytesReceived: 2100 });
  assert.equal(r.energy.joules, 12.5);
  assert.equal((energy.usage as { wallSeconds: number }).wallSeconds, 3);
  assert.equal(r.memory.engineTensors, 12);
  assert.equal(r.memory.wasmHeapBytes, 1 << 20);
  assert.equal(r.memory.freeSystemBytes, 123);
  assert.ok(r.memory.peakRssBytes > 0);
  assert.equal(r.temperatureC, 47.5);
  assert.equal(r.board, 'x86-generic');
  assert.equal(rec.round, null);
});
