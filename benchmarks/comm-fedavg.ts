/**
 * `npm run bench:comm`, part 3: FedAvg (method/fedavg.ts) next to FedProto and TinyProto.
 *
 *  - Bytes: FedAvg sends the whole model state (every tensor as float32, batch-norm statistics
 *    included: method/fedavg.ts stateBytes) up and down each round. Our protocol has no model
 *    message (the wire codec carries prototypes only), so the payload is those exact state bytes,
 *    split into PUBLISHes of at most the protocol's 262,144-byte message limit (the brokers refuse
 *    larger packets: mqtt/broker.ts, broker-config max_packet_size) with no chunk header, and the
 *    wire bytes are counted on real connections the same way as the prototype messages
 *    (comm-wire.ts). The state is a real ResNet-8 model's (d = 500, K = 10, 28x28x1).
 *  - Accuracy: FedAvg, FedProto and TinyProto at one small setting with every client on ResNet-8
 *    (FedAvg needs one architecture), same seed.
 */
import { createEngine } from '../models/index.ts';
import { stateBytes } from '../method/fedavg.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../wire/codec-types.ts';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import type { ImageDataset } from '../data/types.ts';
import { pct, textTable } from '../common/table.ts';
import { COMM_SETTING } from './comm-sizes.ts';
import { fmt, ratio, type SizeRow } from './comm-tables.ts';
import type { ScenarioResult } from './comm-wire.ts';

export const FEDAVG_FAMILY = 'resnet8' as const;

/** The float32 bytes of a freshly initialised ResNet-8 state at the paper's d and K, on Fashion-MNIST's input. */
export async function fedavgStateBytes(): Promise<{ bytes: number; params: number; tensors: number }> {
  const engine = await createEngine({ engine: 'ort' });
  try {
    const model = engine.createModel({ family: FEDAVG_FAMILY, inputShape: [28, 28, 1], featureDim: COMM_SETTING.d, numClasses: COMM_SETTING.K, seed: 1 });
    const state = model.getState();
    const out = { bytes: stateBytes(state), params: model.paramCount, tensors: Object.keys(state).length };
    model.dispose();
    return out;
  } finally {
    await engine.close?.();
  }
}

/** The chunks one FedAvg transfer needs under the protocol's message limit: sizes in bytes. */
export function fedavgChunks(bytes: number, limit = DEFAULT_MAX_MESSAGE_BYTES): number[] {
  const out: number[] = [];
  for (let left = bytes; left > 0; left -= limit) out.push(Math.min(limit, left));
  return out;
}

/** Deterministic stand-in bytes of the right length (the wire count does not depend on the values). */
export function chunkPayloads(bytes: number): Uint8Array[] {
  return fedavgChunks(bytes).map((n, i) => {
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = (k * 31 + i * 7) & 0xff;
    return b;
  });
}

export interface HomogeneousRow {
  readonly label: string;
  readonly method: SimConfig['method'];
  readonly result: SimResult;
  readonly meanPayloadUp: number;
  readonly meanPayloadDown: number;
}

/** FedAvg, FedProto and TinyProto with every client on ResNet-8; prints a table. */
export async function simulateHomogeneous(base: Partial<SimConfig>, ds: ImageDataset, log: (s: string) => void): Promise<HomogeneousRow[]> {
  const rows: HomogeneousRow[] = [];
  for (const [label, method] of [
    ['FedAvg', 'fedavg'],
    ['FedProto', 'fedproto'],
    ['TinyProto r=10%', 'tinyproto'],
  ] as const) {
    const cfg = resolveSimConfig({ ...base, method, families: [FEDAVG_FAMILY] });
    const result = await simulate(cfg, { dataset: ds });
    const s = result.summary;
    rows.push({ label, method, result, meanPayloadUp: s.meanBytesUpPerClientRound, meanPayloadDown: s.meanBytesDownPerClientRound });
    log(`${label} (all ResNet-8): head ${pct(s.last.accuracyHead)} proto ${pct(s.last.accuracyPrototype)}, ${result.seconds.toFixed(0)} s`);
  }
  return rows;
}

export const HOMOGENEOUS_HEADER = ['method (all ResNet-8)', 'best acc (head)', 'last acc (head)', 'last acc (proto)', 'payload up B/client/round', 'payload down B/client/round', 'up vs FedAvg', 'time'];

export function homogeneousTable(rows: readonly HomogeneousRow[]): string[][] {
  const avg = rows.find((r) => r.method === 'fedavg')?.meanPayloadUp;
  return rows.map((r) => {
    const s = r.result.summary;
    return [
      r.label,
      `${pct(s.best.accuracyHead)} (r${s.best.roundHead})`,
      pct(s.last.accuracyHead),
      r.method === 'fedavg' ? 'n/a' : pct(s.last.accuracyPrototype),
      fmt(Math.round(r.meanPayloadUp)),
      fmt(Math.round(r.meanPayloadDown)),
      r.method === 'fedavg' ? '1.0x' : `${ratio(avg, r.meanPayloadUp)} less`,
      `${r.result.seconds.toFixed(0)} s`,
    ];
  });
}

export function printHomogeneous(rows: readonly HomogeneousRow[]): void {
  console.log('\nFedAvg vs FedProto vs TinyProto, every client on ResNet-8:\n' + textTable(HOMOGENEOUS_HEADER, homogeneousTable(rows)));
}

/** Per scenario, the wire bytes of one 3-class upload and one GLOBAL, for FedProto and TinyProto float32, beside FedAvg's. */
export function fedavgWireTable(
  scenarios: readonly ScenarioResult[],
  sizeRows: readonly SizeRow[],
  state: { bytes: number },
  classes = 3,
): { header: string[]; rows: string[][] } {
  const header = ['direction', 'method', 'payload B', ...scenarios.map((s) => `wire: ${s.label}`)];
  const rows: string[][] = [];
  for (const dir of ['upload', 'download'] as const) {
    const n = dir === 'upload' ? classes : COMM_SETTING.K;
    rows.push([dir, `FedAvg (ResNet-8 state, ${fedavgChunks(state.bytes).length} PUBLISHes)`, fmt(state.bytes), ...scenarios.map((s) => fmt(s.fedavg?.[dir].total))]);
    for (const enc of ['FedProto float32', 'TinyProto float32']) {
      const r = sizeRows.find((x) => x.direction === dir && x.encoding === enc && x.classes === n);
      if (!r) continue;
      rows.push([dir, `${enc} (${n} classes)`, fmt(r.payload), ...scenarios.map((s) => fmt(r.wire[s.key]))]);
    }
    const tiny = sizeRows.find((x) => x.direction === dir && x.encoding === 'TinyProto float32' && x.classes === n);
    if (tiny) rows.push([dir, 'FedAvg / TinyProto float32', ratio(state.bytes, tiny.payload), ...scenarios.map((s) => ratio(s.fedavg?.[dir].total, tiny.wire[s.key]))]);
  }
  return { header, rows };
}
