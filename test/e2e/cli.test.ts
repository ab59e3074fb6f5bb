import { portcullis } from '../support/cli.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import {
  catalogConfig,
  startGateway,
  writeConfig,
  type GatewayProcess,
} from '../support/gateway-process.js';
import { send } from '../support/http-client.js';

/** The `portcullis` command line, run as a user would run it. */

const EXAMPLE = fileURLToPath(new URL('../../examples/portcullis.yaml', import.meta.url));

// `targets[0]` is on line 6, its value at column 9: the operator is sent to the exact spot.
const INVALID = `listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  api:
    targets:
      - ftp://x
routes:
  - name: r
    paths: [/r]
    methods: [GET]
    upstream: api
    auth: { public: true }
`;

describe('portcullis check', () => {
  it('accepts the example configuration', async () => {
    const run = await portcullis(['check', '-c', EXAMPLE]);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^${EXAMPLE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid \\(\\d+ routes, 1 upstreams\\)\\n$`,
      ),
    );
    expect(run.stderr).toBe('');
  });

  it('refuses an invalid configuration with file:line:column path: message', async () => {
    const file = writeConfig(INVALID);

    const run = await portcullis(['check', '-c', file]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `${file}:6:9 upstreams.api.targets[0]: must be an absolute http(s) URL\n` +
        'PCL_CONFIG_INVALID: 1 problem(s) in the configuration\n',
    );
  });

  it('refuses a file that does not exist', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-')), 'missing.yaml');

    const run = await portcullis(['check', '-c', file]);

    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `PCL_CONFIG_UNREADABLE: cannot read configuration file ${file}: no such file; check the path given with -c\n`,
    );
  });
});

describe('portcullis start', () => {
  it.each([{ args: [] as string[] }, { args: ['--workers', '2'] }])(
    'exits 1 on an invalid configuration with the issues on stderr ($args)',
    async ({ args }) => {
      const file = writeConfig(INVALID);

      const run = await portcullis(['start', '-c', file, ...args]);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `${file}:6:9 upstreams.api.targets[0]: must be an absolute http(s) URL\n`,
      );
      expect(run.stderr).toContain('PCL_CONFIG_INVALID');
    },
  );
});

describe('portcullis start --workers 2 in dev mode', () => {
  it('gives every worker the same throwaway master key, so they read what each other encrypted', async () => {
    const demo = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
    const env = { ...process.env };
    delete env.PORTCULLIS_MASTER_KEY;
    const gw = await startGateway(
      writeConfig(`
listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  demo:
    targets: [${demo.url}]
routes:
  - { name: catalog, paths: [/catalog], methods: [GET], upstream: demo, auth: { public: true } }
state:
  encryption: { devMode: true }
`),
      ['--workers', '2'],
      env,
    );
    try {
      await gw.waitForLog(
        () =>
          new Set(gw.logs.filter((l) => l.msg === 'gateway ready').map((l) => l.pid)).size === 2,
      );
      const devLines = gw.logs.filter((l) => l.event === 'encryption.dev_mode');
      expect(new Set(devLines.map((l) => l.pid)).size).toBe(2);
      const ids = new Set(devLines.map((l) => l.masterKeyId));
      expect(ids.size).toBe(1);
      expect([...ids][0]).toMatch(/^dev-/);
      // The key itself is never written anywhere the process logs to.
      expect(JSON.stringify(gw.logs) + gw.stderr()).not.toMatch(/[A-Za-z0-9+/]{43}=/);
      // Neither worker found the store's secrets unreadable (what a key of its own would do).
      expect(gw.logs.some((l) => String(l.msg).includes('unreadable'))).toBe(false);
    } finally {
      await gw.stop('SIGKILL');
      await demo.close();
    }
  });
});

describe('portcullis start --workers 2', () => {
  let demo: DemoUpstream;
  let gw: GatewayProcess;

  beforeAll(async () => {
    demo = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
    gw = await startGateway(catalogConfig(demo.url), ['--workers', '2']);
  });

  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await demo?.close();
  });

  const pidsOf = (msg: string): Set<unknown> =>
    new Set(gw.logs.filter((l) => l.msg === msg).map((l) => l.pid));

  it('runs two workers that both serve, and stops them all on SIGTERM', async () => {
    await gw.waitForLog(() => pidsOf('gateway ready').size === 2);
    const primary = gw.child.pid;
    const workers = [...pidsOf('gateway ready')] as number[];
    expect(workers).not.toContain(primary);
    const opsLine = await gw.waitForLog((l) => l.msg === 'ops listener ready');
    expect(opsLine.pid).toBe(primary);
    const ops = (opsLine.address as { port: number }).port;
    // Ready once every worker has said so.
    let ready = await send(ops, { path: '/readyz' });
    for (let i = 0; i < 100 && ready.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      ready = await send(ops, { path: '/readyz' });
    }
    expect(ready.status).toBe(200);
    // The primary serves the identity keys the workers sign with (they share one key set).
    const jwks = JSON.parse((await send(ops, { path: '/.well-known/jwks.json' })).text) as {
      keys: { kid?: string; d?: string }[];
    };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys.every((k) => typeof k.kid === 'string' && k.d === undefined)).toBe(true);

    // The kernel hands each new connection to whichever worker accepts first: concurrent
    // connections, in rounds, until both have served (bounded, so a lone worker fails).
    let sent = 0;
    for (let round = 0; round < 10 && pidsOf('access').size < 2; round++) {
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => send(gw.http as number, { path: '/catalog' })),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      sent += replies.length;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect([...pidsOf('access')].sort()).toEqual([...workers].sort());
    // The primary's /metrics sums what every worker counted.
    const metrics = await send(ops, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain(
      `portcullis_requests_total{route="catalog",method="GET",status="200"} ${sent}\n`,
    );

    expect(await gw.stop('SIGTERM')).toBe(0);
    for (const pid of workers) {
      expect(() => process.kill(pid, 0)).toThrow(
        expect.objectContaining({ code: 'ESRCH' }) as Error,
      );
    }
    expect(pidsOf('gateway stopped')).toEqual(new Set(workers));
  });
});
