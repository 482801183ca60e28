/** The `tinyproto` command line. */
import { isTinyProtoError } from '../protocol/errors.ts';
import type { Logger } from '../protocol/logger.ts';
import { runSimulate } from './simulate.ts';

const HELP = `Usage: tinyproto <command> [options]

Commands:
  simulate    run a federated experiment with every client in this machine
              (TinyProto, FedProto or Local; heterogeneous backbones; real data)

Run "tinyproto <command> --help" for a command's options.
`;

function consoleLogger(verbose: boolean): Logger {
  const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    if (level === 'debug' && !verbose) return;
    if (level === 'info' && !verbose) return;
    process.stderr.write(`[${level}] ${msg}${fields ? ' ' + JSON.stringify(fields) : ''}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const out = (s: string): void => {
    process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  };
  const logger = consoleLogger(process.env['TINYPROTO_VERBOSE'] === '1');
  try {
    switch (cmd) {
      case 'simulate':
        return await runSimulate(rest, out, logger);
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
      process.stderr.write(`tinyproto ${cmd}: ${e.message} [${e.code}]\n`);
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
