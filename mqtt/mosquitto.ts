/**
 * Test helpers for running a real mosquitto (2.0) broker as a child process with the
 * configs in broker-config/.
 *
 *   const broker = await startMosquitto({ config: 'fleet', agents: ['agent-1'] });
 *   try { ... mqtt.connect(broker.tlsUrl!, { ca: readFileSync(broker.caFile!), ... }) }
 *   finally { await broker.stop(); }
 *
 * Everything binds to 127.0.0.1 only. Use `mosquittoAvailable()` as a skip condition.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { PACKAGE_ROOT } from '../common/runtime.ts';

/** Absolute path of the repository's broker-config/ directory. */
export const BROKER_CONFIG_DIR = join(PACKAGE_ROOT, 'broker-config');
export const DEV_TEMPLATE = join(BROKER_CONFIG_DIR, 'mosquitto.dev.conf');
export const FLEET_TEMPLATE = join(BROKER_CONFIG_DIR, 'mosquitto.fleet.conf');
export const CREDENTIALS_SCRIPT = join(BROKER_CONFIG_DIR, 'make-fleet-credentials.sh');
export const RENDER_SCRIPT = join(BROKER_CONFIG_DIR, 'render-fleet-config.sh');

const LOOPBACK = '127.0.0.1';

function findExecutable(name: string, extraDirs: string[]): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...extraDirs].filter((d) => d.length > 0);
  for (const d of dirs) {
    const candidate = join(d, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** The mosquitto binary: $MOSQUITTO_BIN, else PATH, else /usr/sbin (Debian puts it there, off the user PATH). */
export function mosquittoBin(): string | undefined {
  const fromEnv = process.env['MOSQUITTO_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  return findExecutable('mosquitto', ['/usr/sbin', '/usr/local/sbin']);
}

export function mosquittoPasswdBin(): string | undefined {
  const fromEnv = process.env['MOSQUITTO_PASSWD'];
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : undefined;
  return findExecutable('mosquitto_passwd', ['/usr/bin', '/usr/local/bin']);
}

/** True when a mosquitto broker binary is installed (use as a test skip condition). */
export function mosquittoAvailable(): boolean {
  return mosquittoBin() !== undefined;
}

/** True when everything needed for the fleet config exists (mosquitto, mosquitto_passwd, openssl). */
export function fleetToolsAvailable(): boolean {
  return mosquittoAvailable() && mosquittoPasswdBin() !== undefined && findExecutable('openssl', ['/usr/bin']) !== undefined;
}

/**
 * A currently free TCP port on `host` (bind port 0, read it, close). There is an unavoidable
 * window in which someone else could take it; startMosquitto retries on EADDRINUSE.
 */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new TinyProtoError('E_BROKER', 'freePort: unexpected address'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolvePort(port));
    });
  });
}

// ---------------------------------------------------------------------------------------
// Config rendering
// ---------------------------------------------------------------------------------------

export interface FleetConfigOptions {
  /** Fleet directory (made by make-fleet-credentials.sh); made absolute. */
  dir: string;
  /** TLS listener port (default 8883). */
  tlsPort?: number;
  /** TLS listener bind address (default 0.0.0.0). */
  tlsBind?: string;
  /** When set, also enable the plain listener on 127.0.0.1:plainPort (auth + ACL still apply). */
  plainPort?: number;
  /** Value for mosquitto's `user` option (needed when running as root with a private dir). */
  user?: string;
  /** Template path (default broker-config/mosquitto.fleet.conf). */
  template?: string;
}

const BAD_PATH_CHARS = /[\s@&\\]/;

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TinyProtoError('E_CONFIG', `${name}: invalid port ${port}`);
}

/**
 * Render broker-config/mosquitto.fleet.conf with absolute paths. Same algorithm as
 * broker-config/render-fleet-config.sh: `#@IF_PLAIN@` / `#@IF_USER@` prefixed lines are
 * enabled (prefix stripped) or left commented (`#`), and the @FLEET_DIR@, @TLS_PORT@,
 * @TLS_BIND@, @PLAIN_PORT@, @RUN_AS_USER@ placeholders are substituted in active lines.
 */
