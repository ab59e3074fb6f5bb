import { createHash } from 'node:crypto';
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/** A request as the upstream received it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Names as sent, values as sent, repeats kept: what a header-level assertion should read. */
  readonly rawHeaders: readonly string[];
  body: Buffer;
  /** false while the body is still arriving, and for good when the request was cut off. */
  complete: boolean;
}

/** What the echo responder answers: the upstream's view of the request, as JSON. */
export interface Echo {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly bodyLength: number;
  readonly bodySha256: string;
  /** The body as UTF-8, up to 64 KiB; longer bodies are only measured and hashed. */
  readonly body: string | undefined;
}

/** Answers a request whose body has been read; the default echoes it back. */
export type Responder = (
  req: IncomingMessage,
  res: ServerResponse,
  received: ReceivedRequest,
) => void;

export interface RecordingUpstream {
  readonly port: number;
  /** `http://127.0.0.1:PORT` (or https). */
  readonly origin: string;
  /** Every request that reached the upstream's request handler, in arrival order. */
  readonly requests: readonly ReceivedRequest[];
  /** Messages the upstream's own parser refused: smuggled bytes would show up here. */
  readonly clientErrors: number;
  close(): Promise<void>;
}

export interface RecordingUpstreamOptions {
  readonly respond?: Responder;
  /** PEM certificate and key: serve HTTPS instead of HTTP. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The default responder: 200 with the request as the upstream saw it. */
export function echo(res: ServerResponse, received: ReceivedRequest): void {
  const body: Echo = {
    method: received.method,
    url: received.url,
    headers: received.headers,
    rawHeaders: received.rawHeaders,
    bodyLength: received.body.length,
    bodySha256: sha256(received.body),
    body: received.body.length <= 65_536 ? received.body.toString('utf8') : undefined,
  };
  const text = JSON.stringify(body);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** The value of the one header `name` in raw headers; throws when it is repeated. */
export function rawHeader(rawHeaders: readonly string[], name: string): string | undefined {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name) values.push(rawHeaders[i + 1] as string);
  }
  if (values.length > 1)
    throw new Error(`${name} sent ${values.length} times: ${values.join(' | ')}`);
  return values[0];
}

/** Every header name in raw headers, lower-cased. */
export function rawHeaderNames(rawHeaders: readonly string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    names.push((rawHeaders[i] as string).toLowerCase());
  return names;
}

/**
 * An upstream for e2e tests, run in the test process: it records every request it receives
 * (headers, body, whether the body completed) and answers through `respond`.
 */
export function startRecordingUpstream(
  opts: RecordingUpstreamOptions = {},
): Promise<RecordingUpstream> {
  const requests: ReceivedRequest[] = [];
  let clientErrors = 0;
  const respond = opts.respond ?? ((_req, res, received) => echo(res, received));
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const received: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      complete: false,
    };
    requests.push(received);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => undefined);
    req.on('end', () => {
      received.body = Buffer.concat(chunks);
      received.complete = true;
      respond(req, res, received);
    });
  };
  const server =
    opts.tls === undefined
      ? http.createServer(onRequest)
      : https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest);
  server.on('clientError', (_err, socket) => {
    clientErrors++;
    socket.destroy();
  });
  const scheme = opts.tls === undefined ? 'http' : 'https';
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        origin: `${scheme}://127.0.0.1:${port}`,
        requests,
        get clientErrors() {
          return clientErrors;
        },
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
