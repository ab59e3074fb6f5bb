import http, { type Server, type ServerResponse } from 'node:http';
import type { MetricsSource } from './metrics.js';

export interface OpsServerOptions {
  /**
   * The public keys that verify the identity tokens the upstream receives, served at
   * `GET /.well-known/jwks.json`; without it that path is 404.
   */
  readonly jwks?: () => { readonly keys: readonly object[] };
  /** Prometheus metrics served at `GET /metrics`; without it that path is 404. */
  readonly metrics?: MetricsSource;
}

/** Upstreams may cache the keys this long; a rotated key stays published well beyond it. */
const JWKS_MAX_AGE_SECONDS = 300;

/**
 * The operations listener, apart from the data plane: /healthz says the process is alive,
 * /readyz says it should receive traffic (false while starting and while draining),
 * /metrics is for Prometheus, and /.well-known/jwks.json publishes the keys of the identity
 * tokens.
 */
export function createOpsServer(isReady: () => boolean, opts: OpsServerOptions = {}): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/.well-known/jwks.json' && opts.jwks !== undefined) {
      serveJwks(req.method, opts.jwks, res);
      return;
    }
    if (path === '/metrics' && opts.metrics !== undefined) {
      serveMetrics(req.method, opts.metrics, res);
      return;
    }
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

// RFC 7518 section 6: the members that hold private or symmetric key material.
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

/** A JWKS is public by definition: a private member handed over by mistake is never served. */
function publicMembers(jwk: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE_MEMBERS.has(k)));
}

function serveJwks(
  method: string | undefined,
  jwks: NonNullable<OpsServerOptions['jwks']>,
  res: ServerResponse,
): void {
  if (refusedMethod(method, res)) return;
  let body: string;
  try {
    body = JSON.stringify({ keys: jwks().keys.map(publicMembers) });
  } catch {
    res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ status: 'keys unavailable' }));
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/jwk-set+json',
    'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
    'content-length': Buffer.byteLength(body),
  });
  res.end(method === 'HEAD' ? undefined : body);
}

function serveMetrics(
  method: string | undefined,
  metrics: MetricsSource,
  res: ServerResponse,
): void {
  if (refusedMethod(method, res)) return;
  metrics.render().then(
    (text) => {
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : text);
    },
    // A worker that did not answer in time (cluster mode): say so rather than serve a partial sum.
    () => {
      res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ status: 'metrics unavailable' }));
    },
  );
}

/** Answers 405 to anything but GET and HEAD, the only methods of the ops documents. */
function refusedMethod(method: string | undefined, res: ServerResponse): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  res.writeHead(405, {
    allow: 'GET, HEAD',
    'content-type': 'application/json',
    'cache-control': 'no-store',
  });
  res.end(JSON.stringify({ status: 'method not allowed' }));
  return true;
}
