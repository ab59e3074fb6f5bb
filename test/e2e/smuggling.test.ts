import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProblemKind } from '../../src/gateway/problems.js';
import { startGateway, writeConfig, type GatewayProcess } from '../support/gateway-process.js';
import { replyOf } from '../support/http-client.js';
import { deniedReason, expectProblem } from '../support/problem-assertions.js';
import { header, rawExchange } from '../support/raw-http.js';
import {
  rawHeader,
  startRecordingUpstream,
  type RecordingUpstream,
} from '../support/recording-upstream.js';

/**
 * Request smuggling and header-shadowing attempts against the real gateway process, written
 * byte for byte on raw sockets. Each must be refused with a problem the client can read, a
 * security event naming the check that fired, and nothing at all reaching the upstream.
 */

let upstream: RecordingUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  gw = await startGateway(
    writeConfig(`
listeners:
  http: { host: 127.0.0.1, port: 0 }
upstreams:
  echo:
    targets: [${upstream.origin}]
routes:
  - name: echo
    paths: [/echo]
    methods: [GET, POST]
    upstream: echo
    auth: { public: true }
`),
  );
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

const CRLF = '\r\n';
/** A request line and headers joined with CRLF, ended by the empty line. */
const head = (...lines: string[]): string => lines.join(CRLF) + CRLF + CRLF;
/** Sent right after each hostile request: if the gateway kept reading, this would reach the upstream. */
const SMUGGLED = head('GET /echo?smuggled=1 HTTP/1.1', 'Host: gateway.test');

interface Hostile {
  readonly name: string;
  readonly payload: string;
  readonly status: number;
  readonly kind: ProblemKind;
  readonly reason: string;
  /**
   * Refusals of the framing, and everything Node's parser refuses, close the connection: what
   * follows on the wire cannot be delimited with confidence. A header refusal (a duplicate Host)
   * leaves the framing intact, and the connection usable.
   */
  readonly closes: boolean;
}

// The reason says which line refused: `parser.*` is Node's strict HTTP parser (client-error.ts),
// `framing.*` / `headers.*` is the gateway's own second look at the headers (request-head.ts).
const HOSTILE: readonly Hostile[] = [
  {
    name: 'Content-Length then Transfer-Encoding (CL.TE)',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 6', 'Transfer-Encoding: chunked') +
      '0\r\n\r\nX',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.transfer_encoding',
    closes: true,
  },
  {
    name: 'Transfer-Encoding then Content-Length (TE.CL)',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 4') +
      '5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.invalid_content_length',
    closes: true,
  },
  {
    name: 'duplicate Content-Length with the same value',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 5') + 'hello',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.content_length',
    closes: true,
  },
  {
    name: 'duplicate Content-Length with different values',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Content-Length: 6') + 'hello!',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.content_length',
    closes: true,
  },
  {
    name: 'Content-Length with a sign (+5)',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: +5') + 'hello',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.invalid_content_length',
    closes: true,
  },
  {
    name: 'Content-Length in hex (0x5)',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 0x5') + 'hello',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.invalid_content_length',
    closes: true,
  },
  {
    name: 'Content-Length with two numbers (5 5)',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 5 5') + 'hello',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.invalid_content_length',
    closes: true,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked') + '0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'framing.transfer_encoding',
    closes: true,
  },
  {
    name: 'Transfer-Encoding: chunked, identity',
    payload:
      head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, identity') + '0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.transfer_encoding',
    closes: true,
  },
  {
    name: 'Transfer-Encoding: xchunked',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: xchunked') + '0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'framing.transfer_encoding',
    closes: true,
  },
  {
    name: 'two Transfer-Encoding headers (chunked twice)',
    payload:
      head(
        'POST /echo HTTP/1.1',
        'Host: a',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: chunked',
      ) + '0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.transfer_encoding',
    closes: true,
  },
  {
    name: 'two Transfer-Encoding headers (identity, then chunked)',
    payload:
      head(
        'POST /echo HTTP/1.1',
        'Host: a',
        'Transfer-Encoding: identity',
        'Transfer-Encoding: chunked',
      ) + '0\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'framing.transfer_encoding',
    closes: true,
  },
  {
    name: 'Transfer-Encoding folded onto a continuation line (obs-fold)',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding:', ' chunked') + '0\r\n\r\n',
    status: 400,
    kind: 'header-rejected',
    reason: 'parser.header_token',
    closes: true,
  },
  {
    name: 'bare LF ending the request line',
    payload: 'GET /echo HTTP/1.1\nHost: a\r\n\r\n',
    status: 400,
    kind: 'bad-request',
    reason: 'parser.version',
    closes: true,
  },
  {
    name: 'bare LF ending a header line',
    payload: 'GET /echo HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n',
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.cr_expected',
    closes: true,
  },
  {
    name: 'NUL in a header value',
    payload: head('GET /echo HTTP/1.1', 'Host: a', 'X-A: b\u0000c'),
    status: 400,
    kind: 'header-rejected',
    reason: 'parser.header_token',
    closes: true,
  },
  {
    name: 'lone CR in a header value',
    payload: head('GET /echo HTTP/1.1', 'Host: a', 'X-A: b\rc'),
    status: 400,
    kind: 'framing-rejected',
    reason: 'parser.bare_lf',
    closes: true,
  },
  {
    name: 'space before the colon (Transfer-Encoding : chunked)',
    payload: head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding : chunked') + '0\r\n\r\n',
    status: 400,
    kind: 'header-rejected',
    reason: 'parser.header_token',
    closes: true,
  },
  {
    name: 'duplicate Host',
    payload: head('GET /echo HTTP/1.1', 'Host: a.example', 'Host: b.example'),
    status: 400,
    kind: 'header-rejected',
    reason: 'headers.duplicate_singleton',
    closes: false,
  },
  {
    name: 'missing Host',
    payload: head('GET /echo HTTP/1.1', 'X-A: b'),
    status: 400,
    kind: 'bad-request',
    reason: 'request.host_invalid',
    closes: false,
  },
  {
    name: 'underscore in a header name (X_Forwarded_For)',
    payload: head('GET /echo HTTP/1.1', 'Host: a', 'X_Forwarded_For: 10.0.0.1'),
    status: 400,
    kind: 'header-rejected',
    reason: 'headers.underscore',
    closes: false,
  },
  {
    name: 'absolute-form request target',
    payload: head('GET http://internal.example/echo HTTP/1.1', 'Host: a'),
    status: 400,
    kind: 'path-rejected',
    reason: 'normalize.path.not_origin_form',
    closes: false,
  },
];

