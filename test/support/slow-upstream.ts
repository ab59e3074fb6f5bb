import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** An upstream that answers 200 after `?delay=<ms>` (0 by default) and counts what it served. */
export interface SlowUpstream {
  readonly url: string;
  /** Requests that reached it. */
  served(): number;
  /** Requests it is answering right now. */
  inFlight(): number;
  /** The most it ever answered at once. */
  peak(): number;
  close(): Promise<void>;
}

export async function startSlowUpstream(): Promise<SlowUpstream> {
  let served = 0;
  let inFlight = 0;
  let peak = 0;
  const server = http.createServer((req, res) => {
    served++;
    inFlight++;
    peak = Math.max(peak, inFlight);
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? '0');
    const done = (): void => {
      inFlight--;
    };
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}', done);
    }, delay);
    res.once('close', () => {
      if (!res.writableFinished) done();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    inFlight: () => inFlight,
    peak: () => peak,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
