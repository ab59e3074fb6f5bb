import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { BodyGuard, BodyRefusedError, isJsonMediaType } from './body-guard.js';
import type { GateRefusal } from './connection-gate.js';
import { publishRefusal, publishUpstreamError } from './events.js';
import { ResponseFilter, type FilteredResponse } from './response-filter.js';
import { StreamedTransform } from './streamed-transform.js';
import type { UpstreamBody } from './request-body.js';
import { runResponseStages, type ResponseResult } from './pipeline.js';
import { statusOf, type Denial } from './problems.js';
import type { RequestHead } from './request-head.js';
import { sendProblem, type ProblemOptions } from './respond.js';
import type { RouteRuntime } from './runtime.js';
import type { RequestContext, ResponseChange } from './stage.js';
import { clientResponseHeaders } from './upstream-headers.js';

const UPSTREAM_ERRORS: Record<string, Denial> = {
  UND_ERR_CONNECT_TIMEOUT: {
    kind: 'gateway-timeout',
    reason: 'upstream.connect_timeout',
    detail: 'The upstream did not accept a connection in time.',
  },
  UND_ERR_HEADERS_TIMEOUT: {
    kind: 'gateway-timeout',
    reason: 'upstream.response_timeout',
    detail: 'The upstream did not respond in time.',
  },
  UND_ERR_BODY_TIMEOUT: {
    kind: 'gateway-timeout',
    reason: 'upstream.body_timeout',
    detail: 'The upstream stopped sending its response.',
  },
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: {
    kind: 'bad-request',
    reason: 'framing.body_length',
    detail: 'The request body does not match its Content-Length.',
  },
};
const UNAVAILABLE: Denial = {
  kind: 'service-unavailable',
  reason: 'upstream.unavailable',
  detail: 'The upstream is not reachable.',
};
for (const code of [
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]) {
  UPSTREAM_ERRORS[code] = UNAVAILABLE;
}
const TLS_FAILED: Denial = {
  kind: 'bad-gateway',
  reason: 'upstream.tls',
  detail: 'The upstream failed TLS verification.',
};
const FAILED: Denial = {
  kind: 'bad-gateway',
  reason: 'upstream.failed',
  detail: 'The upstream connection failed.',
};

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unknown';
}

function denialFor(err: unknown): Denial {
  if (err instanceof BodyRefusedError) return err.denial;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return FAILED;
  const known = UPSTREAM_ERRORS[code];
  if (known !== undefined) return known;
  if (code.startsWith('ERR_TLS_') || code.includes('CERT') || code.includes('SELF_SIGNED')) {
    return TLS_FAILED;
  }
  return FAILED;
}

function applyResponseChanges(headers: string[], changes: readonly ResponseChange[]): string[] {
  let out = headers;
  for (const change of changes) {
    const { removeHeaders: remove, setHeaders: set } = change;
    if (remove === undefined && set === undefined) continue;
    // A handful of names against a handful of headers: a scan, without a Set per response.
    const next: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      const name = out[i] as string;
      if (remove?.includes(name) === true || (set !== undefined && Object.hasOwn(set, name)))
        continue;
      next.push(name, out[i + 1] as string);
    }
    if (set !== undefined)
      for (const name of Object.keys(set)) next.push(name, set[name] as string);
    out = next;
  }
  return out;
}

export interface ProxyTarget {
  readonly route: RouteRuntime;
  readonly ctx: RequestContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly head: RequestHead;
  readonly headers: string[];
  /** The query string the upstream receives (a stage may have removed a credential from it). */
  readonly query: string;
  /** The body the upstream receives: the client's stream, or what the stages read or wrote. */
  readonly body: UpstreamBody;
  /** The body limit of this request (a consumer tier may tighten the route's) and its refusal. */
  readonly bodyLimit: { readonly bytes: number; readonly refusal: Denial | undefined };
  readonly problems: ProblemOptions;
  /** Response header names the gateway sets itself, dropped from the upstream's. */
  readonly ownResponseHeaders: ReadonlySet<string>;
  readonly extraResponseHeaders: readonly string[];
}

