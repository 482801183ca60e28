/**
 * `npm run bench:comm`: what TinyProto saves on the wire, per client per round.
 *
 *  1. Bytes for FedProto (dense float32, d = 500) and TinyProto (r = 10 %, s = 50) with float32,
 *     float16 and int8 values, K = 10, for an agent holding 1, 3 or 10 classes, at three levels:
 *     payload (values only, METHOD.md's arithmetic), the encoded message (codec header, presence
 *     bitmap, values, CRC), and the bytes on the socket including MQTT framing, counted on real
 *     connections: an agent publishes UPLOADs (QoS 1, `tinyproto/{experiment}/upload/{agent}`)
 *     and receives the aggregator's retained QoS 1 GLOBAL. Each connection goes through a small
 *     counting TCP relay, so the count is exactly the TCP payload both ways (PUBLISH + PUBACK),
 *     whatever the transport: the embedded aedes broker (MQTT 3.1.1, plain TCP) and, when
 *     mosquitto is installed, the fleet configuration (MQTT 5, plain TCP and TLS: the version the
 *     broker negotiates, TLS 1.3, and TLS 1.2 forced on the client side).
 *     TCP/IP headers (and TCP ACKs) are not counted.
 *  2. Accuracy of TinyProto float32 / float16 / int8 and FedProto float32 from a short simulation
 *     with the same seed, with the mean message bytes per client per round it recorded.
 *  3. FedAvg (whole model, weights averaged) next to them: a ResNet-8 state's bytes on the same
 *     connections, and FedAvg / FedProto / TinyProto accuracy with every client on ResNet-8
 *     (comm-fedavg.ts; `--no-fedavg` skips it).
 *
 * Writes benchmarks/results/comm.json and comm.md and refreshes the README block. The parts:
 * comm-relay.ts (byte counting), comm-wire.ts (1), comm-tables.ts (tables), comm-accuracy.ts (2), comm-fedavg.ts (3).
 *
 *   npm run bench:comm -- [--rounds R] [--samples-per-client M] [--clients N] [--seed S]
 *                         [--reps N] [--no-sim] [--no-mosquitto] [--no-fedavg]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { markdownTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { mosquittoBin } from '../mqtt/mosquitto.ts';
import { execFileSync } from 'node:child_process';
import { SETUP_DEFAULTS, setupText } from '../method/experiment.ts';
import { CLASS_COUNTS, COMM_SETTING, ENCODINGS } from './comm-sizes.ts';
import { measureWire } from './comm-wire.ts';
import { fmt, sizeTables } from './comm-tables.ts';
import { simulateValueTypes } from './comm-accuracy.ts';
import { chunkPayloads, fedavgStateBytes, fedavgWireTable, HOMOGENEOUS_HEADER, homogeneousTable, printHomogeneous, simulateHomogeneous, type HomogeneousRow } from './comm-fedavg.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../wire/codec-types.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    'samples-per-client': { type: 'string', default: '200' },
    clients: { type: 'string', default: '10' },
    seed: { type: 'string', default: String(SETUP_DEFAULTS.seed) },
    reps: { type: 'string', default: '3' },
    data: { type: 'string' },
    'no-sim': { type: 'boolean', default: false },
    'no-mosquitto': { type: 'boolean', default: false },
    'no-fedavg': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});
const reps = Number(values.reps);
const t0 = performance.now();

// FedAvg (comm-fedavg.ts): a real ResNet-8 state's float32 bytes, in chunks of the protocol's message limit
const fedavgState = values['no-fedavg'] ? null : await fedavgStateBytes();
if (fedavgState) console.log(`FedAvg: ResNet-8 state ${fedavgState.bytes} B (${fedavgState.params} trainable parameters, ${fedavgState.tensors} tensors incl. batch-norm statistics)`);
const { scenarios, notMeasured } = await measureWire(reps, values['no-mosquitto'], fedavgState ? chunkPayloads(fedavgState.bytes) : null);
const { fed, sizeRows, sizeHeader, sizeTable, ratioHeader, ratioTable, ratioJson, setupLine } = sizeTables(scenarios);
const { rounds, cap, simBase, simRows, accHeader, accTable, datasetName } = await simulateValueTypes({ ...values, noSim: values['no-sim'] });
let homogeneous: HomogeneousRow[] = [];
if (!values['no-sim'] && fedavgState) {
  console.log(`\nhomogeneous simulation (every client ResNet-8) — FedAvg, FedProto, TinyProto at the same setting`);
  homogeneous = await simulateHomogeneous(simBase, loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all'), (l) => console.log(l));
  printHomogeneous(homogeneous);
}

// ------------------------------------------------------------------------------ output

const seconds = (performance.now() - t0) / 1000;
const wireNotes = scenarios
  .map((s) => `${s.label} (MQTT ${s.protocolVersion === 5 ? '5' : '3.1.1'} negotiated${s.tlsInfo ? `; ${s.tlsInfo.protocol}, ${s.tlsInfo.cipher}, broker-config/mosquitto.fleet.conf` : ''})`)
  .join('; ');
const fedUp3 = sizeRows.find((r) => r.direction === 'upload' && r.encoding === fed.label && r.classes === 3)!;
const tiny3 = sizeRows.find((r) => r.direction === 'upload' && r.encoding === 'TinyProto float32' && r.classes === 3)!;
const plainV5 = scenarios.find((s) => s.key === 'mosquitto-tcp');
const mosquittoVersion = (() => {
  try {
    return /version (\S+)/.exec(execFileSync(mosquittoBin() ?? 'mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? '';
  } catch (e) {
    // mosquitto -h exits with status 3 after printing its usage
    const out = (e as { stdout?: string }).stdout ?? '';
    return /version (\S+)/.exec(out)?.[1] ?? '';
  }
})();
const tlsScenarios = scenarios.filter((s) => s.tls);
const tlsLine =
  tlsScenarios.length > 0 && plainV5
    ? tlsScenarios
        .map(
          (s) =>
            `${s.tlsInfo?.protocol ?? 'TLS'} (${s.tlsInfo?.cipher ?? '?'}) adds ${fmt(tiny3.wire[s.key]! - tiny3.wire[plainV5.key]!)} B to a 3-class TinyProto float32 upload and ${fmt(fedUp3.wire[s.key]! - fedUp3.wire[plainV5.key]!)} B to a 3-class FedProto one`,
        )
        .join('; ') +
      ` (measured against the same broker without TLS: a record header and AEAD tag, plus an explicit nonce in TLS 1.2, per TLS record; one record for the PUBLISH and one for the PUBACK, more above 16 KiB). ` +
      `With the fleet config's \`tls_version tlsv1.2\`, mosquitto ${mosquittoVersion} negotiated ${tlsScenarios[0]?.tlsInfo?.protocol ?? '?'} with an uncapped Node client, so the setting acts as a minimum, not a pin.`
    : 'TLS overhead: not measured (see below).';
let md =
  `Bytes per client per round, K = ${COMM_SETTING.K}, d = ${COMM_SETTING.d}, TinyProto r = ${COMM_SETTING.ratio * 100}% (s = ${COMM_SETTING.s}); experiment \`${COMM_SETTING.experiment}\`, agent \`${COMM_SETTING.agent}\`. ` +
  `Upload = one UPLOAD of the classes the agent holds; download = the GLOBAL with all ${COMM_SETTING.K} classes. ` +
  `**payload** = prototype values only (METHOD.md's arithmetic; int8 includes its 4-byte scale per class); ` +
  `**message** = the codec message (header, K/d/s, presence bitmap, [contributor counts], values, CRC); ` +
  `**wire** = bytes counted on the agent's TCP connection for that message: the QoS 1 PUBLISH and the PUBACK going the other way, including MQTT framing and, in the TLS columns, TLS records.\n\n` +
  markdownTable(sizeHeader, sizeTable) +
  `\n\nCompression ratio FedProto float32 / TinyProto, measured:\n\n` +
  markdownTable(ratioHeader, ratioTable) +
  `\n\n_Wire bytes are counted by a TCP relay between each MQTT.js client (\`mqtt/session.ts\`, QoS 1, topic \`tinyproto/${COMM_SETTING.experiment}/upload/${COMM_SETTING.agent}\`; GLOBAL retained on \`tinyproto/${COMM_SETTING.experiment}/global\`) and the broker: ${wireNotes}. ` +
  `Each message was sent ${reps} times; the counts were identical unless a warning was printed. ` +
  `${tlsLine} ` +
  `One-off connection set-up per agent: ${setupLine}. ` +
  `Not counted: TCP/IP headers (40+ B per segment) and TCP ACKs; MQTT keep-alive pings (4 B every 30 s); the aggregator's own PUBLISH of the GLOBAL (once per round for all agents; in comm.json)._`;
if (simRows.length > 0) {
  md +=
    `\n\nAccuracy by value type (same seed, short run):\n\n` +
    markdownTable(accHeader, accTable) +
    `\n\n_${datasetName}, ${simBase.clients} clients, Dir(${simBase.alpha}), ${rounds} round${rounds === 1 ? '' : 's'}, at most ${cap} samples per client (75% train / 25% test), heterogeneous backbones, ${setupText(SETUP_DEFAULTS)}, seed ${simBase.seed}. ` +
    `Bytes are means per client per round from the simulation's records (every prototype goes through the codec; the message has a shorter experiment id \`sim\` and sender \`client-N\`). ` +
    `A short run: differences of a point or two are within run-to-run noise._`;
}
if (fedavgState) {
  const ft = fedavgWireTable(scenarios, sizeRows, fedavgState);
  md +=
    `\n\nFedAvg, which sends the whole model instead of prototypes, per client per round (upload: FedProto and TinyProto with 3 classes held; download: all ${COMM_SETTING.K} classes):\n\n` +
    markdownTable(ft.header, ft.rows) +
    `\n\n_FedAvg's payload is a real ResNet-8 model state (d = ${COMM_SETTING.d}, K = ${COMM_SETTING.K}, 28x28x1: ${fmt(fedavgState.params)} trainable parameters, ${fedavgState.tensors} tensors with the batch-norm statistics, all float32; method/fedavg.ts averages all of them). ` +
    `Our protocol has no model message (the codec carries prototypes), so these are the exact state bytes with no codec header, split into QoS 1 PUBLISHes of at most ${fmt(DEFAULT_MAX_MESSAGE_BYTES)} B (the protocol's message limit; both brokers refuse larger packets) with no chunk header, and counted on the same relayed connections as the prototype messages: the wire bytes are measured, the payload carries no header (a real model transfer would add a few bytes per chunk)._`;
  if (homogeneous.length > 0) {
    md +=
      `\n\nAccuracy with every client on ResNet-8 (FedAvg needs one architecture), same setting and seed as above:\n\n` +
      markdownTable(HOMOGENEOUS_HEADER, homogeneousTable(homogeneous)) +
      `\n\n_${datasetName}, ${simBase.clients} clients, Dir(${simBase.alpha}), ${rounds} rounds, at most ${cap} samples per client, all ResNet-8, ${setupText(SETUP_DEFAULTS)}, seed ${simBase.seed}. FedAvg's bytes are the state's float32 payload per client per round (simulate records stateBytes); FedAvg has no prototypes ("proto" n/a). A short run: a ranking by accuracy needs bench:accuracy's seeds and rounds._`;
  }
}
md += `\n\n_Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(1)} min on ${os.availableParallelism()} cores with \`npm run bench:comm\`._`;
if (notMeasured.length > 1) md += `\n\n_Not measured: ${notMeasured.slice(1).join(' ')}_`;

const updated = writeBenchmarkResults(values.out, 'comm', 'bench:comm', md, {
      date: new Date().toISOString(),
      seconds,
      setting: COMM_SETTING,
      encodings: ENCODINGS,
      classCounts: CLASS_COUNTS,
      repetitions: reps,
      sizes: sizeRows,
      ratios: ratioJson,
      wire: scenarios,
      notMeasured,
      fedavg: fedavgState
        ? {
            state: fedavgState,
            chunkLimit: DEFAULT_MAX_MESSAGE_BYTES,
            wire: scenarios.map((s) => ({ key: s.key, ...s.fedavg })),
            homogeneous: homogeneous.map((r) => ({ label: r.label, method: r.method, summary: r.result.summary, mu: r.result.mu, rounds: r.result.rounds.map(({ clients: _c, ...x }) => x) })),
          }
        : null,
      simulation:
        simRows.length === 0
          ? null
          : {
              settings: simBase,
              runs: simRows.map(({ run, result, meanMessageUp, meanMessageDown }) => ({
                label: run.label,
                method: run.method,
                valueType: run.valueType,
                mu: result.mu,
                masks: result.masks,
                summary: result.summary,
                meanMessageBytesUpPerClientRound: meanMessageUp,
                meanMessageBytesDownPerClientRound: meanMessageDown,
                rounds: result.rounds.map(({ clients: _c, ...r }) => r),
              })),
            },
    });
console.log(`\nwrote ${values.out}/comm.json and comm.md${updated ? '; README.md block refreshed' : ''} (${(seconds / 60).toFixed(1)} min)`);