export function renderFleetConfig(opts: FleetConfigOptions): string {
  const dir = resolve(opts.dir);
  if (BAD_PATH_CHARS.test(dir)) throw new TinyProtoError('E_CONFIG', `renderFleetConfig: fleet dir must not contain whitespace, @, & or backslash: ${dir}`);
  const tlsPort = opts.tlsPort ?? 8883;
  checkPort('tlsPort', tlsPort);
  if (opts.plainPort !== undefined) checkPort('plainPort', opts.plainPort);
  const values: Record<string, string> = {
    '@FLEET_DIR@': dir,
    '@TLS_PORT@': String(tlsPort),
    '@TLS_BIND@': opts.tlsBind ?? '0.0.0.0',
    '@PLAIN_PORT@': String(opts.plainPort ?? 1883),
    '@RUN_AS_USER@': opts.user ?? 'mosquitto',
  };
  const subst = (s: string): string => s.replace(/@[A-Z_]+@/g, (m) => values[m] ?? m);
  const template = readFileSync(opts.template ?? FLEET_TEMPLATE, 'utf8');
  const out: string[] = ['# Rendered from broker-config/mosquitto.fleet.conf — edit the template and re-render.'];
  const lines = template.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (line.startsWith('#@IF_PLAIN@')) {
      out.push((opts.plainPort !== undefined ? '' : '#') + subst(line.slice('#@IF_PLAIN@'.length)));
    } else if (line.startsWith('#@IF_USER@')) {
      out.push((opts.user !== undefined ? '' : '#') + subst(line.slice('#@IF_USER@'.length)));
    } else if (line.startsWith('#') || line.trim() === '') {
      out.push(line);
    } else {
      out.push(subst(line));
    }
  }
  const rendered = out.join('\n') + '\n';
  const leftover = rendered.split('\n').find((l) => !l.startsWith('#') && /@[A-Z_]+@/.test(l));
  if (leftover !== undefined) throw new TinyProtoError('E_CONFIG', `renderFleetConfig: unsubstituted placeholder in: ${leftover}`);
  return rendered;
}

export interface DevConfigOptions {
  /** Listener port on 127.0.0.1 (default 1883). */
  port?: number;
  /** Absolute persistence directory (replaces ./mosquitto-data). */
  persistenceDir: string;
  /** Value for mosquitto's `user` option. */
  user?: string;
  template?: string;
}