describe('hostile framing and headers', () => {
  it.each(HOSTILE)('refuses $name ($reason)', async ({ payload, status, kind, reason, closes }) => {
    const seen = upstream.requests.length;
    const parseErrors = upstream.clientErrors;

    const raw = await rawExchange(gw.http as number, closes ? payload + SMUGGLED : payload, {
      untilClose: closes,
    });

    expect(raw, 'the gateway answered').toBeDefined();
    if (raw === undefined) return;
    const problem = expectProblem(replyOf(raw), status, kind, [String(upstream.port)]);
    expect(await deniedReason(gw, problem.requestId)).toBe(reason);
    if (closes) {
      // Nothing more on the connection is trusted: it is closed, and the request sent behind
      // the hostile one is neither answered nor forwarded.
      expect(header(raw, 'connection')).toBe('close');
      expect(raw.closedByServer).toBe(true);
      expect(raw.trailing).toBe('');
      // Give a wrongly handled smuggled request the time to reach the upstream.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(upstream.requests.length).toBe(seen);
    expect(upstream.clientErrors).toBe(parseErrors);
  });
});

describe('methods that are never proxied', () => {
  it.each([
    { method: 'TRACE', target: '/echo' },
    { method: 'CONNECT', target: 'internal.example:443' },
  ])('refuses $method with 405 and Allow', async ({ method, target }) => {
    const seen = upstream.requests.length;

    const raw = await rawExchange(
      gw.http as number,
      head(`${method} ${target} HTTP/1.1`, 'Host: internal.example:443'),
    );

    expect(raw, 'the gateway answered').toBeDefined();
    if (raw === undefined) return;
    const problem = expectProblem(replyOf(raw), 405, 'method-not-allowed', [String(upstream.port)]);
    expect(header(raw, 'allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(await deniedReason(gw, problem.requestId)).toBe('request.method_forbidden');
    expect(upstream.requests.length).toBe(seen);
  });
});

describe('framing the gateway accepts', () => {
  it('forwards a valid chunked POST with the same body, re-framed by the gateway', async () => {
    const seen = upstream.requests.length;

    const raw = await rawExchange(
      gw.http as number,
      head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked') +
        '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    );

    expect(raw?.status).toBe(200);
    expect(upstream.requests.length).toBe(seen + 1);
    const got = upstream.requests[seen];
    expect(got?.complete).toBe(true);
    expect(got?.body.toString()).toBe('hello world');
    // One framing header, never both: the upstream cannot read this message two ways.
    const te = rawHeader(got?.rawHeaders ?? [], 'transfer-encoding');
    const cl = rawHeader(got?.rawHeaders ?? [], 'content-length');
    expect([te, cl].filter((v) => v !== undefined)).toHaveLength(1);
    if (cl !== undefined) expect(cl).toBe('11');
    else expect(te).toBe('chunked');
  });

  // RFC 9112 section 5: whitespace around a field value is not part of it, and Node's parser
  // strips it before the gateway sees the header. These are not ambiguous: the message has one
  // reading, and the upstream only ever gets the gateway's own framing of it.
  it.each([
    {
      name: 'Content-Length: 5 (trailing space)',
      payload: head('POST /echo HTTP/1.1', 'Host: a', 'Content-Length: 5 ') + 'hello',
    },
    {
      name: 'Transfer-Encoding:  chunked (leading space)',
      payload:
        head('POST /echo HTTP/1.1', 'Host: a', 'Transfer-Encoding:  chunked') +
        '5\r\nhello\r\n0\r\n\r\n',
    },
  ])('reads $name as the one message it is', async ({ payload }) => {
    const seen = upstream.requests.length;

    const raw = await rawExchange(gw.http as number, payload);

    expect(raw?.status).toBe(200);
    expect(upstream.requests.length).toBe(seen + 1);
    const got = upstream.requests[seen];
    expect(got?.body.toString()).toBe('hello');
    const te = rawHeader(got?.rawHeaders ?? [], 'transfer-encoding');
    const cl = rawHeader(got?.rawHeaders ?? [], 'content-length');
    expect([te, cl].filter((v) => v !== undefined)).toHaveLength(1);
    expect(cl ?? te).toMatch(/^(?:5|chunked)$/);
  });
});
