import { Gateway } from '../gateway/gateway.js';
import { reportConfigError } from './config-errors.js';
import { runCluster } from './cluster.js';

/** Runs the gateway until SIGTERM/SIGINT; SIGHUP reloads the config. */
export async function runStart(file: string, workers: number): Promise<void> {
  if (workers > 1) {
    await runCluster(file, workers);
    return;
  }
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ configFile: file, env: process.env, ops: true, watch: true });
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    process.exit(1);
  }
  process.on('SIGHUP', () => gateway.reload('SIGHUP'));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void gateway.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
