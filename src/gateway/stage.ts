import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Denial } from './problems.js';
import { headerFromLines, type HeaderLines } from './header-lines.js';

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

/** Who the caller is, once the authentication stage has said so (docs/authentication.md). */
export interface Identity {
  /** The consumer's id: a declared consumer, or the one a token's claim names. */
  readonly consumerId: string;
  /** The route method that accepted the credential: `api-key`, `jwt:corp`, `introspection:idp`, `mtls`. */
  readonly method: string;
  /** The credential's fingerprint (`fp:` + 12 hex digits), never the credential itself. */
  readonly credential: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  /** The consumer's metadata (tenant, plan, ...) from the config or the store. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The verified claims of a JWT or an introspection answer; absent for API keys and mTLS. */
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
  /**
   * The header lines as they came, repeats apart: what the upstream receives (less what the
   * gateway removes), where `headers` keeps only the first of a repeated `User-Agent` or
   * `Referer`. Reading one header through requestHeader() also spares building `headers`
   * (Node builds that object on first use, every header of the request at once). A context
   * without them (a test's) is read through `headers`.
   */
  readonly lines?: HeaderLines;
  readonly clock: Clock;
  readonly log: Logger;
  /** Set by the authentication stage. */
  identity?: Identity;
  /** The raw request: for stages that need the body stream. */
  readonly raw: IncomingMessage;
  /**
   * The request body parsed as JSON, read once and shared by every stage that asks (the
   * upstream then receives the bytes read, or a stage's `change.body`). Undefined when there
   * is no body, it is empty or its Content-Type is not JSON (then it is not read at all and
   * streams as usual). Rejects on malformed JSON (invalid UTF-8, syntax, a duplicate member)
   * and on a broken body limit: turn the error into a refusal with bodyReadRefusal().
   * A request whose body no stage reads is never buffered.
   */
  readJsonBody(): Promise<unknown>;
  /**
   * Calls `listener` once when the exchange is over: the response was sent, or the client went
   * away first. How a stage gives back what a request held (a concurrency slot).
   */
  onFinished(listener: () => void): void;
  /**
   * The request body's bytes whatever its Content-Type (a form, a multipart upload), read once
   * through the same limits and shared with readJsonBody(); the upstream then receives exactly
   * these bytes. Undefined when there is no body. Rejects on a broken body limit.
   */
  readBodyBytes(): Promise<Buffer | undefined>;
  /**
   * Lowers this request's body limit below the route's `limits.bodyBytes` (a larger value
   * changes nothing): a body that crosses it, streamed or read, is cut off and refused with
   * `refusal`, and the connection closed. Only before the body is read; then it throws.
   * Always there on the gateway's requests; optional so that hand-made test contexts need not
   * carry it (a stage that needs it fails closed without it).
   */
  tightenBodyLimit?(bytes: number, refusal: Denial): void;
}

/** A change a stage asks for on the request before it is proxied. */
export interface RequestChange {
  readonly setHeaders?: Readonly<Record<string, string>>;
  readonly removeHeaders?: readonly string[];
  /**
   * The query string the upstream receives instead, without the leading `?` ('' for none):
   * how a credential sent as a query parameter is kept from the upstream. The last change wins.
   */
  readonly query?: string;
  /**
   * A JSON value the upstream receives as the body instead (serialized, with its own
   * Content-Length), e.g. the body with forbidden properties stripped. Only after
   * readJsonBody(); the last change wins.
   */
  readonly body?: unknown;
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
  /**
   * Rewrites a JSON response body: the proxy buffers it (up to the route's
   * `limits.responseFilterBytes`, decoding gzip, deflate or br), parses it, applies every
   * transform in the order the response stages ran and sends the result with its own
   * Content-Length. A response that cannot be filtered is refused (502), never passed through.
   */
  readonly transformJson?: (value: unknown) => unknown;
  /**
   * transformJson's rewrite done on the body's UTF-8 bytes, without decoding or parsing them
   * (set only beside transformJson; the proxy has checked the bytes are well-formed UTF-8):
   * JSON.parse of what it returns must equal what transformJson returns on the parsed body,
   * and it must throw a SyntaxError on a body JSON.parse refuses. Undefined when it cannot tell
   * (transformJson then runs on the parsed body). When every change of a response has one, the
   * body is filtered as bytes.
   */
  readonly transformJsonBytes?: (body: Buffer) => Buffer | undefined;
  /**
   * Streams the response body through a transform made for this response (e.g. masking
   * sensitive data): the proxy undoes a `gzip`, `deflate` or `br` coding as it streams (and
   * sends the result uncoded), refuses any other coding with 502, and sends what each push
   * returns as it comes, without buffering the body. Transforms of several stages run in the
   * order the response stages ran. A `refuse` before the response head went out becomes that
   * refusal; after it, the connection is cut (the client sees a truncated response).
   */
  readonly transformBody?: () => BodyTransform;
}

/** One response body's transform; see ResponseChange.transformBody. */
export interface BodyTransform {
  push(chunk: Buffer): BodyStep;
  /** The body ended: the last bytes, or a refusal. */
  end(): BodyStep;
}

export interface BodyStep {
  /** Bytes to send now; may be empty. */
  readonly out: Buffer;
  /** Stop: send nothing more, answer with this refusal (or cut the connection). */
  readonly refuse?: Denial;
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

/** One request header (`name` lower-cased), as `ctx.headers[name]` holds it. */
export function requestHeader(ctx: RequestContext, name: string): string | string[] | undefined {
  return ctx.lines === undefined ? ctx.headers[name] : headerFromLines(ctx.lines, name);
}
