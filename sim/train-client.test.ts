import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TinyProtoError } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';
import type { ClientUpload } from '../learner/types.ts';
import { trainClients, trainOrRestore, type TrainableClient } from './train-client.ts';

/** A client whose one weight each round of training adds 1 to; `fail` says how a round ends. */
class FakeClient implements TrainableClient {
  w = 0;
  constructor(
    readonly id: number,
    private readonly fail: (round: number) => Error | null,
  ) {}
  async train(round: number): Promise<ClientUpload> {
    this.w += 1; // the weights change before the failure shows, as a diverging step's do
    const e = this.fail(round);
    if (e) throw e;
    return { client: this.id, round } as unknown as ClientUpload;
  }
  getState(): ModelState {
    return { w: { shape: [1], data: Float32Array.of(this.w) } };
  }
  setState(state: ModelState): void {
    this.w = state['w']!.data[0]!;
  }
}

const diverged = (id: number, round: number): Error => new TinyProtoError('E_DIVERGED', `client ${id}: training diverged: its feature 3 of training sample 0 is NaN after round ${round}`);

test('a round whose training diverges returns the failure and puts the weights back as they were before it', async () => {
  const c = new FakeClient(4, (r) => (r === 2 ? diverged(4, r) : null));
  assert.ok('upload' in (await trainOrRestore(c, 1, null)));
  assert.equal(c.w, 1);
  const r = await trainOrRestore(c, 2, null);
  assert.deepEqual(r, { failure: { client: 4, round: 2, code: 'E_DIVERGED', message: 'client 4: training diverged: its feature 3 of training sample 0 is NaN after round 2' } });
  assert.equal(c.w, 1, 'weights from before round 2');
  // the next round trains from them
  assert.ok('upload' in (await trainOrRestore(c, 3, null)));
  assert.equal(c.w, 2);
});

test('any other error is the run\'s, not the client\'s: it is thrown, and nothing is restored', async () => {
  const c = new FakeClient(1, () => new TinyProtoError('E_MODEL', 'session closed'));
  await assert.rejects(trainOrRestore(c, 1, null), { code: 'E_MODEL', message: 'session closed' });
  const plain = new FakeClient(2, () => new Error('boom'));
  await assert.rejects(trainOrRestore(plain, 1, null), /boom/);
});

test('trainClients: the chosen clients in order, uploads and failures apart, progress for each', async () => {
  const clients = [0, 1, 2, 3].map((id) => new FakeClient(id, (r) => (id === 2 ? diverged(id, r) : null)));
  const seen: number[] = [];
  const r = await trainClients(clients, 5, null, [1, 2, 3], (c) => seen.push(c));
  assert.deepEqual(r.uploads.map((u) => u.client), [1, 3]);
  assert.deepEqual(r.failed.map((f) => [f.client, f.round, f.code]), [[2, 5, 'E_DIVERGED']]);
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(clients.map((c) => c.w), [0, 1, 0, 1], 'client 0 not chosen; client 2 restored');
  const all = await trainClients(clients, 6, null, undefined);
  assert.deepEqual(all.uploads.map((u) => u.client), [0, 1, 3]);
});
