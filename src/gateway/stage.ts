import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Denial } from './problems.js';

/** The clock every stage reads: tests pass a fake one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** A monotonic high-resolution reading in milliseconds, for durations. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** Who the caller is, once an authentication stage has said so (later issues fill it). */
export interface Identity {
  readonly consumerId: string;
  readonly credential?: string;
  readonly scopes?: readonly string[];
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** What a route is, as the stages of that route see it. */
export interface RouteInfo {
  readonly name: string;
  readonly upstream: string;
}

export interface RequestContext {
  /** The request ID, taken from the client when well formed, generated otherwise. */
  readonly id: string;
  readonly method: string;
  /** The canonical path: what was routed, what every stage checks, what the upstream receives. */
  readonly path: string;
  /** The raw query string without the leading `?` ('' when absent). */
  readonly query: string;
  /** Path parameters of the matched route pattern. */
  readonly params: Readonly<Record<string, string | undefined>>;
  /** The client IP as resolved through the trusted proxies only. */
  readonly clientIp: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly route: RouteInfo;
  /** The headers that will be sent upstream; change them through a verdict's `change`. */
  readonly headers: IncomingHttpHeaders;
  readonly clock: Clock;
  readonly log: Logger;
  /** Set by the authentication stage. */
  identity?: Identity;
  /** The raw request: for stages that need the body stream. */
  readonly raw: IncomingMessage;
}

/** A change a stage asks for on the request before it is proxied. */
export interface RequestChange {
  readonly setHeaders?: Readonly<Record<string, string>>;
  readonly removeHeaders?: readonly string[];
}

export type Verdict =
  | { readonly continue: true; readonly change?: RequestChange }
  | { readonly continue: false; readonly problem: Denial };

export interface UpstreamResponse {
  readonly statusCode: number;
  /** Response headers as they will be sent to the client; change them through the verdict. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ResponseChange {
  readonly setHeaders?: Readonly<Record<string, string>>;
  readonly removeHeaders?: readonly string[];
}

export type ResponseVerdict =
  | { readonly continue: true; readonly change?: ResponseChange }
  | { readonly continue: false; readonly problem: Denial };

export interface Stage {
  readonly name: string;
  onRequest(ctx: RequestContext): Verdict | Promise<Verdict>;
  onResponse?(
    ctx: RequestContext,
    res: UpstreamResponse,
  ): ResponseVerdict | Promise<ResponseVerdict>;
}

/** The one allow verdict: no allocation per request. */
export const ALLOW: Verdict = Object.freeze({ continue: true });
export const PASS: ResponseVerdict = Object.freeze({ continue: true });

export function deny(problem: Denial): Verdict {
  return { continue: false, problem };
}
