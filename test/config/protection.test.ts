import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** `portcullis check` on the data-protection, security-header and CORS settings. */

function config(route: string, defaults = ''): string {
  return `
listeners: { http: { port: 8080 } }
upstreams: { api: { targets: ['http://127.0.0.1:3000'] } }
defaults:
  auth: { public: true }
${defaults}
routes:
  - name: r
    paths: [/r]
    upstream: api
${route}
`;
}

function issues(text: string): string[] {
  try {
    parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map(String);
  }
}

describe('protection settings', () => {
  it.each([
    [
      '`*` with credentials',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['*'], credentials: true }`,
      /routes\[0\]\.cors\.origins\[0\]: `\*` with `credentials: true`/,
    ],
    [
      'an origin with a path',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://a.example.com/x'] }`,
      /must have no path/,
    ],
    [
      'an origin with user information',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://u@a.example.com'] }`,
      /must not have user information/,
    ],
    [
      'an origin with a trailing dot',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://a.example.com.'] }`,
      /must not end with a dot/,
    ],
    [
      'a wildcard over a public suffix',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://*.com'] }`,
      /at least two labels/,
    ],
    [
      'a wildcard in the middle',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://a.*.example.com'] }`,
      /a `\*` only as the first label/,
    ],
    [
      'a non-http origin',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['ftp://a.example.com'] }`,
      /must be http or https/,
    ],
    [
      'a CORS route without OPTIONS',
      `    methods: [GET]\n    cors: { origins: ['https://a.example.com'] }`,
      /routes\[0\]\.methods: must include OPTIONS/,
    ],
    [
      'a CORS method the route lacks',
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://a.example.com'], methods: [DELETE] }`,
      /CORS method DELETE is not a method of the route/,
    ],
    [
      'an unknown detector',
      `    methods: [GET]\n    dataProtection: { patterns: { passport: mask } }`,
      /dataProtection\.patterns/,
    ],
    [
      'an unknown action',
      `    methods: [GET]\n    dataProtection: { patterns: { card: hide } }`,
      /dataProtection\.patterns\.card/,
    ],
    [
      'an unknown security-header key',
      `    methods: [GET]\n    securityHeaders: { xFrame: DENY }`,
      /securityHeaders/,
    ],
  ])('refuses %s', (_name, route, message) => {
    const found = issues(config(route));
    expect(found.join('\n')).toMatch(message);
  });

  it('refuses a route without OPTIONS when defaults.cors applies to it', () => {
    const found = issues(
      config(`    methods: [GET]`, `  cors: { origins: ['https://a.example.com'] }`),
    );
    expect(found.join('\n')).toMatch(
      /must include OPTIONS: the route has CORS \(from defaults\.cors\)/,
    );
  });

  it('accepts a strict policy and fills the defaults', () => {
    const text = config(
      `    methods: [GET, OPTIONS]\n    cors: { origins: ['https://*.example.com', 'null'], credentials: true }\n    dataProtection: { patterns: { jwt: block } }`,
    );
    const parsed = parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
    const route = parsed.routes[0];
    expect(route?.cors).toMatchObject({ maxAge: 600, methods: [], headers: [] });
    expect(route?.dataProtection).toEqual({
      responses: true,
      requests: false,
      patterns: { jwt: 'block' },
      unscannable: 'refuse',
    });
    expect(parsed.defaults.securityHeaders).toMatchObject({
      enabled: true,
      remove: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'],
    });
  });
});
