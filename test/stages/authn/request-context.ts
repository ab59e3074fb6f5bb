import type { IncomingHttpHeaders } from 'node:http';
import { pino } from 'pino';
import { systemClock, type Clock, type RequestContext } from '../../../src/gateway/stage.js';

const silentLog = pino({ level: 'silent' });

/** What authentication reads of a request; the rest is fixed. */
export interface RequestParts {
  readonly headers?: IncomingHttpHeaders;
  readonly query?: string;
  readonly clock?: Clock;
}

/**
 * A request (`GET /accounts/1` from 192.0.2.1, no client certificate) as the authentication
 * stage and its methods see it: only the headers, the query and the clock vary.
 */
export function requestContext(parts: RequestParts = {}): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    path: '/accounts/1',
    query: parts.query ?? '',
    params: {},
    clientIp: '192.0.2.1',
    scheme: 'https',
    host: 'api.example.com',
    route: { name: 'accounts', upstream: 'api' },
    headers: parts.headers ?? {},
    clock: parts.clock ?? systemClock,
    log: silentLog,
    raw: { socket: {} },
  } as unknown as RequestContext;
}
