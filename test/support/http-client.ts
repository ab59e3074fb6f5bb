import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { RawResponse } from './raw-http.js';

/** A response, read whole. */
export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
}

export interface SendOptions {
  readonly method?: string;
  /** Sent exactly as given: node:http does not normalize `..` or percent-encoding. */
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  /** A Buffer or string is sent with Content-Length; a stream is sent chunked. */
  readonly body?: Buffer | string | Readable;
  /** Default false: a fresh connection per request (`Connection: close`). */
  readonly agent?: http.Agent | false;
  /** Speak HTTPS, trusting these CA certificates; `cert` and `key`: a client certificate. */
  readonly tls?: {
    readonly ca: string | readonly string[];
    readonly servername?: string;
    readonly cert?: string;
    readonly key?: string;
  };
  readonly timeoutMs?: number;
}

/** One request with node:http, which sends headers (Connection, TE, Upgrade...) as given. */
export function send(port: number, opts: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      method: opts.method ?? 'GET',
      path: opts.path ?? '/',
      headers: opts.headers,
      agent: opts.agent ?? false,
      timeout: opts.timeoutMs ?? 10_000,
    };
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
        });
      });
    };
    const req =
      opts.tls === undefined
        ? http.request(common, onResponse)
        : https.request(
            {
              ...common,
              ca: [opts.tls.ca].flat(),
              servername: opts.tls.servername ?? 'localhost',
              ...(opts.tls.cert === undefined ? {} : { cert: opts.tls.cert }),
              ...(opts.tls.key === undefined ? {} : { key: opts.tls.key }),
            },
            onResponse,
          );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** A raw response in the shape of a Reply: repeated headers become arrays. */
export function replyOf(raw: RawResponse): Reply {
  const headers: IncomingHttpHeaders = {};
  for (const [name, values] of raw.headers) {
    headers[name] = values.length === 1 ? values[0] : [...values];
  }
  const body = Buffer.from(raw.body, 'latin1');
  return { status: raw.status, headers, body, text: body.toString('utf8') };
}