/** Render broker-config/mosquitto.dev.conf with a given port and an absolute persistence dir. */
export function renderDevConfig(opts: DevConfigOptions): string {
  const port = opts.port ?? 1883;
  checkPort('port', port);
  let text = readFileSync(opts.template ?? DEV_TEMPLATE, 'utf8');
  const replaceLine = (re: RegExp, line: string): void => {
    if (!re.test(text)) throw new TinyProtoError('E_CONFIG', `renderDevConfig: template has no line matching ${re}`);
    text = text.replace(re, line);
  };
  replaceLine(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} ${LOOPBACK}`);
  replaceLine(/^persistence_location .*$/m, `persistence_location ${resolve(opts.persistenceDir)}`);
  if (opts.user !== undefined) text += `\n# Added by renderDevConfig\nuser ${opts.user}\n`;
  return text;
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new TinyProtoError('E_BROKER', `${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        return;
      }
      resolveRun({ stdout, stderr });
    });
  });
}

/** Run broker-config/make-fleet-credentials.sh and return DIR/credentials.json. */
export async function makeFleetCredentials(
  dir: string,
  agents: readonly string[],
  opts: { force?: boolean; timeoutMs?: number } = {},
): Promise<Record<string, string>> {
  const args = [...(opts.force === true ? ['--force'] : []), dir, ...agents];
  await run(CREDENTIALS_SCRIPT, args, opts.timeoutMs ?? 30_000);
  return JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as Record<string, string>;
}

// ---------------------------------------------------------------------------------------
// Running mosquitto
// ---------------------------------------------------------------------------------------

export interface StartMosquittoOptions {
  config: 'dev' | 'fleet';
  /** Working directory for config, data and credentials; a temp dir (removed by stop()) if omitted. */
  dir?: string;
  /** Agent ids to create credentials for ('fleet' only). */
  agents?: string[];
  /** 'fleet': also open the loopback plain listener (auth + ACL apply); default true. */
  plainListener?: boolean;
  /** How long to wait for the listeners to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

export interface RunningMosquitto {
  /** mqtt://127.0.0.1:port — the dev listener, or the fleet's loopback plain listener (not listening if plainListener: false). */
  url: string;
  /** mqtts://127.0.0.1:tlsPort ('fleet' only). */
  tlsUrl?: string;
  port: number;
  tlsPort?: number;
  /** The fleet CA certificate ('fleet' only). */
  caFile?: string;
  /** username → password, including `aggregator` ('fleet' only). */
  credentials?: Record<string, string>;
  /** Directory holding mosquitto.conf, data/ and (fleet) the credentials. */
  dir: string;
  configFile: string;
  pid: number;
  /** Terminate mosquitto (SIGTERM, SIGKILL after 5 s) and wait for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** Everything mosquitto logged (stdout + stderr) so far. */
  logs(): string;
}

const LOG_CAP = 256 * 1024;

function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveConn) => {
    const sock = createConnection({ host: LOOPBACK, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolveConn(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class AddressInUse extends Error {}

/** Start mosquitto in the foreground with the dev or fleet config on free loopback ports. */
export async function startMosquitto(opts: StartMosquittoOptions): Promise<RunningMosquitto> {
  const bin = mosquittoBin();
  if (bin === undefined) throw new TinyProtoError('E_BROKER', 'mosquitto not found (apt-get install mosquitto, or set MOSQUITTO_BIN)');
  const ownDir = opts.dir === undefined;
  const dir = resolve(opts.dir ?? (await mkdtemp(join(tmpdir(), `tinyproto-mosquitto-${opts.config}-`))));
  mkdirSync(dir, { recursive: true });
  // Started as root, mosquitto drops to the `mosquitto` user, which cannot read a private
  // temp dir: keep running as the current user instead.
  const user = process.getuid?.() === 0 ? userInfo().username : undefined;

  try {
    let credentials: Record<string, string> | undefined;
    if (opts.config === 'fleet') {
      credentials = await makeFleetCredentials(dir, opts.agents ?? [], { force: true, timeoutMs: 30_000 + 20 * (opts.agents?.length ?? 0) }); // mosquitto_passwd runs once per user
    }
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });

    for (let attempt = 1; ; attempt++) {
      try {
        return await spawnOnce(bin, opts, dir, dataDir, user, credentials, ownDir);
      } catch (err) {
        if (err instanceof AddressInUse && attempt < 3) continue;
        throw err;
      }
    }
  } catch (err) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function spawnOnce(
  bin: string,
  opts: StartMosquittoOptions,
  dir: string,
  dataDir: string,
  user: string | undefined,
  credentials: Record<string, string> | undefined,
  ownDir: boolean,
): Promise<RunningMosquitto> {
  const fleet = opts.config === 'fleet';
  const port = await freePort();
  const tlsPort = fleet ? await freePort() : undefined;
  const plain = !fleet || opts.plainListener !== false;
  const configFile = join(dir, 'mosquitto.conf');
  const text = fleet
    ? renderFleetConfig({
        dir,
        tlsPort: tlsPort ?? 8883,
        tlsBind: LOOPBACK,
        ...(plain ? { plainPort: port } : {}),
        ...(user !== undefined ? { user } : {}),
      })
    : renderDevConfig({ port, persistenceDir: dataDir, ...(user !== undefined ? { user } : {}) });
  writeFileSync(configFile, text);

  const child: ChildProcess = spawn(bin, ['-c', configFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (chunk: Buffer): void => {
    log += chunk.toString('utf8');
    if (log.length > LOG_CAP) log = log.slice(log.length - LOG_CAP);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((r) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    });
  });
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });
  // Never leave an orphan broker behind if the test process dies without stop().
  const killOnExit = (): void => {
    if (exited === undefined) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const ports = [...(plain ? [port] : []), ...(tlsPort !== undefined ? [tlsPort] : [])];
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  try {
    for (;;) {
      if (spawnError !== undefined) throw new TinyProtoError('E_BROKER', `failed to spawn ${bin}: ${spawnError.message}`);
      if (exited !== undefined) {
        if (/Address already in use/i.test(log)) throw new AddressInUse(log);
        throw new TinyProtoError('E_BROKER', `mosquitto exited early (code ${exited.code}, signal ${exited.signal}). Log:\n${log}`);
      }
      // mosquitto opens every listener before logging "running", so all must accept.
      const ok = await Promise.all(ports.map((p) => canConnect(p, 500)));
      if (ok.every(Boolean) && /running/.test(log)) break;
      if (Date.now() > deadline) {
        throw new TinyProtoError('E_BROKER', `mosquitto did not accept connections on ${ports.join(', ')} within the timeout. Log:\n${log}`);
      }
      await sleep(50);
    }
  } catch (err) {
    // Keep the dir for the retry; startMosquitto removes it on final failure.
    if (exited === undefined) {
      child.kill('SIGKILL');
      await exitPromise;
    }
    process.removeListener('exit', killOnExit);
    throw err;
  }

  return {
    url: `mqtt://${LOOPBACK}:${port}`,
    port,
    ...(tlsPort !== undefined ? { tlsUrl: `mqtts://${LOOPBACK}:${tlsPort}`, tlsPort } : {}),
    ...(fleet ? { caFile: join(dir, 'ca.crt') } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
    dir,
    configFile,
    pid: child.pid ?? -1,
    stop,
    logs: () => log,
  };
}
