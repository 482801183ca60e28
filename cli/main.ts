/** The `tinyproto` command line. */
import { isTinyProtoError } from '../common/errors.ts';
import { makeLogger, safeJson, takeLogFlags, LOG_DEFAULTS, type LogSettings } from './log.ts';
import { versionLine } from './version.ts';
import { runDoctor } from './doctor.ts';
import { runSimulate } from './simulate.ts';
import { runAgent } from './agent.ts';
import { runServer } from './server.ts';
import { runRelay } from './relay.ts';
import { runFleetCommand } from './fleet.ts';
import { runReport } from './report.ts';
import { runExport } from './export.ts';

const HELP = `Usage: tinyproto <command> [options]

Commands:
  simulate    run a federated experiment with every client in this machine
              (TinyProto, FedProto or Local; heterogeneous backbones; real data)
  server      the aggregator: masks, rounds, validation, aggregation, SQLite (MQTT)
  relay       an edge relay: one site's aggregator, one partial sum per round to the server
  agent       the on-board agent: data shard, training, uploads, SQLite (MQTT)
  fleet       a local fleet: broker (embedded by default) + aggregator + N agent processes
  report      CSV, JSON, charts (SVG/PNG) and an HTML page from aggregator stores or simulation JSON
  export      an agent's latest checkpoint as an inference ONNX model (--eval: on its own test split)
  doctor      checks this board: board and energy source, sensors, ONNX Runtime, SQLite store,
              memory, disk, clock, broker (with these credentials and TLS); non-zero on a problem

Global options (every command):
  --log-level debug|info|warn|error   (default warn; env TINYPROTO_LOG)
  --log-format text|json              json: one JSON object per line on stderr (env TINYPROTO_LOG_FORMAT)
  --version                           the version, build and runtime

simulate, fleet and server read one experiment file with --experiment-file FILE (TOML or JSON;
examples in experiments/); flags override it.

Run "tinyproto <command> --help" for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  };
  let settings: LogSettings = LOG_DEFAULTS;
  let cmd: string | undefined = argv[0];
  try {
    const taken = takeLogFlags(argv);
    settings = taken.settings;
    // child processes (fleet agents, shard carving) log the same way
    if (taken.rest.length !== argv.length) Object.assign(process.env, { TINYPROTO_LOG: settings.level, TINYPROTO_LOG_FORMAT: settings.format });
    const [first, ...rest] = taken.rest;
    cmd = first;
    const logger = makeLogger(settings);
    switch (cmd) {
      case '--version':
      case '-V':
      case 'version':
        out(versionLine());
        return 0;
      case 'doctor':
        return await runDoctor(rest, out, logger);
      case 'simulate':
        return await runSimulate(rest, out, logger);
      case 'agent':
        return await runAgent(rest, out, logger);
      case 'server':
        return await runServer(rest, out, logger);
      case 'relay':
        return await runRelay(rest, out, logger);
      case 'fleet':
        return await runFleetCommand(rest, out, logger);
      case 'report':
        return runReport(rest, out);
      case 'export':
        return await runExport(rest, out, logger);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        out(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        process.stderr.write(`tinyproto: unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (isTinyProtoError(e)) {
      if (settings.format === 'json') process.stderr.write(safeJson({ time: new Date().toISOString(), level: 'error', msg: e.message, code: e.code, command: cmd ?? null }) + '\n');
      else process.stderr.write(`tinyproto ${cmd}: ${e.message} [${e.code}]\n`);
      return e.code === 'E_CONFIG' ? 2 : 1;
    }
    if (e instanceof TypeError && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tinyproto ${cmd}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
