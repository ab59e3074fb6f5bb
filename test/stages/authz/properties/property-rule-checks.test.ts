import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/errors.js';
import { parseConfig } from '../../../../src/config/load.js';
import { STAGE_KINDS } from '../../../../src/stages/registry.js';

/** `portcullis check` refuses a property path the gateway would refuse at load, with its line. */

function issuesOf(properties: string): string[] {
  const text = [
    'listeners: {http: {port: 8080}}',
    'upstreams: {api: {targets: [http://a]}}',
    'routes:',
    '  - name: accounts',
    '    paths: [/accounts/:accountId]',
    '    methods: [PATCH]',
    '    upstream: api',
    '    auth: {methods: [api-key]}',
    '    authz:',
    '      anyAuthenticated: true',
    `      properties: ${properties}`,
  ].join('\n');
  try {
    parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => String(i));
    throw e;
  }
  return [];
}

describe('config loading checks property paths', () => {
  it('accepts well-formed paths', () => {
    expect(
      issuesOf(
        "{write: {allow: [name, 'address.city', 'items[].sku'], byRole: {admin: ['*']}}, read: {allow: ['[].id']}}",
      ),
    ).toEqual([]);
  });

  it.each([
    ['an index', "{write: {allow: ['items[0].sku']}}", 'write.allow[0]', 'items[0].sku'],
    ['an empty segment', "{read: {allow: [id, 'a..b']}}", 'read.allow[1]', 'a..b'],
    [
      'a wildcard segment',
      "{read: {allow: [id], byRole: {ops: ['address.*']}}}",
      'read.byRole.ops[0]',
      'address.*',
    ],
    [
      '__proto__',
      "{write: {allow: ['user.__proto__.isAdmin']}}",
      'write.allow[0]',
      'user.__proto__.isAdmin',
    ],
  ])('refuses %s, naming where it is', (_what, properties, at, path) => {
    const issues = issuesOf(properties);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(
      new RegExp(
        `^portcullis\\.yaml:11:\\d+ routes\\[0\\]\\.authz\\.properties\\.${at.replaceAll(/[.[\]]/g, '\\$&')}: "${path.replaceAll(/[.[\]*]/g, '\\$&')}"`,
      ),
    );
  });
});
