import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openAggregatorStore } from './store.ts';
import { openAggregatorStoreReadOnly } from './store-view.ts';
import { openAgentStore } from '../agent/store.ts';
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agg-view-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const freshFile = (): string => join(dir, `agg-${++seq}.db`);
const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const telemetry = (agent: string, round: number): RoundTelemetry => ({ experiment: 'e1', agent, round, accuracy: null }) as unknown as RoundTelemetry;

describe('AggregatorStoreView contract (file)', () => {
  test('experiments, closed rounds and telemetry read back as the store wrote them', () => {
    const path = freshFile();
    const s = openAggregatorStore(path);
    s.createExperiment('e1', { method: 'tinyproto', agents: ['a', 'b'] }, null);
    s.createExperiment('e2', { method: 'fedproto' }, bytes(1));
    s.openRound('e1', 1, bytes(1), 1000);
    s.closeRound('e1', 1, bytes(2), { bytesIn: 10 });
    s.openRound('e1', 2, bytes(3), 1000);
    s.recordTelemetry('e1', 'b', 1, telemetry('b', 1), 5);
    s.recordTelemetry('e1', 'a', 1, telemetry('a', 1), 6);
    const v = openAggregatorStoreReadOnly(path);
    try {
      assert.deepEqual(v.experiments(), [
        { id: 'e1', config: { agents: ['a', 'b'], method: 'tinyproto' } },
        { id: 'e2', config: { method: 'fedproto' } },
      ]);
      assert.deepEqual(v.closedRounds('e1'), [{ round: 1, summary: { bytesIn: 10 } }]);
      assert.deepEqual(v.closedRounds('e2'), []);
      assert.equal(v.hasTelemetry, true);
      assert.deepEqual(v.telemetry('e1'), s.telemetry('e1').map((t) => ({ agent: t.agent, round: t.round, record: t })));
      assert.deepEqual(v.telemetry('e1').map((t) => t.agent), ['a', 'b']);
      s.closeRound('e1', 2, null, {});
      assert.equal(v.closedRounds('e1').length, 2, 'sees what the writer commits later');
    } finally {
      v.close();
      v.close();
      s.close();
    }
  });

  test('unreadable records come back as null; a v1 store has no telemetry', () => {
    const path = freshFile();
    const s = openAggregatorStore(path);
    s.createExperiment('e1', {}, null);
    s.openRound('e1', 1, bytes(1), 1000);
    s.closeRound('e1', 1, null, {});
    s.close();
    const raw = new Database(path);
    raw.prepare("UPDATE experiment SET config = 'not json'").run();
    raw.prepare("UPDATE round SET summary = '[1]'").run();
    raw.exec('DROP TABLE telemetry; PRAGMA user_version = 1');
    raw.close();
    const v = openAggregatorStoreReadOnly(path);
    try {
      assert.deepEqual(v.experiments(), [{ id: 'e1', config: null }]);
      assert.deepEqual(v.closedRounds('e1'), [{ round: 1, summary: null }]);
      assert.equal(v.hasTelemetry, false);
      assert.deepEqual(v.telemetry('e1'), []);
    } finally {
      v.close();
    }
  });

  test('typed errors: another kind of store (E_STORE, or the caller\'s own error)', () => {
    const agent = freshFile();
    openAgentStore(agent).close();
    assert.throws(() => openAggregatorStoreReadOnly(agent), (e: unknown) => isTinyProtoError(e, 'E_STORE') && /is a tinyproto agent store, not an aggregator store/.test(e.message));
    assert.throws(() => openAggregatorStoreReadOnly(agent, (m) => new TinyProtoError('E_CONFIG', m)), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  });
});
