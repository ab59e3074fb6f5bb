import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { problemBody, statusOf, type Denial } from './problems.js';

/**
 * Connections answered with `close`. Node's parser has often already read what followed the
 * refused request on the wire (TE.TE smuggling: `Transfer-Encoding: gzip, chunked` then a second
 * request); those bytes are as untrusted as the refused request, so nothing more from these
 * connections is handled, answered or proxied: they only wait for the close.
 */
const closing = new WeakSet<Socket>();

export function isClosing(socket: Socket): boolean {
  return closing.has(socket);
}

export interface ProblemOptions {
  readonly requestIdHeader: string;
  /** Adds X-Portcullis-Reason (debug only: it tells an attacker which check fired). */
  readonly debug: boolean;
  /** A precomputed Strict-Transport-Security value on HTTPS listeners. */
  readonly hsts: string | undefined;
  /** Close the connection after the response: the rest of the request cannot be trusted. */
  readonly close?: boolean;
}

/** Answers with RFC 9457 problem+json. Never a stack, an upstream address or an internal message. */
export function sendProblem(
  res: ServerResponse,
  denial: Denial,
  requestId: string,
  opts: ProblemOptions,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(problemBody(denial, requestId));
  const headers: string[] = [
    'content-type',
    'application/problem+json',
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
    'x-content-type-options',
    'nosniff',
    opts.requestIdHeader,
    requestId,
  ];
  if (denial.headers !== undefined) {
    for (const [name, value] of Object.entries(denial.headers)) headers.push(name, value);
  }
  if (opts.hsts !== undefined) headers.push('strict-transport-security', opts.hsts);
  if (opts.debug) headers.push('x-portcullis-reason', denial.reason);
  if (opts.close === true) {
    headers.push('connection', 'close');
    res.shouldKeepAlive = false;
    closing.add(res.req.socket);
  }
  res.writeHead(statusOf(denial.kind), headers);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
