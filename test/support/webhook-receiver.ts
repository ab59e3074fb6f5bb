import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedAlert {
  readonly body: string;
  /** Whether `Portcullis-Signature` verified against the secret, within 5 minutes of now. */
  readonly verified: boolean;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedAlert[];
  /** Status to answer the next requests with, one per request; 200 once it runs out. */
  readonly failNext: number[];
  close(): Promise<void>;
}

/** The recipe of docs/response.md, as a receiver would write it. */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  nowMs: number,
): boolean {
  const parts = new Map(
    header.split(',').map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq), p.slice(eq + 1)] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowMs / 1000 - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A local HTTP server that receives alerts and checks their signatures. */
export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const received: ReceivedAlert[] = [];
  const failNext: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = req.headers['portcullis-signature'];
      const verified =
        typeof header === 'string' && verifySignature(secret, header, body, Date.now());
      received.push({ body, verified });
      res.writeHead(failNext.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    failNext,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
