import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';

/**
 * Operating the gateway under traffic: config reloads while a load runs (no request may fail,
 * each new config takes effect, an invalid one is refused and the old one keeps serving), and
 * the SIGTERM drain (requests in flight finish, nothing new gets in, the process exits 0).
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An upstream that answers every request with 200 after `delayMs`. */
async function startUpstream(delayMs: number): Promise<{
  port: number;
  received: () => number;
  close: () => Promise<void>;
}> {
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    };
    if (delayMs === 0) answer();
    else setTimeout(answer, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function load(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err === null ? resolve(result) : reject(err)));
  });
}

function count(gw: GatewayProcess, msg: string): number {
  return gw.logs.filter((l) => l.msg === msg).length;
}

function waitForCount(gw: GatewayProcess, msg: string, n: number): Promise<unknown> {
  return gw.waitForLog((l) => l.msg === msg && count(gw, msg) >= n, 5_000);
}

describe('reloads under load', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gw: GatewayProcess;
  let file: string;

  /**
   * Generation `gen` of the config: the response header says which one served a request, and
   * the upstream pool's keepAlive changes each time, so every reload also retires the pool
   * that requests in flight are using.
   */
  const config = (gen: number, target = `http://127.0.0.1:${upstream.port}`): string => `
listeners:
  http: { host: 127.0.0.1, port: 0 }
logging:
  access: false
upstreams:
  up:
    targets: [${target}]
    keepAlive: ${4_000 + (gen % 2)}
routes:
  - name: hello
    paths: [/hello]
    methods: [GET]
    upstream: up
    auth: { public: true }
    stages:
      - type: response-headers
        set: { x-config-generation: gen-${gen} }
`;

  beforeAll(async () => {
    upstream = await startUpstream(0);
    file = writeConfig(config(0));
    gw = await startGateway(file);
  });

  afterAll(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const generationOf = async (): Promise<string | string[] | undefined> => {
    const reply: Reply = await send(gw.http as number, { path: '/hello' });
    expect(reply.status).toBe(200);
    return reply.headers['x-config-generation'];
  };

  it('reloads 20 times during a load run without failing a request', async () => {
    expect(await generationOf()).toBe('gen-0');
    const reloaded = count(gw, 'config reloaded');
    const running = load({
      url: `http://127.0.0.1:${gw.http}/hello`,
      connections: 10,
      duration: 7,
      timeout: 5,
    });
    await sleep(300);

    for (let gen = 1; gen <= 20; gen++) {
      writeFileSync(file, config(gen));
      await waitForCount(gw, 'config reloaded', reloaded + gen);
      expect(await generationOf()).toBe(`gen-${gen}`);

      if (gen === 10) {
        // An invalid config is refused with its issues; generation 10 keeps serving.
        const refused = count(gw, 'reload refused; the running config stays');
        writeFileSync(file, config(99, 'ftp://x'));
        await waitForCount(gw, 'reload refused; the running config stays', refused + 1);
        const line = gw.logs
          .filter((l) => l.msg === 'reload refused; the running config stays')
          .at(-1);
        expect(line?.issues).toEqual([
          expect.stringMatching(
            /portcullis\.yaml:\d+:\d+ upstreams\.up\.targets\[0\]: must be an absolute http\(s\) URL/,
          ),
        ]);
        expect(await generationOf()).toBe('gen-10');
      }
    }
    const result = await running;

    expect(count(gw, 'config reloaded') - reloaded).toBe(20);
    expect({
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      resets: result.resets,
    }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, resets: 0 });
    expect(result['2xx']).toBeGreaterThan(500);
    expect(await generationOf()).toBe('gen-20');
  });
});

describe('SIGTERM drain', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let gw: GatewayProcess;

  beforeAll(async () => {
    upstream = await startUpstream(1_500);
    // A keep-alive far longer than the test: the drain must not wait for idle connections.
    gw = await startGateway(
      writeConfig(`
listeners:
  http: { host: 127.0.0.1, port: 0 }
  ops: { host: 127.0.0.1, port: 0 }
server:
  timeouts: { keepAlive: 60000, drain: 10000 }
upstreams:
  slow:
    targets: [http://127.0.0.1:${upstream.port}]
routes:
  - { name: slow, paths: [/slow], methods: [GET], upstream: slow, auth: { public: true } }
`),
    );
  });

  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await upstream?.close();
  });

  it('finishes the requests in flight, lets nothing new in, and exits 0', async () => {
    expect((await send(gw.ops as number, { path: '/readyz' })).status).toBe(200);
    // Keep-alive clients, as a load balancer's would be.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 5 });
    const inFlight = Array.from({ length: 5 }, () =>
      send(gw.http as number, { path: '/slow', agent }),
    );
    while (upstream.received() < 5) await sleep(10);

    gw.child.kill('SIGTERM');

    let ready = await send(gw.ops as number, { path: '/readyz' });
    while (ready.status === 200) {
      await sleep(10);
      ready = await send(gw.ops as number, { path: '/readyz' });
    }
    expect(ready.status).toBe(503);
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(gw.http as number, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');

    const replies = await Promise.all(inFlight);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await gw.exited).toBe(0);
    // Drained when the last response was done: the idle keep-alive connections (60 s) did not
    // hold the drain until its timeout (10 s).
    expect(gw.logs.find((l) => l.msg === 'gateway stopped')?.outcome).toBe('drained');
    agent.destroy();
  });
});