/**
 * Streams one request to its upstream and the response back, through undici's dispatch API:
 * no body is buffered, backpressure flows both ways, and a client that goes away aborts the
 * upstream request.
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** Set once the gateway answered the client itself: later upstream errors are moot. */
  #answered = false;
  /** Set when a response stage asked to rewrite the JSON body: it is buffered, then sent. */
  #filter: ResponseFilter | undefined;
  /** Set when a response stage asked to transform the body as it streams. */
  #body: StreamedTransform | undefined;
  /** Set until the request ends: it then frees its place at the upstream's gate, once. */
  #release: (() => void) | undefined;
  readonly #onDrain = (): void => this.#resume?.();

  constructor(private readonly t: ProxyTarget) {}

  /** The request holds a place at the upstream's gate until it completes or fails. */
  holdGate(release: () => void): void {
    this.#release = release;
  }

  #ended(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.t.res.destroyed) abort();
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx informational responses (100 Continue) are between undici and the upstream.
    if (statusCode < 200) return true;
    this.#resume = resume;
    const headers = clientResponseHeaders(raw, this.t.ownResponseHeaders);
    for (const h of this.t.extraResponseHeaders) headers.push(h);
    if (!this.t.route.hasResponseStages) {
      this.t.res.writeHead(statusCode, headers);
      return true;
    }
    const view: Record<string, string> = {};
    for (let i = 0; i < headers.length; i += 2)
      view[headers[i] as string] = headers[i + 1] as string;
    const result = runResponseStages(this.t.route.stages, this.t.ctx, {
      statusCode,
      headers: view,
    });
    if (!(result instanceof Promise)) return this.#respond(statusCode, headers, result);
    result.then(
      (r) => {
        if (this.#respond(statusCode, headers, r)) resume();
      },
      (err: unknown) => this.onError(err as Error),
    );
    return false;
  }

  /** Sends the response head, or the refusal a response stage decided; false when refused. */
  #respond(statusCode: number, headers: string[], result: ResponseResult): boolean {
    const { res, ctx, problems } = this.t;
    if (res.destroyed) return false;
    if (!result.ok) {
      this.#answered = true;
      sendProblem(res, result.denial, ctx.id, problems);
      this.#abort?.(new Error('response refused'));
      return false;
    }
    const start = ResponseFilter.start(
      ctx.method,
      statusCode,
      applyResponseChanges(headers, result.changes),
      result.changes,
      this.t.route.limits.responseFilterBytes,
    );
    if (start.kind === 'refuse') return this.#refuseResponse(start.denial);
    if (start.kind === 'buffer') {
      this.#filter = start.filter;
      return true;
    }
    const body = StreamedTransform.start(ctx.method, statusCode, start.headers, result.changes, {
      res,
      resume: () => this.#resume?.(),
      refuse: (denial) => this.#refuseResponse(denial),
    });
    if (body.kind === 'refuse') return this.#refuseResponse(body.denial);
    if (body.kind === 'transform') {
      this.#body = body.body;
      return true;
    }
    res.writeHead(statusCode, (body.kind === 'stream' ? body.headers : start.headers) as string[]);
    return true;
  }

  /** The gateway answers instead of the upstream's response; always false (stop reading). */
  #refuseResponse(denial: Denial): false {
    const { res, ctx, problems } = this.t;
    this.#answered = true;
    publishRefusal(ctx, 'proxy', denial);
    ctx.log.warn(
      { requestId: ctx.id, route: ctx.route.name, reason: denial.reason },
      'upstream response refused',
    );
    sendProblem(res, denial, ctx.id, problems);
    this.#abort?.(new Error('response refused'));
    return false;
  }

  onData(chunk: Buffer): boolean {
    if (this.#body !== undefined) return !this.#answered && this.#body.write(chunk);
    if (this.#filter !== undefined) {
      if (this.#answered) return false;
      const over = this.#filter.add(chunk);
      return over === undefined ? true : this.#refuseResponse(over);
    }
    const ok = this.t.res.write(chunk);
    if (!ok) this.t.res.once('drain', this.#onDrain);
    return ok;
  }

  onComplete(): void {
    this.#ended();
    if (this.#body !== undefined) {
      if (!this.#answered) this.#body.end();
      return;
    }
    const filter = this.#filter;
    if (filter === undefined) {
      this.t.res.end();
      return;
    }
    if (this.#answered) return;
    let out: ReturnType<ResponseFilter['finish']>;
    try {
      out = filter.finish();
    } catch (err) {
      this.#filterFailed(err);
      return;
    }
    if (out instanceof Promise) {
      out.then(
        (done) => this.#sendFiltered(done),
        (err: unknown) => this.#filterFailed(err),
      );
    } else {
      this.#sendFiltered(out);
    }
  }

  /** Sends what the response filter made of the body, or its refusal. */
  #sendFiltered(out: FilteredResponse | Denial): void {
    const { res } = this.t;
    if (res.destroyed) return;
    if (!('body' in out)) {
      this.#refuseResponse(out);
      return;
    }
    res.writeHead(out.statusCode, out.headers);
    res.end(out.body);
  }

  /** A bug in a filter (a transform that threw): the response is refused, fail closed. */
  #filterFailed(err: unknown): void {
    this.t.ctx.log.error({ err, requestId: this.t.ctx.id }, 'response filter failed');
    this.#refuseResponse(ResponseFilter.FAILED);
  }

  onError(err: Error): void {
    this.#ended();
    const { res, ctx } = this.t;
    this.#body?.destroy();
    if (res.destroyed || this.#answered) return;
    const denial = denialFor(err);
    if (err instanceof BodyRefusedError) {
      // The client's body broke a limit on its way through: a refusal like any other, with
      // its security event.
      publishRefusal(ctx, 'limits', denial);
    } else {
      publishUpstreamError({
        requestId: ctx.id,
        route: ctx.route.name,
        upstream: ctx.route.upstream,
        code: errorCode(err),
        status: statusOf(denial.kind),
      });
      ctx.log.warn(
        {
          requestId: ctx.id,
          route: ctx.route.name,
          upstream: ctx.route.upstream,
          code: errorCode(err),
          reason: denial.reason,
        },
        'upstream request failed',
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(res, denial, ctx.id, {
      ...this.t.problems,
      close: err instanceof BodyRefusedError,
    });
  }

  abort(): void {
    this.#body?.destroy();
    this.#abort?.(new Error('client went away'));
  }
}

export function proxyRequest(t: ProxyTarget): void {
  const { route, ctx, req, res, head } = t;
  let body: IncomingMessage | BodyGuard | Buffer | null = null;
  let headers = t.headers;
  if (t.body.kind === 'refused') {
    // Only a stage in shadow mode lets a request go on after its body broke a limit: the
    // body is incomplete, so the request cannot be proxied all the same.
    publishRefusal(ctx, 'limits', t.body.denial);
    sendProblem(res, t.body.denial, ctx.id, { ...t.problems, close: true });
    return;
  }
  if (t.body.kind === 'bytes') {
    // A stage read the body: send exactly the bytes it checked (or its replacement), framed
    // by a Content-Length of our own, never the client's framing.
    body = t.body.bytes;
    headers = withBodyHeaders(
      headers,
      body.length,
      t.body.replaced && !isJsonMediaType(head.contentType),
    );
  } else if (head.chunked || head.contentLength > 0) {
    const json = isJsonMediaType(head.contentType);
    if (head.chunked || json) {
      const guard = new BodyGuard(
        t.bodyLimit.bytes,
        json ? route.limits.jsonDepth : 0,
        t.bodyLimit.refusal,
      );
      req.pipe(guard);
      body = guard;
    } else {
      body = req;
    }
  }
  const handler = new ProxyHandler(t);
  const { gate, dispatcher, basePath } = route.upstream;
  const dispatch = (): void => {
    handler.holdGate(() => gate.release());
    dispatcher.dispatch(
      {
        path: t.query === '' ? basePath + ctx.path : `${basePath}${ctx.path}?${t.query}`,
        method: ctx.method,
        headers,
        body,
      },
      handler,
    );
  };
  const refused = (why: GateRefusal): void => {
    const denial = gate.refusals[why];
    publishRefusal(ctx, 'proxy', {
      ...denial,
      audit: { ...denial.audit, details: { upstream: route.upstream.name } },
    });
    // An unread request body stays on the connection, where nobody can frame what follows.
    sendProblem(res, denial, ctx.id, {
      ...t.problems,
      close: body !== null && !Buffer.isBuffer(body),
    });
  };
  const withdraw = gate.enter(dispatch, refused);
  res.once('close', () => {
    if (res.writableFinished) return;
    withdraw();
    handler.abort();
  });
}

/** The upstream's request headers for a body the gateway sends itself. */
function withBodyHeaders(headers: readonly string[], length: number, setJson: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = (headers[i] as string).toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') continue;
    if (setJson && name === 'content-type') continue;
    out.push(headers[i] as string, headers[i + 1] as string);
  }
  out.push('content-length', String(length));
  if (setJson) out.push('content-type', 'application/json');
  return out;
}
