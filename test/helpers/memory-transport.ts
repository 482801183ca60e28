/** An agent transport in memory for agent tests: the test delivers aggregator frames, every publish is acknowledged at once. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentTransport } from '../../agent/agent.ts';
import { resolveAgentConfig } from '../../agent/config.ts';
import { openAgentStore, type AgentStore } from '../../agent/store.ts';
import { createEngine } from '../../models/index.ts';
import { decodeStatus } from '../../wire/codec.ts';

type Inbound = Parameters<Parameters<AgentTransport['onMessage']>[0]>[0];

export class MemoryTransport implements AgentTransport {
  handler: ((kind: Inbound, bytes: Uint8Array) => void) | null = null;
  /** The kind of every publish, in order. */
  readonly published: string[] = [];
  /** The byte size of every upload. */
  readonly uploads: number[] = [];
  /** Every status as "state" or "state (note)". */
  readonly statuses: string[] = [];
  /** Runs once, when the agent publishes its next status (before it trains, for a 'training' one). */
  onTraining: (() => void) | null = null;
  onMessage(h: NonNullable<MemoryTransport['handler']>): void {
    this.handler = h;
  }
  onConnect(): void {}
  async publish(kind: Parameters<AgentTransport['publish']>[0], bytes: Uint8Array): Promise<void> {
    this.published.push(kind);
    if (kind === 'upload') this.uploads.push(bytes.length);
    if (kind === 'status') {
      const s = decodeStatus(bytes).body;
      this.statuses.push(s.note === '' ? s.state : `${s.state} (${s.note})`);
      if (this.onTraining) {
        const f = this.onTraining;
        this.onTraining = null;
        f();
      }
    }
  }
  async close(): Promise<void> {}
}

/** One agent (client 0 of 4, 40 samples, ResNet-8) on a MemoryTransport with its own store in a temporary folder. */
export async function memoryAgent(experiment: string): Promise<{ agent: Agent; store: AgentStore; transport: MemoryTransport; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `tinyproto-${experiment}-`));
  const cfg = resolveAgentConfig({ id: 'agent-0', experiment, broker: 'mqtt://127.0.0.1:1', client: 0, clients: 4, samplesPerClient: 40, store: join(dir, 'agent.db'), family: 'resnet8' });
  const store = openAgentStore(cfg.store);
  const transport = new MemoryTransport();
  const agent = new Agent({ config: cfg, store, transport, engine: await createEngine() });
  const close = async (): Promise<void> => {
    await agent.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { agent, store, transport, close };
}
