/** What `tinyproto server` and `tinyproto relay` open first, written once. */
import type { Logger } from '../common/logger.ts';
import { openAggregatorStore, type AggregatorStore } from '../aggregator/store.ts';
import { aggregatorSigningKey } from '../aggregator/signing.ts';
import type { AggregatorConnection } from '../aggregator/transport.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';

export interface OpenedSide {
  readonly store: AggregatorStore;
  readonly key: ReturnType<typeof aggregatorSigningKey>;
  /** The embedded broker when --broker embedded, else null. */
  readonly broker: EmbeddedBroker | null;
  /** The connection to use: the embedded broker's URL when there is one. */
  readonly connection: AggregatorConnection;
}

/**
 * The store, the signing key and (with --broker embedded) the embedded broker; null after
 * --print-key printed the public key (nothing else was started, the store is closed again).
 */
export async function openAggregatorSide(args: { readonly store: string; readonly signingKey: string | null; readonly printKey: boolean; readonly embeddedPort: number | null; readonly connection: AggregatorConnection }, logger: Logger, out: (s: string) => void): Promise<OpenedSide | null> {
  const store = openAggregatorStore(args.store);
  const key = aggregatorSigningKey(store.keys, args.signingKey);
  if (args.printKey) {
    out(key.publicKey);
    store.close();
    return null;
  }
  let broker: EmbeddedBroker | null = null;
  let connection = args.connection;
  if (args.embeddedPort !== null) {
    broker = await startEmbeddedBroker({ port: args.embeddedPort, logger });
    connection = { ...connection, broker: broker.url };
    out(`embedded MQTT broker (aedes, MQTT 3.1.1) on ${broker.url}`);
  }
  return { store, key, broker, connection };
}
