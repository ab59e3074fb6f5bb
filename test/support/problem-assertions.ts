import { expect } from 'vitest';
import { PROBLEM_TYPE_BASE, PROBLEMS, type ProblemKind } from '../../src/gateway/problems.js';
import type { GatewayProcess } from './gateway-process.js';
import type { Reply } from './http-client.js';

export interface ProblemJson {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly requestId: string;
}

const ALLOWED_KEYS = new Set(['type', 'title', 'status', 'detail', 'requestId', 'violations']);

/**
 * Asserts a response is one the gateway made itself: RFC 9457 problem+json of `kind` with the
 * status, title and request ID (also in the response's request ID header), and nothing an
 * attacker could learn from: no stack, no internal error text, none of the `secrets` given
 * (an upstream's address or port).
 */
export function expectProblem(
  reply: Reply,
  status: number,
  kind: ProblemKind,
  secrets: readonly string[] = [],
  requestIdHeader = 'x-request-id',
): ProblemJson {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers['content-type']).toBe('application/problem+json');
  const body = JSON.parse(reply.text) as ProblemJson;
  expect(body).toMatchObject({
    type: PROBLEM_TYPE_BASE + kind,
    title: PROBLEMS[kind].title,
    status,
  });
  expect(typeof body.requestId).toBe('string');
  expect(body.requestId.length).toBeGreaterThan(0);
  expect(reply.headers[requestIdHeader]).toBe(body.requestId);
  for (const key of Object.keys(body)) expect(ALLOWED_KEYS).toContain(key);
  // The request ID may be the client's own text; everything else must be free of internals.
  const rest = JSON.stringify({ ...body, requestId: '' });
  expect(rest).not.toMatch(/\bat [^\s]+ \(|\n\s+at |Error:|ECONN|UND_ERR|node:internal/);
  const headerText = JSON.stringify(reply.headers);
  for (const secret of secrets) {
    expect(rest).not.toContain(secret);
    expect(headerText).not.toContain(secret);
  }
  return body;
}

/** The reason of the security event logged for `requestId` (`request.denied`). */
export async function deniedReason(gw: GatewayProcess, requestId: string): Promise<string> {
  const line = await gw.waitForLog(
    (l) => l.event === 'request.denied' && l.requestId === requestId,
    5_000,
  );
  return String(line.reason);
}

/** The reason of the upstream failure logged for `requestId` ('upstream request failed'). */
export async function upstreamFailureReason(
  gw: GatewayProcess,
  requestId: string,
): Promise<string> {
  const line = await gw.waitForLog(
    (l) => l.msg === 'upstream request failed' && l.requestId === requestId,
    5_000,
  );
  return String(line.reason);
}
