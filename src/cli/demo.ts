import { fileURLToPath } from 'node:url';
import { startDemoIssuer, type DemoIssuer } from '../demo/demo-issuer.js';
import { startDemoUpstream } from '../demo/upstream.js';
import { Gateway } from '../gateway/gateway.js';
import { ApiKeyHmac } from '../state/consumers/api-key-hmac.js';
import { ApiKeyStore } from '../state/consumers/api-key-store.js';
import { announceApiKeysChanged } from '../state/consumers/change-announcements.js';
import { newApiKey } from '../state/consumers/new-api-key.js';
import { reportConfigError } from './config-errors.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

/** `npm start`: the demo upstream and the gateway in front of it, with commands to try. */
export async function runDemo(file = EXAMPLE): Promise<void> {
  const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 3000 });
  let issuer: DemoIssuer | undefined;
  let gateway: Gateway;
  try {
    issuer = await startDemoIssuer(3001);
    gateway = await Gateway.start({ configFile: file, env: process.env, ops: true, watch: true });
  } catch (err) {
    await issuer?.close();
    await upstream.close();
    if (!reportConfigError(err)) throw err;
    process.exit(1);
  }
  const aliceKey = await demoApiKey(gateway, 'alice');
  const opsKey = await demoApiKey(gateway, 'ops');
  const bobToken = await issuer.token('bob', ['accounts:read', 'orders:read']);
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
      'Credentials (made for this run only):',
      `  alice's API key  ${aliceKey}`,
      `  bob's token      ${bobToken}`,
      `  ops's API key    ${opsKey} (role admin)`,
      '',
      'Try:',
      `  curl -i ${base}/catalog                                     # public`,
      `  curl -i ${base}/accounts/acc_1001                           # no credential: 401`,
      `  curl -i ${base}/accounts/acc_1001 -H 'X-API-Key: ${aliceKey}'      # alice's own account`,
      `  curl -i ${base}/accounts/acc_1002 -H 'X-API-Key: ${aliceKey}'      # bob's: 404, as if it did not exist`,
      `  curl -i ${base}/accounts/acc_1002 -H 'Authorization: Bearer ${bobToken}'`,
      `  curl -i ${base}/accounts -H 'Authorization: Bearer ${bobToken}'  # every account: admins only, 403`,
      `  curl -i ${base}/accounts -H 'X-API-Key: ${opsKey}'                 # ops is an admin`,
      `  for i in $(seq 12); do curl -s -o /dev/null -w '%{http_code} ' ${base}/accounts -H 'X-API-Key: ${opsKey}'; done  # a list costs 10 units: 429 after 10`,
      `  curl -i '${base}/accounts/..%2fadmin/accounts/acc_1001'     # path trick: refused with 400`,
      `  curl -i -X DELETE ${base}/admin/accounts/acc_1001 -H 'X-API-Key: ${opsKey}' -H 'X-Forwarded-For: 10.0.0.5'  # admin only from 10/8; a spoofed IP is refused (403)`,
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
      .then(() => issuer.close())
      .then(() => upstream.close())
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * A fresh API key for a consumer of the example config, stored the way `portcullis keys create`
 * stores one (HMAC and fingerprint only) and recorded in the audit trail; the key is printed
 * once and lives only in this terminal.
 */
async function demoApiKey(gateway: Gateway, consumerId: string): Promise<string> {
  const { db, keys, cluster, events } = gateway.state;
  const hmac = await ApiKeyHmac.load(db, keys);
  const { key, row } = newApiKey(
    hmac,
    consumerId,
    gateway.runtime.config.authn.apiKeys.environment,
  );
  const stored = await new ApiKeyStore(db).create(row);
  events.recorder.recordAdmin({
    action: 'credential.create',
    decision: 'ok',
    actor: 'system:demo',
    details: { consumer: consumerId, keyId: stored.id, fingerprint: stored.fingerprint },
  });
  await announceApiKeysChanged(cluster);
  return key;
}
