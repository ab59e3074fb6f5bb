import { fileURLToPath } from 'node:url';
import { startDemoUpstream } from '../demo/upstream.js';
import { Gateway } from '../gateway/gateway.js';
import { reportConfigError } from './config-errors.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

/** `npm start`: the demo upstream and the gateway in front of it, with commands to try. */
export async function runDemo(file = EXAMPLE): Promise<void> {
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 3000 });
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ configFile: file, env: process.env, ops: true, watch: true });
  } catch (err) {
    await upstream.close();
    if (!reportConfigError(err)) throw err;
    process.exit(1);
  }
  const http = gateway.addresses.http;
  const ops = gateway.addresses.ops;
  const base = `http://127.0.0.1:${http?.port ?? 8080}`;
  process.stdout.write(
    [
      '',
      'Portcullis demo',
      `  gateway        ${base}`,
      `  demo upstream  ${upstream.url} (the API being protected)`,
      ops === undefined ? '' : `  health         http://127.0.0.1:${ops.port}/healthz and /readyz`,
      `  config         ${file} (edit it: the gateway reloads on save)`,
      '',
      'Try:',
      `  curl -i ${base}/accounts/acc_1001`,
      `  curl -i '${base}/accounts/..%2fadmin/accounts/acc_1001'     # path trick: refused with 400`,
      `  curl -i -X DELETE ${base}/admin/accounts/acc_1001 -H 'X-Forwarded-For: 10.0.0.5'  # admin only from 10/8; a spoofed IP is refused (403)`,
      '',
      'Stop with Ctrl-C.',
      '',
    ].join('\n'),
  );
  process.on('SIGHUP', () => gateway.reload('SIGHUP'));
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void gateway
      .stop(2_000)
      .then(() => upstream.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
