import http, { type Server } from 'node:http';

/**
 * The operations listener, apart from the data plane: /healthz says the process is alive,
 * /readyz says it should receive traffic (false while starting and while draining).
 */
export function createOpsServer(isReady: () => boolean): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    let status = 404;
    let body: Record<string, string> = { status: 'not found' };
    if (path === '/healthz') {
      status = 200;
      body = { status: 'ok' };
    } else if (path === '/readyz') {
      const ready = isReady();
      status = ready ? 200 : 503;
      body = { status: ready ? 'ready' : 'not ready' };
    }
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  });
}
