/**
 * `npm run bench:comm`: the size and compression tables (payload, message, and the wire bytes
 * measured per scenario), printed and returned for the report.
 */
import { textTable } from '../common/table.ts';
import { TinyProtoError } from '../common/errors.ts';
import { CLASS_COUNTS, COMM_SETTING, ENCODINGS, globalMessageBytes, makeGlobalMessage, makeUploadMessage, payloadBytes, uploadMessageBytes } from './comm-sizes.ts';
import type { ScenarioResult } from './comm-wire.ts';

export const fmt = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toLocaleString('en-US'));
export const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(1)}x`);

export interface SizeRow {
  direction: 'upload' | 'download';
  encoding: string;
  classes: number;
  payload: number;
  message: number;
  wire: Record<string, number>;
}

export interface SizeTables {
  fed: (typeof ENCODINGS)[number];
  sizeRows: SizeRow[];
  sizeHeader: string[];
  sizeTable: string[][];
  ratioHeader: string[];
  ratioTable: string[][];
  ratioJson: { direction: string; valueType: string; classes: number; payload: number; message: number; wire: Record<string, number> }[];
  setupLine: string;
}

/** Builds the tables from the measured scenarios, checks the arithmetic against the codec, prints them. */
export function sizeTables(scenarios: readonly ScenarioResult[]): SizeTables {
  const wireHeaders = scenarios.map((s) => `wire: ${s.label}`);
  const fed = ENCODINGS.find((e) => e.method === 'fedproto')!;
  const tiny = ENCODINGS.filter((e) => e.method === 'tinyproto');

  const sizeRows: SizeRow[] = [];
  for (const enc of ENCODINGS) {
    for (const n of CLASS_COUNTS) {
      sizeRows.push({
        direction: 'upload',
        encoding: enc.label,
        classes: n,
        payload: payloadBytes(enc, n),
        message: uploadMessageBytes(enc, n),
        wire: Object.fromEntries(scenarios.map((s) => [s.key, s.upload[`${enc.label}|${n}`]!.total])),
      });
    }
  }
  for (const enc of ENCODINGS) {
    sizeRows.push({
      direction: 'download',
      encoding: enc.label,
      classes: COMM_SETTING.K,
      payload: payloadBytes(enc, COMM_SETTING.K),
      message: globalMessageBytes(enc, COMM_SETTING.K),
      wire: Object.fromEntries(scenarios.map((s) => [s.key, s.download[enc.label]!.total])),
    });
  }
  // the benchmark's arithmetic must be what went over the wire
  for (const enc of ENCODINGS) {
    for (const n of CLASS_COUNTS) if (makeUploadMessage(enc, n).length !== uploadMessageBytes(enc, n)) throw new TinyProtoError('E_SHAPE', `upload size mismatch ${enc.label} ${n}`);
    if (makeGlobalMessage(enc).length !== globalMessageBytes(enc, COMM_SETTING.K)) throw new TinyProtoError('E_SHAPE', `global size mismatch ${enc.label}`);
  }

  const sizeHeader = ['direction', 'encoding', 'classes', 'payload B', 'message B', ...wireHeaders];
  const sizeTable = sizeRows.map((r) => [r.direction, r.encoding, String(r.classes), fmt(r.payload), fmt(r.message), ...scenarios.map((s) => fmt(r.wire[s.key]))]);

  const ratioHeader = ['direction', 'FedProto / TinyProto', 'classes', 'payload', 'message', ...wireHeaders];
  const ratioTable: string[][] = [];
  const ratioJson: { direction: string; valueType: string; classes: number; payload: number; message: number; wire: Record<string, number> }[] = [];
  for (const dir of ['upload', 'download'] as const) {
    for (const t of tiny) {
      for (const n of dir === 'upload' ? CLASS_COUNTS : [COMM_SETTING.K]) {
        const f = sizeRows.find((r) => r.direction === dir && r.encoding === fed.label && r.classes === n)!;
        const x = sizeRows.find((r) => r.direction === dir && r.encoding === t.label && r.classes === n)!;
        ratioTable.push([dir, `vs ${t.label}`, String(n), ratio(f.payload, x.payload), ratio(f.message, x.message), ...scenarios.map((s) => ratio(f.wire[s.key], x.wire[s.key]))]);
        ratioJson.push({
          direction: dir,
          valueType: t.valueType,
          classes: n,
          payload: f.payload / x.payload,
          message: f.message / x.message,
          wire: Object.fromEntries(scenarios.map((s) => [s.key, f.wire[s.key]! / x.wire[s.key]!])),
        });
      }
    }
  }
  console.log('\nBytes per client per round (wire = PUBLISH + PUBACK on the agent\'s socket):\n' + textTable(sizeHeader, sizeTable));
  console.log('\nCompression, FedProto float32 / TinyProto:\n' + textTable(ratioHeader, ratioTable));
  const setupLine = scenarios.map((s) => `${s.label}: ${fmt(s.agentSetupBytes)} B`).join('; ');
  console.log(`\nOne-off connection set-up per agent (TLS handshake, CONNECT/CONNACK, SUBSCRIBE/SUBACK): ${setupLine}`);
  return { fed, sizeRows, sizeHeader, sizeTable, ratioHeader, ratioTable, ratioJson, setupLine };
}
