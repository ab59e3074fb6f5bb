import { describe, expect, it } from 'vitest';
import { attributesRead } from '../../../../src/stages/authz/policies/attributes-read.js';
import { cedar } from '../../../../src/stages/authz/policies/cedar.js';

/** The attribute names a policy reads, from its JSON form as the loader gets it. */
function read(policy: string): string[] {
  const json = cedar().policyToJson(policy);
  if (json.type !== 'success') throw new Error(`not a policy: ${policy}`);
  return [...attributesRead([json.json])].sort();
}

describe('the attributes a policy reads', () => {
  it.each([
    ['none', 'permit (principal, action, resource);', []],
    [
      'a dotted read',
      'permit (principal, action, resource) when { principal.roles.contains("a") };',
      ['roles'],
    ],
    [
      'a nested read',
      'permit (principal, action, resource) when { principal.metadata.plan == "x" };',
      ['metadata', 'plan'],
    ],
    ['a has test', 'permit (principal, action, resource) when { resource has body };', ['body']],
    [
      'a has test on a path',
      'permit (principal, action, resource) when { principal.metadata has plan };',
      ['metadata', 'plan'],
    ],
    [
      'an index read',
      'permit (principal, action, resource) when { principal["scopes"].isEmpty() };',
      ['scopes'],
    ],
    [
      'a read of what an expression gives',
      'permit (principal, action, resource) when { (if 1 == 1 then principal else resource).method == "x" };',
      ['method'],
    ],
    [
      'reads in unless and in a forbid',
      'forbid (principal, action, resource) when { resource.path like "/a*" } unless { principal.claims has sub };',
      ['claims', 'path', 'sub'],
    ],
  ])('%s', (_, policy, expected) => {
    expect(read(policy)).toEqual(expected);
  });

  it('walks a deeply nested condition without overflowing the stack', () => {
    // Built by hand: Cedar's own parser does not get this deep.
    let body: unknown = { '.': { left: { Var: 'principal' }, attr: 'roles' } };
    for (let i = 0; i < 100_000; i++) body = { '!': { arg: body } };
    expect([...attributesRead([{ conditions: [{ kind: 'when', body }] }])]).toEqual(['roles']);
  });
});
