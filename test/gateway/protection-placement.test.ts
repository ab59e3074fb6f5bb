import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildRuntime } from '../../src/gateway/runtime.js';
import { ALLOW, systemClock } from '../../src/gateway/stage.js';
import { AuthzServices } from '../../src/stages/authz/authz-services.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/**
 * Where the built-in protection stages run (docs/stages.md): CORS just before authentication,
 * the security-header policy and data protection after every listed stage (the first to run on
 * the way back), each from the route's own section or the default one.
 */

const YAML = `
listeners: {http: {port: 0}}
upstreams: {api: {targets: ['http://127.0.0.1:9']}}
defaults:
  dataProtection: {}
routes:
  - name: full
    paths: [/full]
    methods: [GET, OPTIONS]
    upstream: api
    auth: {methods: [api-key]}
    authz: {anyAuthenticated: true}
    cors: {origins: [https://app.example.com]}
    stages:
      - {type: ip-restriction, allow: [10.0.0.0/8]}
      - {type: response-headers, remove: [x-powered-by]}
  - name: bare
    paths: [/bare]
    methods: [GET]
    upstream: api
    auth: {public: true}
    securityHeaders: {enabled: false}
    dataProtection: {responses: false, patterns: {card: off}}
`;

function runtime() {
  const config = parseConfig(YAML, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
  const authz = new AuthzServices({ clock: systemClock });
  const { runtime: rt } = buildRuntime(config, undefined, {
    log: pino({ level: 'silent' }),
    clock: systemClock,
    authn: { stageFor: () => ({ name: 'authn', onRequest: () => ALLOW }) },
    authz: authz.build(config),
    limits: { stageFor: () => undefined },
  });
  const route = (path: string) => {
    const found = rt.router.match('GET', path, 'h');
    if (!found.ok) throw new Error(`no route ${path}`);
    return found.route;
  };
  return { route, close: () => authz.close() };
}

describe('the protection stages of a route', () => {
  it('puts CORS before authentication and the response protection after every listed stage', async () => {
    const { route, close } = runtime();
    expect(route('/full').stages.map((s) => s.type)).toEqual([
      'ip-restriction',
      'cors',
      'authn',
      'authz',
      'response-headers',
      'security-headers',
      'data-protection',
    ]);
    expect(route('/full').cors).toBeDefined();
    await close();
  });

  it("takes a route's own sections over the defaults", async () => {
    const { route, close } = runtime();
    const bare = route('/bare');
    expect(bare.stages.map((s) => s.type)).toEqual(['authn', 'data-protection']);
    expect(bare.cors).toBeUndefined();
    await close();
  });
});
