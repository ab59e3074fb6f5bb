import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildRuntime } from '../../src/gateway/runtime.js';
import { ALLOW, systemClock } from '../../src/gateway/stage.js';
import { AuthzServices } from '../../src/stages/authz/authz-services.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** Where each route's authorization stage runs, as the runtime builds it (docs/stages.md). */

const YAML = `
listeners: {http: {port: 0}}
upstreams: {api: {targets: ['http://127.0.0.1:9']}}
# Only the authz stage's place is under test here (the protection stages: protection-placement).
defaults: {securityHeaders: {enabled: false}}
routes:
  - name: admin
    paths: [/admin]
    methods: [GET, OPTIONS]
    upstream: api
    auth: {methods: [api-key]}
    authz: {admin: true}
    preflight: {skipStages: [authn]}
    stages:
      - {type: ip-restriction, allow: [10.0.0.0/8]}
      - {type: response-headers, remove: [x-powered-by]}
  - name: only-authz-skipped
    paths: [/b]
    methods: [GET, OPTIONS]
    upstream: api
    auth: {methods: [api-key]}
    authz: {anyAuthenticated: true}
    preflight: {skipStages: [authz]}
  - {name: open, paths: [/open], methods: [GET], upstream: api, auth: {public: true}}
  - name: shadow-write
    paths: [/c]
    methods: [GET, POST]
    upstream: api
    auth: {methods: [api-key]}
    authz:
      anyAuthenticated: true
      properties: {write: {allow: [name], enforce: false}}
    stages:
      - {type: response-headers, remove: [x-powered-by]}
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
  const route = (name: string) => {
    const found = rt.router.match(
      'GET',
      name === 'open'
        ? '/open'
        : name === 'admin'
          ? '/admin'
          : name === 'shadow-write'
            ? '/c'
            : '/b',
      'h',
    );
    if (!found.ok) throw new Error(`no route ${name}`);
    return found.route;
  };
  return { route, close: () => authz.close() };
}

describe('the authz stage of a route', () => {
  it('runs after the blocks stages and authentication, before the transform stages', async () => {
    const { route, close } = runtime();
    expect(route('admin').stages.map((s) => s.type)).toEqual([
      'ip-restriction',
      'authn',
      'authz',
      'response-headers',
    ]);
    expect(route('only-authz-skipped').stages.map((s) => s.type)).toEqual(['authn', 'authz']);
    await close();
  });

  it('is followed by the write rules in shadow mode, unenforced, when they are', async () => {
    const { route, close } = runtime();
    expect(route('shadow-write').stages.map((s) => [s.type, s.enforce])).toEqual([
      ['authn', true],
      ['authz', true],
      ['authz', false],
      ['response-headers', true],
    ]);
    expect(route('admin').stages.filter((s) => !s.enforce)).toEqual([]);
    await close();
  });

  it('is left out of a public route, which has no identity to check', async () => {
    const { route, close } = runtime();
    expect(route('open').stages.map((s) => s.type)).toEqual(['authn']);
    await close();
  });

  it('is skipped by a preflight that skips authentication, or names it', async () => {
    const { route, close } = runtime();
    const skip = (name: string) =>
      Object.fromEntries(route(name).stages.map((s) => [s.type, s.skipForOptions]));
    expect(skip('admin')).toMatchObject({ authn: true, authz: true, 'ip-restriction': false });
    expect(skip('only-authz-skipped')).toEqual({ authn: false, authz: true });
    await close();
  });
});
