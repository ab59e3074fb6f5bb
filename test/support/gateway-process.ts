import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** The `portcullis` command as installed (package.json `bin`): serving commands start a node of their own. */
export const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

/** A fixed master key for gateways started by tests (32 bytes, base64); never a real one. */
export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** The environment of a gateway started by a test: the test master key unless one is given. */
export function gatewayEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, PORTCULLIS_MASTER_KEY: TEST_MASTER_KEY, ...extra };
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly configFile: string;
  readonly http?: number;
  readonly https?: number;
  readonly ops?: number;
  /** Every JSON log line the process wrote so far. */
  readonly logs: Record<string, unknown>[];
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    ms?: number,
  ): Promise<Record<string, unknown>>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A config with one public route, GET /catalog, to the upstream at `url`, and an ops listener. */
export function catalogConfig(url: string): string {
  return writeConfig(`listeners:
  http: { host: 127.0.0.1, port: 0 }
  ops: { host: 127.0.0.1, port: 0 }
upstreams:
  demo:
    targets: [${url}]
routes:
  - { name: catalog, paths: [/catalog], methods: [GET], upstream: demo, auth: { public: true } }
`);
}

export function writeConfig(yaml: string, dir = mkdtempSync(join(tmpdir(), 'pcl-'))): string {
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Starts the real CLI (`portcullis start`) as a child process and waits until it listens. */
export async function startGateway(
  configFile: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = gatewayEnv(),
  /** How long to wait for `gateway ready`: several workers start slower on a busy machine. */
  readyMs = 10_000,
  /** The script node runs, with its own node flags first: CLI (main.js) or BIN. */
  command: readonly string[] = [CLI],
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...command, 'start', '-c', configFile, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    p: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      logs.push(line);
      for (const w of [...waiters]) {
        if (w.p(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  const waitForLog = (
    p: (l: Record<string, unknown>) => boolean,
    ms = 10_000,
  ): Promise<Record<string, unknown>> => {
    const seen = logs.find(p);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`log line not seen in ${ms} ms; stderr: ${stderr}`)),
        ms,
      );
      waiters.push({
        p,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited with ${String(code)}: ${stderr}`));
      });
    });
  };
  const port = async (msg: string): Promise<number | undefined> => {
    const line = await waitForLog((l) => l.msg === msg || l.msg === 'gateway ready', 10_000);
    if (line.msg !== msg) return undefined;
    return (line.address as { port: number }).port;
  };
  await waitForLog((l) => l.msg === 'gateway ready', readyMs);
  const result: GatewayProcess = {
    child,
    configFile,
    http: logs.some((l) => l.msg === 'http listener ready')
      ? await port('http listener ready')
      : undefined,
    https: logs.some((l) => l.msg === 'https listener ready')
      ? await port('https listener ready')
      : undefined,
    ops: logs.some((l) => l.msg === 'ops listener ready')
      ? await port('ops listener ready')
      : undefined,
    logs,
    waitForLog,
    stderr: () => stderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
  return result;
}
