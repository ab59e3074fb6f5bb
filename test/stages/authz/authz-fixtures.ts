import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import type { RouteAuthzConfig } from '../../../src/config/authz-schema.js';
import type { Clock, Identity, RequestContext } from '../../../src/gateway/stage.js';

/** A clock the test moves by hand. */
export interface FakeClock extends Clock {
  advance(ms: number): void;
}

export function fakeClock(start = 1_800_000_000_000): FakeClock {
  let now = start;
  return {
    now: () => now,
    monotonic: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

export function identity(over: Partial<Identity> = {}): Identity {
  return {
    consumerId: 'alice',
    method: 'api-key',
    credential: 'fp:0123456789ab',
    scopes: [],
    roles: [],
    metadata: {},
    ...over,
  };
}

export interface RequestParts {
  readonly method?: string;
  readonly params?: Record<string, string>;
  readonly query?: string;
  /** Raw header pairs, in order, as the client sent them. */
  readonly headers?: readonly [string, string][];
  readonly identity?: Identity;
  /** What ctx.readJsonBody() resolves to, or the error it rejects with. */
  readonly body?: unknown;
}

/** A request context as the gateway builds one, with what the authorization stage reads. */
export function request(parts: RequestParts = {}): RequestContext {
  const rawHeaders = (parts.headers ?? []).flat();
  const headers: Record<string, string> = {};
  for (const [n, v] of parts.headers ?? []) headers[n.toLowerCase()] = v;
  const ctx = {
    id: 'req-1',
    method: parts.method ?? 'GET',
    path: '/accounts/acc_1',
    query: parts.query ?? '',
    params: parts.params ?? {},
    clientIp: '127.0.0.1',
    scheme: 'http',
    host: 'localhost',
    route: { name: 'accounts', upstream: 'api' },
    headers,
    clock: fakeClock(),
    log: pino({ level: 'silent' }),
    identity: parts.identity,
    raw: { rawHeaders, headers } as unknown as IncomingMessage,
    readJsonBody: () =>
      parts.body instanceof Error ? Promise.reject(parts.body) : Promise.resolve(parts.body),
  };
  return ctx as unknown as RequestContext;
}

/** `authz` with its one default filled, as the loader leaves it. */
export function authz(over: Partial<RouteAuthzConfig>): RouteAuthzConfig {
  return { hideExistence: false, ...over };
}
