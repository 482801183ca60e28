/**
 * One experiment's agent with its real parts: its SQLite store, the training engine, its signing
 * key, the MQTT transport (signed on the way out, authenticity-checked on the way in) and the
 * Agent. What `tinyproto agent --experiment` runs once, and what the long-lived fleet agent
 * (agent/supervisor.ts) runs for each announced experiment in turn.
 */
import { Agent, type RoundTrained } from './agent.ts';
import type { AgentConfig } from './config.ts';
import { openAgentStore, type AgentStore } from './store.ts';
import { MqttAgentTransport, type FleetAnnouncements } from './transport.ts';
import { agentSigner, signAgentFrame, signingAgentTransport } from './signing.ts';
import { AgentAuthenticity } from './authenticity.ts';
import { createEngine } from '../models/index.ts';
import { familyForClient } from '../models/zoo-info.ts';
import { engineOptions } from '../learner/engine-settings.ts';
import type { Engine } from '../models/engine.ts';
import type { Logger } from '../common/logger.ts';
import type { FrameSigner } from '../wire/signature.ts';
import { pct } from '../common/table.ts';

export interface ExperimentRun {
  readonly config: AgentConfig;
  readonly agent: Agent;
  readonly transport: MqttAgentTransport;
  readonly store: AgentStore;
  readonly authenticity: AgentAuthenticity;
  readonly engine: Engine;
  /** Finishes the work in hand, says offline, closes the connection and the store. Idempotent. */
  stop(): Promise<void>;
}

export interface ExperimentRunOptions {
  logger: Logger;
  /** The signer of everything the agent publishes; default: the key kept in the experiment's store. */
  signer?: FrameSigner;
  /** Progress lines (round trained, uploaded, evaluated ...), each prefixed with `[id]`. */
  out?: (line: string) => void;
  /** A long-lived agent: the connection also carries its fleet's announcements. */
  fleet?: FleetAnnouncements;
}

/** Progress lines for an agent's events. */
export function printAgentEvents(agent: Agent, tag: string, out: (line: string) => void): void {
  agent.on('trained', (t: RoundTrained) =>
    out(`${tag} round ${t.round}: trained in ${t.trainSeconds.toFixed(1)} s (loss ${t.loss.toFixed(4)}), ${t.classesHeld} classes, upload ${t.uploadBytes} B`),
  );
  agent.on('uploaded', (u: { round: number; attempts: number }) => out(`${tag} round ${u.round}: upload acknowledged by the broker (attempt ${u.attempts})`));
  agent.on('skipped', (k: { round: number; reason: string }) => out(`${tag} round ${k.round}: skipped (${k.reason})`));
  agent.on('delivered', (u: { round: number; attempts: number; outcome: string; code: string }) =>
    out(`${tag} round ${u.round}: upload ${u.outcome === 'rejected' ? `rejected by the aggregator (${u.code})` : `committed by the aggregator (${u.outcome}, ${u.attempts} send(s))`}`),
  );
  agent.on('evaluated', (e: { round: number; accuracyHead: number; accuracyPrototype: number | null }) =>
    out(`${tag} round ${e.round}: accuracy head ${pct(e.accuracyHead)}, prototype ${pct(e.accuracyPrototype)}`),
  );
  agent.on('dropped', (d: { what: string; code: string }) => out(`${tag} dropped a ${d.what} message: ${d.code}`));
}

/**
 * Builds the experiment's agent and starts it (data shard loaded or carved, checkpoint and saved
 * messages restored, handlers installed). The MQTT session is created but not started: the
 * caller starts `run.transport` (its first connection is retried for ever).
 */
export async function startExperimentAgent(config: AgentConfig, opts: ExperimentRunOptions): Promise<ExperimentRun> {
  const { logger } = opts;
  const store = openAgentStore(config.store);
  let agent: Agent | null = null;
  let transport: MqttAgentTransport | null = null;
  try {
    const family = config.family ?? familyForClient(config.client);
    const engine = await createEngine(engineOptions(config, logger));
    // the agent signs what it publishes (its last will too) and accepts from the aggregator only
    // what the aggregator's key signed (configured, or pinned on first contact)
    const signer = opts.signer ?? agentSigner(store);
    const will = signAgentFrame(Agent.willMessage(config, store.lastCompletedRound(config.experiment), family), signer);
    transport = new MqttAgentTransport(config, will, logger, opts.fleet);
    const authenticity = new AgentAuthenticity({ store, experiment: config.experiment, aggregatorKey: config.aggregatorKey, logger });
    agent = new Agent({ config, store, transport: authenticity.wrap(signingAgentTransport(transport, signer)), engine, logger });
    const tag = `[${config.id}]`;
    if (opts.out) {
      const out = opts.out;
      authenticity.onDrop((d) => out(`${tag} dropped a ${d.kind} message that the aggregator did not sign: ${d.code}`));
      printAgentEvents(agent, tag, out);
    }
    await agent.start();
    const a = agent;
    const t = transport;
    let stopped: Promise<void> | null = null;
    return {
      config,
      agent: a,
      transport: t,
      store,
      authenticity,
      engine,
      stop: () =>
        (stopped ??= (async () => {
          await a.stop();
          await t.close();
          // the engine's training worker threads, if any
          await engine.close?.();
          store.close();
        })()),
    };
  } catch (e) {
    await transport?.close().catch(() => undefined);
    store.close();
    throw e;
  }
}
