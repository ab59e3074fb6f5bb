import http, { type Server } from 'node:http';

export interface OpsServerOptions {
  /**
   * The public keys that verify the identity tokens the upstream receives, served at
   * `GET /.well-known/jwks.json`; without it that path is 404.
   */
  readonly jwks?: () => { readonly keys: readonly object[] };
}

/** Upstreams may cache the keys this long; a rotated key stays published well beyond it. */
const JWKS_MAX_AGE_SECONDS = 300;

/**
 * The operations listener, apart from the data plane: /healthz says the process is alive,
 * /readyz says it should receive traffic (false while starting and while draining), and
 * /.well-known/jwks.json publishes the keys of the identity tokens.
 */
export function createOpsServer(isReady: () => boolean, opts: OpsServerOptions = {}): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/.well-known/jwks.json' && opts.jwks !== undefined) {
      serveJwks(req.method, opts.jwks, res);
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
  res: http.ServerResponse,
): void {
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, {
      allow: 'GET, HEAD',
      'content-type': 'application/json',
      'cache-control': 'no-store',
    });
    res.end(JSON.stringify({ status: 'method not allowed' }));
    return;
  }
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
