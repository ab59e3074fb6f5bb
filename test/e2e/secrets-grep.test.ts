import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  gatewayEnv,
  startGateway,
  writeConfig,
  type GatewayProcess,
} from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';

const secret = (label: string): string => `${label}_${randomBytes(16).toString('hex')}`;

const SECRETS = {
  bearer: secret('bearer'),
  basic: secret('basic'),
  cookie: secret('cookie'),
  apiKey: secret('apikey'),
  queryKey: secret('querykey'),
  deniedQuery: secret('deniedquery'),
  password: secret('password'),
  underscoreHeader: secret('underscore'),
  badPathQuery: secret('badpathquery'),
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function exportEvents(configFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, 'events', 'export', '-c', configFile, '--since', '1h'],
      { env: gatewayEnv(), timeout: 15_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('what the gateway writes after traffic carrying known secrets', () => {
  let upstream: RecordingUpstream;
  let gw: GatewayProcess;
  let dir: string;
  let configFile: string;
  let exported = '';
  const deniedIds: string[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    dir = mkdtempSync(join(tmpdir(), 'pcl-grep-'));
    configFile = writeConfig(
      `
listeners:
  http: { host: 127.0.0.1, port: 0 }
  ops: { host: 127.0.0.1, port: 0 }
logging: { level: debug, access: true, redactHeaders: [x-session-token] }
upstreams:
  api: { targets: ['${upstream.origin}'] }
routes:
  - name: api
    paths: [/api/*]
    methods: [GET, POST]
    upstream: api
    auth: { public: true }
  - name: admin
    paths: [/admin/*]
    methods: [GET]
    upstream: api
    auth: { public: true }
    stages:
      - type: ip-restriction
        allow: [10.0.0.0/8]
state:
  store: { sqlite: { path: ./data/portcullis.db } }
  events: { flushIntervalMs: 20 }
`,
      dir,
    );
    gw = await startGateway(configFile);
    const port = gw.http as number;
    const credentials = {
      authorization: `Bearer ${SECRETS.bearer}`,
      cookie: `session=${SECRETS.cookie}`,
      'x-api-key': SECRETS.apiKey,
      'x-session-token': SECRETS.basic,
    };
    const ok = await send(port, {
      path: `/api/items?api_key=${SECRETS.queryKey}`,
      headers: credentials,
    });
    expect(ok.status).toBe(200);
    const login = await send(port, {
      method: 'POST',
      path: '/api/login',
      headers: { 'content-type': 'application/json', authorization: `Basic ${SECRETS.basic}` },
      body: JSON.stringify({ user: 'alice', password: SECRETS.password }),
    });
    expect(login.status).toBe(200);
    for (const request of [
      { path: `/admin/users?token=${SECRETS.deniedQuery}`, headers: credentials },
      { path: `/api/..%2fadmin?secret=${SECRETS.badPathQuery}`, headers: credentials },
      { path: '/api/items', headers: { ...credentials, x_token: SECRETS.underscoreHeader } },
    ]) {
      const denied = await send(port, request);
      expect(denied.status).toBeGreaterThanOrEqual(400);
      deniedIds.push(String(denied.headers['x-request-id']));
    }
    // SIGTERM drains and writes every queued event before the store closes.
    expect(await gw.stop()).toBe(0);
    exported = await exportEvents(configFile);
  });

  afterAll(async () => {
    if (gw.child.exitCode === null) await gw.stop();
    await upstream.close();
  });

  it('recorded the refusals it must account for', () => {
    for (const id of deniedIds) expect(exported).toContain(id);
    expect(exported).toContain('blocks.ip.not_allowed');
  });

  it.each(Object.entries(SECRETS))('never writes the %s secret to its logs', (_name, value) => {
    expect(JSON.stringify(gw.logs)).not.toContain(value);
    expect(gw.stderr()).not.toContain(value);
  });

  it.each(Object.entries(SECRETS))(
    'never writes the %s secret to the database, its WAL or any file under its data folder',
    (_name, value) => {
      const files = filesUnder(join(dir, 'data'));
      expect(files.some((f) => f.endsWith('portcullis.db'))).toBe(true);
      for (const file of files) expect(readFileSync(file).includes(value), file).toBe(false);
    },
  );

  it.each(Object.entries(SECRETS))('never writes the %s secret to an export', (_name, value) => {
    expect(exported).not.toContain(value);
  });
});
