import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ipBlocked } from '../stages/blocks/block-refusal.js';
import { publishDeny } from './events.js';
import { formatForwarded, validForwardedHost, validForwardedProto } from './forwarded-headers.js';
import { normalizePath } from './normalize-path.js';
import { runRequestStages, type PipelineResult } from './pipeline.js';
import { statusOf, type Denial } from './problems.js';
import { proxyRequest } from './proxy.js';
import { RequestBody, STREAMED_BODY, type UpstreamBody } from './request-body.js';
import { isDenial, readHead, type RequestHead } from './request-head.js';
import { isClosing, sendProblem } from './respond.js';
import type { RouteRuntime, Runtime } from './runtime.js';
import type { Clock, Identity, RequestChange, RequestContext, RouteInfo } from './stage.js';
import { upstreamHeaders } from './upstream-headers.js';
import type { HeaderLines } from './header-lines.js';
import { requestDoneChannel, type RequestDoneEvent } from '../state/events/request-done.js';

/** The current runtime generation; a reload replaces it in one assignment. */
export interface RuntimeHolder {
  current: Runtime;
  /** True while the gateway must refuse everything (events cannot be recorded, fail-closed). */
  readonly refuse: () => boolean;
}

export type Scheme = 'http' | 'https';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const METHOD_FORBIDDEN: Denial = Object.freeze({
  kind: 'method-not-allowed',
  reason: 'request.method_forbidden',
  detail: 'TRACE and CONNECT are never proxied.',
  headers: Object.freeze({ allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' }),
});
const URL_TOO_LONG: Denial = Object.freeze({
  kind: 'uri-too-long',
  reason: 'limits.url.too_long',
  detail: 'The request URI exceeds the limit.',
});
const ROUTE_URL_TOO_LONG: Denial = Object.freeze({
  kind: 'uri-too-long',
  reason: 'limits.url.route_too_long',
  detail: 'The request URI exceeds the limit of this route.',
});
const TOO_MANY_HEADERS: Denial = Object.freeze({
  kind: 'headers-too-large',
  reason: 'limits.headers.count',
  detail: 'Too many request headers.',
});
const HEADERS_TOO_LARGE: Denial = Object.freeze({
  kind: 'headers-too-large',
  reason: 'limits.headers.bytes',
  detail: 'The request headers are too large.',
});
const BODY_TOO_LARGE: Denial = Object.freeze({
  kind: 'body-too-large',
  reason: 'limits.body.content_length',
  detail: 'The request body exceeds the limit of this route.',
});
const HOST_INVALID: Denial = Object.freeze({
  kind: 'bad-request',
  reason: 'request.host_invalid',
  detail: 'The Host header is missing or invalid.',
});
const UNRECORDED: Denial = Object.freeze({
  kind: 'service-unavailable',
  reason: 'events.unrecorded',
  detail: 'The gateway cannot record security events and refuses to serve without them.',
});
const INTERNAL: Denial = Object.freeze({
  kind: 'internal-error',
  reason: 'request.internal_error',
  detail: 'The request could not be handled.',
});

class Context implements RequestContext {
  identity?: Identity;
  /** Created when a stage first asks for the body: a request nobody reads pays nothing. */
  #body: RequestBody | undefined;
  constructor(
    readonly id: string,
    readonly method: string,
    readonly path: string,
    readonly query: string,
    readonly params: Readonly<Record<string, string | undefined>>,
    readonly clientIp: string,
    readonly scheme: Scheme,
    readonly host: string,
    readonly route: RouteInfo,
    readonly clock: Clock,
    readonly log: Logger,
    readonly raw: IncomingMessage,
    private readonly head: RequestHead,
    private limits: RouteRuntime['limits'],
    private readonly res: ServerResponse,
  ) {}

  /** The refusal of a body over a tightened limit; undefined: the route limit's own. */
  #tooLarge: Denial | undefined;

  onFinished(listener: () => void): void {
    // 'close' follows 'finish', and comes alone when the connection dropped first.
    this.res.once('close', listener);
  }

  get headers(): IncomingMessage['headers'] {
    return this.raw.headers;
  }

  get lines(): HeaderLines {
    return this.head;
  }

  readJsonBody(): Promise<unknown> {
    this.#body ??= new RequestBody(this.raw, this.head, this.limits, this.#tooLarge);
    return this.#body.readJson();
  }

  readBodyBytes(): Promise<Buffer | undefined> {
    this.#body ??= new RequestBody(this.raw, this.head, this.limits, this.#tooLarge);
    return this.#body.readBytes();
  }

  tightenBodyLimit(bytes: number, refusal: Denial): void {
    // A body read under the looser limit cannot be un-read: a stage order bug, fail closed.
    if (this.#body !== undefined) throw new Error('body limit tightened after the body was read');
    if (bytes >= this.limits.bodyBytes) return;
    this.limits = { ...this.limits, bodyBytes: bytes };
    this.#tooLarge = refusal;
  }

  /** The body limit of this request, and its refusal when tighter than the route's. */
  get bodyLimit(): { readonly bytes: number; readonly refusal: Denial | undefined } {
    return { bytes: this.limits.bodyBytes, refusal: this.#tooLarge };
  }

  /** What the upstream receives as the body after the stages' changes. */
  upstreamBody(changes: readonly RequestChange[]): UpstreamBody {
    let replacement: unknown;
    for (let i = changes.length - 1; i >= 0 && replacement === undefined; i--) {
      replacement = changes[i]?.body;
    }
    if (this.#body === undefined) {
      return replacement === undefined
        ? STREAMED_BODY
        : new RequestBody(this.raw, this.head, this.limits, this.#tooLarge).upstream(replacement);
    }
    return this.#body.upstream(replacement);
  }

  /**
   * True when reading the body broke a limit, or its declared length is over a tightened one:
   * the rest of it is unread and untrusted.
   */
  get bodyRefused(): boolean {
    if (this.head.contentLength > this.limits.bodyBytes) return true;
    return this.#body?.upstream(undefined).kind === 'refused';
  }
}

/** Host header without port, lower-cased; undefined when it is not a plausible host. */
function hostname(host: string | undefined): string | undefined {
  if (host === undefined || host.length === 0 || host.length > 255) return undefined;
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b) {
    end = host.indexOf(']') + 1;
    if (end === 0) return undefined;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  const name = host.slice(0, end).toLowerCase();
  return /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])$/.test(name) ? name : undefined;
}

export function createRequestHandler(
  holder: RuntimeHolder,
  scheme: Scheme,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // Pipelined behind a request refused with `close`: untrusted bytes, never handled.
    if (isClosing(req.socket)) return;
    const rt = holder.current;
    if (holder.refuse()) {
      refuse(rt, scheme, res, UNRECORDED, randomUUID(), {
        stage: 'events',
        route: undefined,
        method: req.method ?? '',
        path: '',
        clientIp: req.socket.remoteAddress ?? '',
      });
      return;
    }
    try {
      handle(rt, scheme, req, res);
    } catch (err) {
      rt.log.error({ err }, 'request handler failed; request refused');
      sendProblem(res, INTERNAL, randomUUID(), rt.problems[scheme]);
    }
  };
}

function refuse(
  rt: Runtime,
  scheme: Scheme,
  res: ServerResponse,
  denial: Denial,
  requestId: string,
  where: {
    stage: string;
    route: string | undefined;
    method: string;
    path: string;
    clientIp: string;
  },
  close = false,
): void {
  publishDeny({
    requestId,
    reason: denial.reason,
    status: statusOf(denial.kind),
    enforced: true,
    ...where,
    ...(denial.audit?.details === undefined ? {} : { details: denial.audit.details }),
  });
  sendProblem(
    res,
    denial,
    requestId,
    close ? { ...rt.problems[scheme], close } : rt.problems[scheme],
  );
}

function handle(rt: Runtime, scheme: Scheme, req: IncomingMessage, res: ServerResponse): void {
  const started = rt.clock.monotonic();
  const method = req.method ?? 'GET';
  const target = req.url ?? '/';
  const peer = req.socket.remoteAddress ?? '';
  const headOrDenial = readHead(req.rawHeaders, rt.allowHeaderUnderscores, rt.requestIdHeader);
  const given = isDenial(headOrDenial) ? undefined : headOrDenial.requestId;
  const id = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID();
  const where = {
    stage: 'request',
    route: undefined as string | undefined,
    method,
    path: '',
    clientIp: peer,
  };

  if (rt.accessLog) logOnFinish(rt, req, res, id, started, peer);
  if (isDenial(headOrDenial)) {
    refuse(rt, scheme, res, headOrDenial, id, where, headOrDenial.kind === 'framing-rejected');
    return;
  }
  const head: RequestHead = headOrDenial;
  // Resolved before any check, so that every refusal's event names the real client (the
  // detectors of later issues count per client), never the proxy in front of the gateway.
  const address = rt.trusted.resolve(peer, head.forwardedFor);
  where.clientIp = address.clientIp;
  // A blocked client is refused before anything else about its request is looked at.
  const block = rt.blocks?.forIp(address.clientIp);
  if (block !== undefined) {
    refuse(rt, scheme, res, ipBlocked(block), id, { ...where, stage: 'blocks' });
    return;
  }
  if (method === 'TRACE' || method === 'CONNECT') {
    refuse(rt, scheme, res, METHOD_FORBIDDEN, id, where);
    return;
  }
  if (target.length > rt.maxUrlBytes) {
    refuse(rt, scheme, res, URL_TOO_LONG, id, where);
    return;
  }
  const norm = normalizePath(target, rt.normalization);
  if (!norm.ok) {
    refuse(
      rt,
      scheme,
      res,
      { kind: 'path-rejected', reason: norm.reason, detail: norm.detail },
      id,
      {
        ...where,
        stage: 'normalize',
      },
    );
    return;
  }
  where.path = norm.path;
  const host = hostname(head.host);
  if (host === undefined) {
    refuse(rt, scheme, res, HOST_INVALID, id, where);
    return;
  }
  const match = rt.router.match(method, norm.path, host);
  if (!match.ok) {
    refuse(rt, scheme, res, match.denial, id, { ...where, stage: 'route' });
    return;
  }
  const route = match.route;
  where.route = route.name;
  const limitDenial = checkLimits(route, target, head);
  if (limitDenial !== undefined) {
    refuse(
      rt,
      scheme,
      res,
      limitDenial,
      id,
      { ...where, stage: 'limits' },
      limitDenial === BODY_TOO_LARGE,
    );
    return;
  }
  // A CORS preflight of a route with gateway CORS is answered here, before any stage: it
  // carries no credentials and never reaches the upstream (docs/cors.md).
  const preflight = method === 'OPTIONS' ? route.cors?.preflight(req.headers) : undefined;
  if (preflight !== undefined) {
    if (!preflight.ok) refuse(rt, scheme, res, preflight.denial, id, { ...where, stage: 'cors' });
    else {
      const extra = [rt.requestIdHeader, id];
      if (scheme === 'https' && rt.hsts !== undefined)
        extra.push('strict-transport-security', rt.hsts);
      res.writeHead(204, [...preflight.headers, ...extra]);
      res.end();
    }
    return;
  }
  const trustedPeer = address.viaTrustedProxy;
  const proto = (trustedPeer ? validForwardedProto(head.forwardedProto) : undefined) ?? scheme;
  const fwdHost = (trustedPeer ? validForwardedHost(head.forwardedHost) : undefined) ?? head.host;
  const ctx = new Context(
    id,
    method,
    norm.path,
    norm.query,
    match.params,
    address.clientIp,
    scheme,
    host,
    route.info,
    rt.clock,
    rt.log,
    req,
    head,
    route.limits,
    res,
  );
  const proceed = (result: PipelineResult): void => {
    if (!result.ok) {
      // A body cut off at a limit leaves bytes on the connection that nobody can frame.
      const close = ctx.bodyRefused;
      sendProblem(
        res,
        result.denial,
        id,
        close ? { ...rt.problems[scheme], close } : rt.problems[scheme],
      );
      return;
    }
    const headers = upstreamHeaders(
      req.rawHeaders,
      head.lower,
      head.connectionTokens,
      result.changes,
      {
        requestIdHeader: rt.requestIdHeader,
        requestId: id,
        forwardedFor: address.forwardedFor,
        proto,
        host: fwdHost,
        forwarded: formatForwarded(address.clientIp, proto === 'https' ? 'https' : 'http', fwdHost),
        traceparent:
          head.traceparent !== undefined && TRACEPARENT.test(head.traceparent)
            ? head.traceparent
            : undefined,
      },
    );
    if (requestDoneChannel.hasSubscribers) {
      res.once('finish', () =>
        requestDoneChannel.publish({
          requestId: id,
          route: route.name,
          method,
          path: norm.path,
          status: res.statusCode,
          clientIp: address.clientIp,
          durationMs: rt.clock.monotonic() - started,
          // Always both keys: every event has one shape, which its subscribers read fastest.
          consumer: ctx.identity?.consumerId,
          credential: ctx.identity?.credential,
        } satisfies RequestDoneEvent),
      );
    }
    const extra = [rt.requestIdHeader, id];
    if (scheme === 'https' && rt.hsts !== undefined)
      extra.push('strict-transport-security', rt.hsts);
    proxyRequest({
      route,
      ctx,
      req,
      res,
      head,
      headers,
      query: upstreamQuery(ctx.query, result.changes),
      body: ctx.upstreamBody(result.changes),
      bodyLimit: ctx.bodyLimit,
      problems: rt.problems[scheme],
      ownResponseHeaders: rt.ownResponseHeaders[scheme],
      extraResponseHeaders: extra,
    });
  };
  const result = runRequestStages(route.stages, ctx);
  if (result instanceof Promise) {
    result.then(proceed, (err: unknown) => {
      rt.log.error({ err, requestId: id }, 'pipeline failed; request refused');
      sendProblem(res, INTERNAL, id, rt.problems[scheme]);
    });
  } else {
    proceed(result);
  }
}

/** The query string after the stages' changes: the last one that sets it wins. */
function upstreamQuery(query: string, changes: readonly RequestChange[]): string {
  for (let i = changes.length - 1; i >= 0; i--) {
    const q = changes[i]?.query;
    if (q !== undefined) return q;
  }
  return query;
}

function checkLimits(route: RouteRuntime, target: string, head: RequestHead): Denial | undefined {
  const limits = route.limits;
  if (target.length > limits.urlBytes) return ROUTE_URL_TOO_LONG;
  if (head.count > limits.headerCount) return TOO_MANY_HEADERS;
  if (head.bytes > limits.headerBytes) return HEADERS_TOO_LARGE;
  if (head.contentLength > limits.bodyBytes) return BODY_TOO_LARGE;
  return undefined;
}

/** The path only: a query string can carry credentials (`?api_key=`) and never reaches a log. */
function target(req: IncomingMessage): string {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function logOnFinish(
  rt: Runtime,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  started: number,
  peer: string,
): void {
  res.once('close', () => {
    rt.log.info(
      {
        requestId: id,
        method: req.method,
        path: target(req),
        status: res.statusCode,
        ms: Math.round((rt.clock.monotonic() - started) * 100) / 100,
        peer,
        completed: res.writableFinished,
      },
      'access',
    );
  });
}
