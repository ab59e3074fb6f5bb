import cluster, { type Worker } from 'node:cluster';
import { watch } from 'node:fs';
import type { Server } from 'node:http';
import { basename, dirname } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { DEV_KEY_ENV, newDevKeyText } from '../state/crypto/master-key.js';
import { Gateway } from '../gateway/gateway.js';
import { createLogger } from '../ops/logger.js';
import { clusterMetricsSource, serveMetricsToPrimary } from '../ops/metrics.js';
import { createOpsServer } from '../ops/ops-server.js';
import { IpcLimits, serveLimits } from '../stages/limits/limits-ipc.js';
import { LimitTable } from '../stages/limits/limit-table.js';
import { STAGE_KINDS } from '../stages/registry.js';
import { reportConfigError } from './config-errors.js';

type Message =
  | { type: 'ready' }
  | { type: 'reload'; cause: string }
  | { type: 'shutdown' }
  // The identity JWKS a worker publishes: the primary serves it on the ops listener.
  | { type: 'jwks'; document: { keys: readonly object[] } };

/** Workers re-read the identity signing keys every 10 s; they tell the primary as often. */
const JWKS_EVERY_MS = 10_000;

/**
 * Several worker processes on one machine (node:cluster). The primary validates the config,
 * serves /healthz, /readyz and the workers' metrics summed, watches the file and forwards SIGHUP and SIGTERM; each worker
 * runs a whole gateway, and the kernel spreads connections among them.
 */
export async function runCluster(file: string, workers: number): Promise<void> {
  if (cluster.isWorker) {
    await runWorker(file);
    return;
  }
  let config;
  try {
    config = loadConfigFile(file, { env: process.env, stageKinds: STAGE_KINDS });
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    process.exit(1);
  }
  const log = createLogger({
    level: config.logging.level,
    redactHeaders: config.logging.redactHeaders,
  });
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const ready = new Set<Worker>();
  let stopping = false;
  // Every worker reads the same key set from the store: the latest document any sent is current.
  let jwks: { keys: readonly object[] } = { keys: [] };
  // Dev mode: one throwaway master key for every worker (a key of its own each, and what one
  // encrypted the others could not read). Used only when no real key is set.
  const workerEnv = config.state.encryption.devMode ? { [DEV_KEY_ENV]: newDevKeyText() } : {};
  // The in-process rate limits of every worker, counted here so they hold across workers.
  const limits = new LimitTable({ now: () => Date.now() });
  const fork = (): void => {
    const worker = cluster.fork(workerEnv);
    serveLimits(worker, limits);
    worker.on('message', (m: Message) => {
      if (m.type === 'ready') ready.add(worker);
      if (m.type === 'jwks') jwks = m.document;
    });
    worker.on('exit', (code) => {
      ready.delete(worker);
      if (!stopping) {
        log.error({ pid: worker.process.pid, code }, 'worker exited; starting another');
        fork();
      }
    });
  };
  for (let i = 0; i < workers; i++) fork();

  let ops: Server | undefined;
  if (config.listeners.ops !== undefined) {
    const server = createOpsServer(() => !stopping && ready.size === workers, {
      jwks: () => jwks,
      ...(config.listeners.ops.metrics ? { metrics: clusterMetricsSource() } : {}),
    });
    ops = server;
    // The address as bound (with `port: 0` the config does not say), as a single gateway logs it.
    server.listen(config.listeners.ops.port, config.listeners.ops.host, () =>
      log.info({ address: server.address() }, 'ops listener ready'),
    );
  }
  const broadcast = (m: Message): void => {
    for (const w of Object.values(cluster.workers ?? {})) w?.send(m);
  };
  const reload = (cause: string): void => {
    try {
      loadConfigFile(file, { env: process.env, stageKinds: STAGE_KINDS });
    } catch (err) {
      log.error({ cause, err: String(err) }, 'reload refused; the running config stays');
      return;
    }
    broadcast({ type: 'reload', cause });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (config.server.watchConfig) {
    let timer: NodeJS.Timeout | undefined;
    watch(dirname(file), (_e, name) => {
      if (name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('file change'), 200);
    }).unref();
  }
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    broadcast({ type: 'shutdown' });
    const check = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(check);
        ops?.close();
        process.exit(0);
      }
    }, 50);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log.info({ workers }, 'cluster primary started');
}

async function runWorker(file: string): Promise<void> {
  const gateway = await Gateway.start({
    configFile: file,
    env: process.env,
    ops: false,
    watch: false,
    localLimits: new IpcLimits(),
  });
  process.on('message', (m: Message) => {
    if (m.type === 'reload') gateway.reload(m.cause);
    if (m.type === 'shutdown') void gateway.stop().then(() => process.exit(0));
  });
  // Signals go to the primary, which tells the workers; a terminal's Ctrl-C reaches all of them.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => void gateway.stop().then(() => process.exit(0)));
  const sendJwks = (): void => {
    process.send?.({ type: 'jwks', document: gateway.authn.jwks() } satisfies Message);
  };
  sendJwks();
  setInterval(sendJwks, JWKS_EVERY_MS).unref();
  if (gateway.metrics !== undefined) serveMetricsToPrimary(gateway.metrics.registry);
  process.send?.({ type: 'ready' } satisfies Message);
}
