import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';

/** A port nothing listens on: the upstream of the route whose upstream is down. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function config(demoUrl: string, downPort: number, metrics: boolean): string {
  return `
listeners:
  http: { host: 127.0.0.1, port: 0 }
  ops: { host: 127.0.0.1, port: 0, metrics: ${metrics} }
upstreams:
  demo: { targets: [${demoUrl}] }
  down: { targets: ['http://127.0.0.1:${downPort}'] }
routes:
  - { name: catalog, paths: [/catalog], methods: [GET], upstream: demo, auth: { public: true } }
  - { name: down, paths: [/down], methods: [GET], upstream: down, auth: { public: true } }
  - name: internal
    paths: [/internal]
    methods: [GET]
    upstream: demo
    auth: { public: true }
    stages: [{ type: ip-restriction, allow: [203.0.113.7/32] }]
`;
}

/** The value of one sample of the exposition text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('} ');
    const pairs = new Map<string, string>();
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="([^"]*)"/g))
      pairs.set(m[1] ?? '', m[2] ?? '');
    if (Object.entries(labels).every(([k, v]) => pairs.get(k) === v))
      return Number(line.slice(close + 2));
  }
  return undefined;
}

describe('GET /metrics on the ops listener', () => {
  let demo: DemoUpstream;
  let gw: GatewayProcess;
  let quiet: GatewayProcess;

  beforeAll(async () => {
    demo = await startDemoUpstream({ host: '127.0.0.1', port: 0 });
    const down = await closedPort();
    [gw, quiet] = await Promise.all([
      startGateway(writeConfig(config(demo.url, down, true))),
      startGateway(writeConfig(config(demo.url, down, false))),
    ]);
  });

  afterAll(async () => {
    await Promise.all([gw?.stop('SIGKILL'), quiet?.stop('SIGKILL')]);
    await demo?.close();
  });

  it('counts the requests let through, the refusals by reason and the upstream failures', async () => {
    const port = gw.http as number;
    for (let i = 0; i < 7; i++) expect((await send(port, { path: '/catalog' })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(port, { path: '/internal' })).status).toBe(403);
    // A refused connection: 503 upstream.unavailable.
    expect((await send(port, { path: '/down' })).status).toBe(503);

    const res = await send(gw.ops as number, { path: '/metrics' });

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;
    expect(
      sample(text, 'portcullis_requests_total', { route: 'catalog', method: 'GET', status: '200' }),
    ).toBe(7);
    expect(sample(text, 'portcullis_request_duration_seconds_count', { route: 'catalog' })).toBe(7);
    expect(
      sample(text, 'portcullis_denials_total', {
        route: 'internal',
        stage: 'ip-restriction',
        reason: 'blocks.ip.not_allowed',
        status: '403',
        enforced: 'true',
      }),
    ).toBe(3);
    expect(sample(text, 'portcullis_upstream_errors_total', { upstream: 'down' })).toBe(1);
    // The event pipeline's counters, read at scrape time, and Node's own process metrics.
    expect(text).toContain('# TYPE portcullis_events_written_total counter');
    expect(text).toContain('# TYPE portcullis_events_dropped_total counter');
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it('reports events written to the store once the pipeline has flushed them', async () => {
    const written = async (): Promise<number> =>
      sample(
        (await send(gw.ops as number, { path: '/metrics' })).text,
        'portcullis_events_written_total',
        {
          kind: 'security',
        },
      ) ?? 0;
    let n = await written();
    for (let i = 0; i < 50 && n < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      n = await written();
    }
    // The three ip-restriction refusals of the test above, at least.
    expect(n).toBeGreaterThanOrEqual(3);
  });

  it.each(['POST', 'DELETE'])('answers %s with 405', async (method) => {
    const res = await send(gw.ops as number, { path: '/metrics', method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('is 404 with listeners.ops.metrics: false', async () => {
    expect((await send(quiet.ops as number, { path: '/metrics' })).status).toBe(404);
    expect((await send(quiet.ops as number, { path: '/healthz' })).status).toBe(200);
  });

  it('is never served on the data plane', async () => {
    const res = await send(gw.http as number, { path: '/metrics' });
    expect(res.status).toBe(404);
    expect(res.text).not.toContain('portcullis_requests_total');
  });
});
