import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { send, type Reply } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';

/**
 * The per-upstream connection cap through the real gateway: however many requests come in, an
 * upstream never sees more than `maxConnections` sockets at once (counted on the upstream's
 * side), whichever routes they come through; the excess waits in a bounded queue and gets 503
 * with Retry-After when the queue is full or its wait times out.
 */

interface SlowUpstream {
  readonly port: number;
  /** The most sockets open at once since the start. */
  readonly maxOpen: number;
  readonly received: number;
  close(): Promise<void>;
}

async function startSlowUpstream(delayMs: number): Promise<SlowUpstream> {
  let open = 0;
  let maxOpen = 0;
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    }, delayMs);
  });
  server.on('connection', (socket: Socket) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    socket.once('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get maxOpen() {
      return maxOpen;
    },
    get received() {
      return received;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let slow: SlowUpstream;
let quick: SlowUpstream;
let gw: GatewayProcess;

const CAP = 3;

beforeAll(async () => {
  slow = await startSlowUpstream(2_000);
  quick = await startSlowUpstream(250);
  gw = await startGateway(
    writeConfig(`
listeners:
  http: { host: 127.0.0.1, port: 0 }
logging: { level: info, access: false }
upstreams:
  slow:
    targets: ['http://127.0.0.1:${slow.port}']
    maxConnections: ${CAP}
    queue: { size: 2, timeout: 400 }
  quick:
    targets: ['http://127.0.0.1:${quick.port}']
    maxConnections: ${CAP}
    queue: { size: 20, timeout: 5000 }
routes:
  - { name: slow-a, paths: [/slow/a], methods: [GET], upstream: slow, auth: { public: true } }
  - { name: slow-b, paths: [/slow/b], methods: [GET], upstream: slow, auth: { public: true } }
  - { name: quick-a, paths: [/quick/a], methods: [GET], upstream: quick, auth: { public: true } }
  - { name: quick-b, paths: [/quick/b], methods: [GET], upstream: quick, auth: { public: true } }
`),
  );
}, 30_000);

afterAll(async () => {
  await gw?.stop();
  await slow?.close();
  await quick?.close();
});

/** `n` requests at once, alternating between the two routes; each with its send time. */
async function burst(prefix: string, n: number): Promise<{ reply: Reply; ms: number }[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const started = Date.now();
      const reply = await send(gw.http ?? 0, { path: `${prefix}/${i % 2 === 0 ? 'a' : 'b'}` });
      return { reply, ms: Date.now() - started };
    }),
  );
}

describe('the connection cap of an upstream', () => {
  it('never opens more than maxConnections to a slow upstream; the excess waits, then gets 503', async () => {
    const results = await burst('/slow', CAP + 5);
    const ok = results.filter((r) => r.reply.status === 200);
    const refused = results.filter((r) => r.reply.status === 503);
    expect(ok).toHaveLength(CAP);
    expect(refused).toHaveLength(5);
    expect(slow.maxOpen).toBe(CAP);
    expect(slow.received).toBe(CAP);

    const reasons = await Promise.all(
      refused.map(async ({ reply, ms }) => {
        const body = expectProblem(reply, 503, 'service-unavailable', [String(slow.port)]);
        expect(reply.headers['retry-after']).toBe('1');
        const reason = await deniedReason(gw, body.requestId);
        // A queued request waits its timeout, not the upstream's 2 s; a full queue is instant.
        if (reason === 'upstream.queue_timeout') {
          expect(ms).toBeGreaterThanOrEqual(380);
          expect(ms).toBeLessThan(1_500);
        }
        return reason;
      }),
    );
    expect(reasons.sort()).toEqual([
      'upstream.queue_full',
      'upstream.queue_full',
      'upstream.queue_full',
      'upstream.queue_timeout',
      'upstream.queue_timeout',
    ]);
  }, 20_000);

  it('serves every waiter in turn when connections free up within the timeout', async () => {
    const results = await burst('/quick', CAP * 4);
    expect(results.map((r) => r.reply.status)).toEqual(Array(CAP * 4).fill(200));
    expect(quick.received).toBe(CAP * 4);
    expect(quick.maxOpen).toBeLessThanOrEqual(CAP);
    // Four rounds of 250 ms through three connections: the queue really held them.
    expect(Math.max(...results.map((r) => r.ms))).toBeGreaterThanOrEqual(900);
  }, 20_000);
});
