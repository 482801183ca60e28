/**
 * `tinyproto relay`: an edge relay (relay/relay.ts) between a site broker with its agents and
 * the coordinator's broker. It takes the server's experiment flags (the coordinator's settings;
 * `--agents` = this site's agents) and its own: --upstream, --id, --coordinator-key, ...
 */
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { signingAggregatorTransport } from '../aggregator/signing.ts';
import { AgentAuthentication, readAgentKeysFile } from '../aggregator/authenticity.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { assertValidId } from '../wire/topics.ts';
import { Relay, type PartialSettled, type RoundSealed } from '../relay/relay.ts';
import { MqttRelayUpstream } from '../relay/upstream.ts';
import { CoordinatorAuthenticity } from '../relay/coordinator-key.ts';
import { serverArgs } from './server.ts';
import { openAggregatorSide } from './server-start.ts';

export const RELAY_HELP = `Usage: tinyproto relay --id ID --upstream URL --agents IDS [server options]

An edge relay: the aggregator of one site's agents (on --broker, the site broker), following the
coordinator (a tinyproto server started with --relays ID,... on --upstream). It passes the
coordinator's masks, rounds and global prototypes on (verified, re-signed with its own key),
takes its agents' uploads exactly as the server does (validated, committed in SQLite, receipted),
and sends the coordinator ONE partial sum per round, resent until the coordinator's receipt.
Killed and restarted with the same store, it loses nothing it receipted.

  --id ID                  the relay's id (1-32 of A-Z a-z 0-9 . _ -, not an agent id) (required)
  --upstream URL           the coordinator's broker (mqtt:// or mqtts://) (required)
  --upstream-username U / --upstream-password P
                           login on the upstream broker (default: username = the relay id, no password)
  --coordinator-key HEX    the coordinator's public key (default: pinned on first contact)
  --margin-ms MS           seal the round this long before the coordinator's deadline (default 2000)
  --resend-ms MS           resend an unacknowledged partial this often (default 2000)
  --store FILE             SQLite file (default tinyproto-relay.db)
  --agents IDS             this site's agents, comma-separated (the coordinator's --agents holds
                           them too) (required)
Every other option is tinyproto server's (tinyproto server --help). The experiment settings must
be the coordinator's (experiment id, method, classes, feature dim, ratio, seed, mu, value type,
rounds); also signing key, agent keys, broker (or embedded), commit and hold-acks options.
`;

const RELAY_FLAGS = ['id', 'upstream', 'upstream-username', 'upstream-password', 'coordinator-key', 'margin-ms', 'resend-ms'] as const;
type RelayFlag = (typeof RELAY_FLAGS)[number];

/** Splits the relay's own flags from the server's. */
export function takeRelayFlags(argv: readonly string[]): { rest: string[]; flags: Partial<Record<RelayFlag, string>> } {
  const rest: string[] = [];
  const flags: Partial<Record<RelayFlag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    const name = m?.[1] as RelayFlag | undefined;
    if (!m || !name || !RELAY_FLAGS.includes(name)) {
      rest.push(a);
      continue;
    }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new TinyProtoError('E_CONFIG', `--${name} needs a value`);
    flags[name] = v;
  }
  return { rest, flags };
}

function msFlag(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 3_600_000) throw new TinyProtoError('E_CONFIG', `--${name} must be an integer from 0 to 3600000, got "${text}"`);
  return Number(text);
}

export async function runRelay(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const { rest, flags } = takeRelayFlags(argv);
  if (rest.includes('-h') || rest.includes('--help')) {
    out(RELAY_HELP);
    return 0;
  }
  if (!flags.id) throw new TinyProtoError('E_CONFIG', 'relay: --id is required');
  if (!flags.upstream) throw new TinyProtoError('E_CONFIG', "relay: --upstream URL (the coordinator's broker) is required");
  assertValidId('agent', flags.id);
  const hasStore = rest.some((a) => a === '--store' || a.startsWith('--store='));
  const args = serverArgs(hasStore ? rest : [...rest, '--store', 'tinyproto-relay.db'], process.env);
  const c = args.experiment;
  const opened = await openAggregatorSide(args, logger, out);
  if (opened === null) return 0;
  const { store, key, broker, connection } = opened;
  // on one broker the relay's site session would take over the coordinator's (same client id)
  if (connection.broker === flags.upstream) throw new TinyProtoError('E_CONFIG', `relay: --broker and --upstream are the same broker (${flags.upstream}); a relay links a site broker to the coordinator's`);
  const site = new MqttAggregatorTransport(c.experiment, connection, logger);
  const auth = new AgentAuthentication({ store, experiment: c.experiment, agents: c.agents, keys: args.agentKeys ? readAgentKeysFile(args.agentKeys) : null, logger });
  const transport = auth.wrap(signingAggregatorTransport(site, key.signer));
  const up = new MqttRelayUpstream(c.experiment, flags.id, { ...args.connection, broker: flags.upstream, username: flags['upstream-username'] ?? null, password: flags['upstream-password'] ?? null }, logger);
  const coordinator = new CoordinatorAuthenticity({ store, experiment: c.experiment, coordinatorKey: flags['coordinator-key'] ?? null, logger });
  const relay = new Relay({
    config: c,
    store,
    transport,
    logger,
    commit: args.commit,
    relayId: flags.id,
    upstream: coordinator.wrap(up),
    signer: key.signer,
    marginMs: msFlag('margin-ms', flags['margin-ms'], 2000),
    resendMs: msFlag('resend-ms', flags['resend-ms'], 2000),
  });
  out(`relay ${flags.id} key ${key.publicKey} (${key.source}; its agents pin it as their aggregator, the coordinator as relay ${flags.id})`);
  relay.on('roundOpened', (r: { round: number; selected: string[]; resumed: boolean }) => out(`round ${r.round} ${r.resumed ? 'resumed' : 'opened'}: ${r.selected.length} site agent(s) selected`));
  relay.on('sealed', (r: RoundSealed) => out(`round ${r.round} sealed (${r.outcome}): ${r.uploads}/${r.selected} uploads, partial ${r.partialBytes} B`));
  relay.on('partialSent', (r: { round: number; bytes: number }) => out(`partial of round ${r.round} sent (${r.bytes} B)`));
  relay.on('partialSettled', (r: PartialSettled) => out(`partial of round ${r.round} settled: ${r.outcome}${r.code ? ` ${r.code}` : ''}`));
  const stop = (): void => void relay.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await site.start();
    await up.start();
    out(`relay ${flags.id} for "${c.experiment}": site ${connection.broker}, upstream ${flags.upstream}; ${c.agents.length} site agent(s)`);
    await relay.start();
    const pending = relay.unsettledRounds();
    if (pending.length > 0) out(`resending the partial of round(s) ${pending.join(', ')}`);
    await relay.done;
    out(`finished: ${c.rounds} rounds`);
  } finally {
    await relay.stop();
    await transport.close();
    await up.close();
    await broker?.close();
    store.close();
  }
  return 0;
}
