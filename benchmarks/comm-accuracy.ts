/**
 * `npm run bench:comm`, part 2: accuracy of TinyProto float32 / float16 / int8 and FedProto
 * float32 from a short simulation with the same seed, with the mean message bytes per client per
 * round it recorded.
 */
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { pct, textTable } from '../common/table.ts';
import { fmt, ratio } from './comm-tables.ts';
import { paperSimSettings } from './sim-settings.ts';

export interface SimRun {
  label: string;
  method: SimConfig['method'];
  valueType: SimConfig['valueType'];
}
const simRuns: SimRun[] = [
  { label: 'FedProto float32', method: 'fedproto', valueType: 'float32' },
  { label: 'TinyProto float32', method: 'tinyproto', valueType: 'float32' },
  { label: 'TinyProto float16', method: 'tinyproto', valueType: 'float16' },
  { label: 'TinyProto int8', method: 'tinyproto', valueType: 'int8' },
];
export interface SimRow {
  run: SimRun;
  result: SimResult;
  meanMessageUp: number;
  meanMessageDown: number;
}

export interface CommSimOptions {
  rounds: string;
  'samples-per-client': string;
  clients: string;
  seed: string;
  data?: string | undefined;
  noSim: boolean;
}

export interface CommSim {
  rounds: number;
  cap: number;
  simBase: Partial<SimConfig>;
  simRows: SimRow[];
  accHeader: string[];
  accTable: string[][];
  datasetName: string;
}

/** Runs the four simulations (unless `noSim`) and prints the accuracy table. */
export async function simulateValueTypes(values: CommSimOptions): Promise<CommSim> {
  const rounds = Number(values.rounds);
  const cap = Number(values['samples-per-client']);
  const simBase: Partial<SimConfig> = paperSimSettings({ clients: Number(values.clients), rounds, samplesPerClient: cap, seed: Number(values.seed), dataDir: values.data ?? null }, true);
  const simRows: SimRow[] = [];
  let accHeader: string[] = [];
  let accTable: string[][] = [];
  let datasetName = '';
  if (!values.noSim) {
    const ds = loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all');
    datasetName = ds.name;
    console.log(`\nsimulation — ${ds.name}, ${simBase.clients} clients, Dir(${simBase.alpha}), ${rounds} rounds, at most ${cap} samples per client, seed ${simBase.seed}`);
    for (const run of simRuns) {
      const cfg = resolveSimConfig({ ...simBase, method: run.method, valueType: run.valueType });
      const result = await simulate(cfg, {
        dataset: ds,
        onRound: (r) => process.stderr.write(`  ${run.label} round ${r.round}/${rounds}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} (${r.seconds.toFixed(1)} s)\n`),
      });
      let up = 0;
      let down = 0;
      let n = 0;
      for (const r of result.rounds) {
        for (const c of r.clients) {
          up += c.messageBytesUp;
          down += c.messageBytesDown;
          n++;
        }
      }
      simRows.push({ run, result, meanMessageUp: n ? up / n : 0, meanMessageDown: n ? down / n : 0 });
      console.log(`${run.label}: done in ${result.seconds.toFixed(0)} s`);
    }
    const fedUp = simRows.find((r) => r.run.method === 'fedproto')?.meanMessageUp;
    accHeader = ['method', 'values', 'best acc (head)', 'last acc (head)', 'best acc (proto)', 'last acc (proto)', 'payload up B', 'message up B', 'message down B', 'message up vs FedProto', 'time'];
    accTable = simRows.map(({ run, result, meanMessageUp, meanMessageDown }) => {
      const s = result.summary;
      return [
        run.method === 'fedproto' ? 'FedProto' : 'TinyProto r=10%',
        run.valueType,
        `${pct(s.best.accuracyHead)} (r${s.best.roundHead})`,
        pct(s.last.accuracyHead),
        s.best.accuracyPrototype === null ? 'n/a' : `${pct(s.best.accuracyPrototype)} (r${s.best.roundPrototype})`,
        pct(s.last.accuracyPrototype),
        fmt(Math.round(s.meanBytesUpPerClientRound)),
        fmt(Math.round(meanMessageUp)),
        fmt(Math.round(meanMessageDown)),
        fedUp ? ratio(fedUp, meanMessageUp) : 'n/a',
        `${result.seconds.toFixed(0)} s`,
      ];
    });
    console.log('\n' + textTable(accHeader, accTable));
  }
  return { rounds, cap, simBase, simRows, accHeader, accTable, datasetName };
}
