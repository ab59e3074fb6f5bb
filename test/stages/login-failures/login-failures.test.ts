import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loginFailureChannel, type LoginFailureEvent } from '../../../src/gateway/events.js';
import { MalformedJsonError } from '../../../src/gateway/request-body.js';
import type { RequestContext, Stage } from '../../../src/gateway/stage.js';
import {
  loginFailures,
  usernameDigest,
} from '../../../src/stages/login-failures/login-failures.js';

interface Login {
  headers?: [string, string][];
  json?: unknown;
  form?: string;
}

/** A login request as the stage sees it; counts how often its body was read. */
function login(parts: Login): { ctx: RequestContext; reads: () => number } {
  let reads = 0;
  const rawHeaders = (parts.headers ?? []).flat();
  const headers: Record<string, string> = {};
  for (const [n, v] of parts.headers ?? []) headers[n.toLowerCase()] = v;
  if (parts.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const ctx = {
    id: 'req-1',
    method: 'POST',
    path: '/login',
    query: '',
    params: {},
    clientIp: '203.0.113.9',
    route: { name: 'login', upstream: 'accounts' },
    headers,
    log: pino({ level: 'silent' }),
    raw: { rawHeaders, headers } as unknown as IncomingMessage,
    readJsonBody: () => {
      reads++;
      return parts.json instanceof Error ? Promise.reject(parts.json) : Promise.resolve(parts.json);
    },
    readBodyBytes: () => {
      reads++;
      return Promise.resolve(parts.form === undefined ? undefined : Buffer.from(parts.form));
    },
  };
  return { ctx: ctx as unknown as RequestContext, reads: () => reads };
}

function stage(settings: Record<string, unknown>): Stage {
  const filled = { failureStatuses: [401, 403], ...settings };
  return loginFailures.create(filled as Parameters<typeof loginFailures.create>[0], {
    clock: { now: () => 0, monotonic: () => 0 },
    log: pino({ level: 'silent' }),
  });
}

let published: LoginFailureEvent[] = [];
const listen = (m: unknown) => published.push(m as LoginFailureEvent);
beforeEach(() => {
  published = [];
  diagnostics.subscribe(loginFailureChannel.name, listen);
});
afterEach(() => diagnostics.unsubscribe(loginFailureChannel.name, listen));

/** Runs the request through the stage, then the upstream's answer `status`. */
async function attempt(s: Stage, ctx: RequestContext, status: number): Promise<void> {
  const verdict = await s.onRequest(ctx);
  expect(verdict).toEqual({ continue: true });
  await s.onResponse?.(ctx, { statusCode: status, headers: {} });
}

describe('the login-failures stage', () => {
  it.each([
    [
      'a JSON body field',
      { body: '/user/email' },
      { json: { user: { email: 'alice@example.com' } } },
    ],
    ['a form field', { form: 'username' }, { form: 'username=alice%40example.com&password=x' }],
    ['a header', { header: 'x-username' }, { headers: [['X-Username', 'alice@example.com']] }],
  ] as [string, Record<string, unknown>, Login][])(
    'reads the username from %s and publishes a refused login as its digest',
    async (_name, username, parts) => {
      const s = stage({ username });
      const { ctx } = login(parts);
      await attempt(s, ctx, 401);
      expect(published).toEqual([
        {
          requestId: 'req-1',
          route: 'login',
          clientIp: '203.0.113.9',
          username: usernameDigest('alice@example.com'),
          status: 401,
        },
      ]);
      expect(JSON.stringify(published)).not.toContain('alice');
    },
  );

  it.each([
    [200, 0],
    [302, 0],
    [401, 1],
    [403, 1],
    [429, 0],
    [500, 0],
  ])('after an upstream answer %i publishes %i failure(s)', async (status, n) => {
    const s = stage({ username: { body: '/username' } });
    await attempt(s, login({ json: { username: 'bob' } }).ctx, status);
    expect(published).toHaveLength(n);
  });

  it('counts one account whatever the case, spaces and compatibility forms of its name', () => {
    const d = usernameDigest('alice@example.com');
    expect(usernameDigest(' Alice@Example.COM ')).toBe(d);
    expect(usernameDigest('ａｌｉｃｅ@example.com')).toBe(d); // full-width letters
    expect(usernameDigest('alice@example.co')).not.toBe(d);
    expect(d).toMatch(/^un:[A-Za-z0-9_-]{22}$/);
  });

  it.each([
    ['no such field', { json: { user: 'alice' } }],
    ['a number, not a name', { json: { username: 42 } }],
  ] as [string, Login][])('publishes nothing for a body with %s', async (_name, parts) => {
    const s = stage({ username: { body: '/username' } });
    await attempt(s, login(parts).ctx, 401);
    expect(published).toEqual([]);
  });

  it('does not read a body that is not a form, and does not guess between two usernames', async () => {
    const s = stage({ username: { form: 'username' } });
    const json = login({ json: { username: 'alice' } });
    await attempt(s, json.ctx, 401);
    expect(json.reads()).toBe(0);
    await attempt(s, login({ form: 'username=alice&username=bob' }).ctx, 401);
    expect(published).toEqual([]);
  });

  it('refuses a login whose JSON body cannot be parsed, with its own reason', async () => {
    const s = stage({ username: { body: '/username' } });
    const verdict = await s.onRequest(login({ json: new MalformedJsonError('syntax') }).ctx);
    expect(verdict).toMatchObject({
      continue: false,
      problem: { kind: 'body-rejected', reason: 'detect.login.body_malformed' },
    });
  });
});
