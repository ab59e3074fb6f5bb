import { describe, expect, it } from 'vitest';
import type { RouteAuthzConfig } from '../../../src/config/authz-schema.js';
import { BodyRefusedError } from '../../../src/gateway/body-guard.js';
import { MalformedJsonError } from '../../../src/gateway/request-body.js';
import type { Verdict } from '../../../src/gateway/stage.js';
import { createAuthzStage } from '../../../src/stages/authz/authz-stage.js';
import { authz, identity, request } from './authz-fixtures.js';

/** Ownership rules that read a field of the JSON body, by JSON pointer (RFC 6901). */

type Owner = NonNullable<RouteAuthzConfig['owner']>[number];

const ALICE = identity({ metadata: { tenant: 'user_alice' } });

async function decide(pointer: string, body: unknown, extra: Owner[] = []): Promise<string> {
  const stage = createAuthzStage({
    authz: authz({
      anyAuthenticated: true,
      owner: [
        ...extra,
        { name: 'tenant', value: { body: pointer }, equals: { metadata: 'tenant' } },
      ],
    }),
    methods: ['POST'],
    adminRole: 'admin',
    anonymousAllowed: false,
  });
  const v: Verdict = await stage.onRequest(
    request({ method: 'POST', identity: ALICE, body, params: { id: 'user_alice' } }),
  );
  if (v.continue) return 'allow';
  const d = v.problem.audit?.details ?? {};
  return `${v.problem.kind} ${v.problem.reason} ${String(d.object)}${d.cause === undefined ? '' : ` ${String(d.cause)}`}`;
}

describe('ownership rules on a JSON body field', () => {
  it.each([
    ['own tenant at the top', '/tenant', { tenant: 'user_alice' }, 'allow'],
    ['own tenant nested', '/owner/tenant', { owner: { tenant: 'user_alice' } }, 'allow'],
    ['own tenant in an array', '/owners/1', { owners: ['x', 'user_alice'] }, 'allow'],
    ['a key with / and ~ escaped', '/a~1b~0c', { 'a/b~c': 'user_alice' }, 'allow'],
    [
      'foreign tenant',
      '/tenant',
      { tenant: 'user_bob' },
      'forbidden authz.owner.mismatch user_bob',
    ],
    [
      'tenant in another case',
      '/tenant',
      { tenant: 'USER_ALICE' },
      'forbidden authz.owner.mismatch USER_ALICE',
    ],
    [
      'no such field',
      '/tenant',
      { other: 'user_alice' },
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'a number where a string belongs',
      '/tenant',
      { tenant: 7 },
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'an object where a string belongs',
      '/tenant',
      { tenant: { id: 'user_alice' } },
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'a member of Object.prototype',
      '/constructor',
      {},
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      '__proto__',
      '/__proto__/tenant',
      JSON.parse('{"x":1}'),
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'an array index that is not a number',
      '/owners/x',
      { owners: ['user_alice'] },
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'an array index with a leading zero',
      '/owners/01',
      { owners: ['a', 'user_alice'] },
      'forbidden authz.owner.missing_value undefined',
    ],
    [
      'a body that is not an object',
      '/tenant',
      'user_alice',
      'forbidden authz.owner.missing_value undefined',
    ],
    ['no JSON body', '/tenant', undefined, 'forbidden authz.owner.missing_value undefined'],
  ])('%s: %s', async (_what, pointer, body, expected) => {
    expect(await decide(pointer, body)).toBe(expected);
  });

  it.each([
    [
      'a duplicate member (parameter pollution)',
      new MalformedJsonError('duplicate-key'),
      'body-rejected authz.owner.body_malformed undefined duplicate-key',
    ],
    [
      'broken JSON',
      new MalformedJsonError('syntax'),
      'body-rejected authz.owner.body_malformed undefined syntax',
    ],
    [
      'a body over the limit',
      new BodyRefusedError({ kind: 'body-too-large', reason: 'limits.body.too_large' }),
      'body-too-large limits.body.too_large undefined',
    ],
  ])('refuses %s', async (_what, error, expected) => {
    expect(await decide('/tenant', error)).toBe(expected);
  });

  it('fails closed on any other error reading the body', async () => {
    const stage = createAuthzStage({
      authz: authz({ owner: [{ value: { body: '/tenant' }, equals: { metadata: 'tenant' } }] }),
      methods: ['POST'],
      adminRole: 'admin',
      anonymousAllowed: false,
    });
    await expect(
      stage.onRequest(request({ method: 'POST', identity: ALICE, body: new TypeError('bug') })),
    ).rejects.toThrow('bug');
  });

  it('checks the other rules of the route too', async () => {
    const byParam: Owner = { value: { param: 'id' }, equals: { consumer: 'id' } };
    expect(await decide('/tenant', { tenant: 'user_alice' }, [byParam])).toBe(
      'forbidden authz.owner.mismatch user_alice',
    );
  });
});
