/**
 * Child-process entry of agent/shard.ts: carves one client's shard out of the data set and
 * writes it into the agent's store file, then exits (its memory goes with it).
 *
 *   node --import tsx agent/carve-shard.ts '{"client":0,"clients":4,...,"store":"agent-0.db"}'
 *
 * On failure it prints {"code","message"} as the last stderr line and exits 1.
 */
import { errorCode } from '../common/errors.ts';
import { openAgentStore } from './store.ts';
import { carveShard, type ShardConfig } from './shard.ts';

try {
  const arg = JSON.parse(process.argv[2] ?? '{}') as ShardConfig & { store: string };
  const store = openAgentStore(arg.store);
  try {
    if (store.loadShard() === null) {
      const shard = carveShard(arg);
      store.saveShard(shard.meta, shard.train, shard.test);
    }
  } finally {
    store.close();
  }
} catch (e) {
  process.stderr.write(`${JSON.stringify({ code: errorCode(e), message: e instanceof Error ? e.message : String(e) })}\n`);
  process.exitCode = 1;
}
