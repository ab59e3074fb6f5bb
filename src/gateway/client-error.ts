import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { publishDeny } from './events.js';
import { problemBody, statusOf, type Denial } from './problems.js';
import { isClosing } from './respond.js';

const BY_CODE: Record<string, Denial> = {
  HPE_HEADER_OVERFLOW: {
    kind: 'headers-too-large',
    reason: 'parser.header_overflow',
    detail: 'The request headers are too large.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    kind: 'request-timeout',
    reason: 'parser.request_timeout',
    detail: 'The request was not received in time.',
  },
  HPE_UNEXPECTED_CONTENT_LENGTH: {
    kind: 'framing-rejected',
    reason: 'parser.content_length',
    detail: 'Conflicting Content-Length or Transfer-Encoding.',
  },
  HPE_INVALID_CONTENT_LENGTH: {
    kind: 'framing-rejected',
    reason: 'parser.invalid_content_length',
    detail: 'Invalid Content-Length.',
  },
  HPE_INVALID_TRANSFER_ENCODING: {
    kind: 'framing-rejected',
    reason: 'parser.transfer_encoding',
    detail: 'Invalid Transfer-Encoding.',
  },
  HPE_INVALID_CHUNK_SIZE: {
    kind: 'framing-rejected',
    reason: 'parser.chunk_size',
    detail: 'Invalid chunk size.',
  },
  HPE_LF_EXPECTED: {
    kind: 'framing-rejected',
    reason: 'parser.bare_lf',
    detail: 'Lines must end with CRLF.',
  },
  HPE_CR_EXPECTED: {
    kind: 'framing-rejected',
    reason: 'parser.cr_expected',
    detail: 'Lines must end with CRLF.',
  },
  HPE_INVALID_HEADER_TOKEN: {
    kind: 'header-rejected',
    reason: 'parser.header_token',
    detail: 'Invalid character in a header.',
  },
  HPE_INVALID_METHOD: { kind: 'bad-request', reason: 'parser.method', detail: 'Invalid method.' },
  HPE_INVALID_URL: { kind: 'bad-request', reason: 'parser.url', detail: 'Invalid request target.' },
  HPE_INVALID_VERSION: {
    kind: 'bad-request',
    reason: 'parser.version',
    detail: 'Unsupported HTTP version.',
  },
};
const MALFORMED: Denial = {
  kind: 'bad-request',
  reason: 'parser.malformed',
  detail: 'The request could not be parsed.',
};

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Answers what Node's strict HTTP parser refused (smuggling attempts, bare LF, oversized
 * headers, slowloris timeouts) with problem+json on the raw socket, then closes it: after a
 * framing error nothing else on that connection can be trusted.
 */
export function onClientError(
  err: Error & { code?: string },
  socket: Socket,
  requestIdHeader: string,
): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Garbage behind a request already refused with `close`: the refusal stands, and the
  // connection ends once it is sent.
  if (isClosing(socket)) return;
  const denial = (err.code !== undefined ? BY_CODE[err.code] : undefined) ?? MALFORMED;
  const status = statusOf(denial.kind);
  const id = randomUUID();
  publishDeny({
    requestId: id,
    reason: denial.reason,
    status,
    enforced: true,
    stage: 'parser',
    route: undefined,
    method: '',
    path: '',
    clientIp: socket.remoteAddress ?? '',
  });
  const body = JSON.stringify(problemBody(denial, id));
  socket.end(
    `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? 'Bad Request'}\r\n` +
      'content-type: application/problem+json\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'cache-control: no-store\r\n' +
      `${requestIdHeader}: ${id}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  );
}
