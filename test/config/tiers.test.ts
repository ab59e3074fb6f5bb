import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** A config with consumer tiers; `extra` is appended to the one route. */
function config(tiers: string, route = '', limits = ''): string {
  return `
listeners: { http: { port: 8080 } }
upstreams: { api: { targets: ['http://127.0.0.1:9000'] } }
${limits}
${tiers}
routes:
  - name: upload
    paths: [/upload]
    methods: [POST]
    upstream: api
    auth: { public: true }
${route}
`;
}

const TIERS = `
consumerTiers:
  metadataKey: plan
  default: free
  tiers:
    free: { bodyBytes: 1024, uploadBytes: 4096 }
    pro: { bodyBytes: 65536 }
`;

function issuesOf(text: string): string[] {
  try {
    parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('consumer tiers in the config', () => {
  it('accepts tiers, route overrides within the route limit, and fills the defaults', () => {
    const cfg = parseConfig(
      config(
        TIERS.replace('  metadataKey: plan\n', ''),
        '    tierLimits: { free: { uploadBytes: 2048 } }',
      ),
      'portcullis.yaml',
      { env: {}, stageKinds: STAGE_KINDS },
    );
    expect(cfg.consumerTiers?.metadataKey).toBe('tier');
    expect(cfg.routes[0]?.tierLimits).toEqual({ free: { uploadBytes: 2048 } });
  });

  it.each([
    {
      what: 'a default tier that is not declared',
      text: config(TIERS.replace('default: free', 'default: gold')),
      issue: 'consumerTiers.default: tier "gold" is not declared; declared: free, pro',
    },
    {
      what: 'a route override of an undeclared tier',
      text: config(TIERS, '    tierLimits: { gold: { bodyBytes: 10 } }'),
      issue: 'routes[0].tierLimits.gold: tier "gold" is not declared; declared: free, pro',
    },
    {
      what: 'route overrides without any tiers',
      text: config('', '    tierLimits: { free: { bodyBytes: 10 } }'),
      issue: 'routes[0].tierLimits: needs a consumerTiers section that declares the tiers',
    },
    {
      what: 'a route override above the route limit (it would loosen nothing: a contradiction)',
      text: config(
        TIERS,
        '    limits: { bodyBytes: 8192 }\n    tierLimits: { pro: { uploadBytes: 8193 } }',
      ),
      issue:
        "routes[0].tierLimits.pro.uploadBytes: 8193 is above this route's limits.bodyBytes (8192): a tier only tightens the route limit; raise limits.bodyBytes or lower this",
    },
    {
      what: 'a route override above the inherited default limit',
      text: config(
        TIERS,
        '    tierLimits: { free: { bodyBytes: 2048 } }',
        'defaults: { limits: { bodyBytes: 2000 } }',
      ),
      issue:
        "routes[0].tierLimits.free.bodyBytes: 2048 is above this route's limits.bodyBytes (2000): a tier only tightens the route limit; raise limits.bodyBytes or lower this",
    },
    {
      what: 'an unknown key in a tier',
      text: config(TIERS.replace('pro: { bodyBytes: 65536 }', 'pro: { bodyByte: 65536 }')),
      issue: 'consumerTiers.tiers.pro: unknown key "bodyByte"; did you mean "bodyBytes"?',
    },
    {
      what: 'no tier at all',
      text: config('consumerTiers: { default: free, tiers: {} }'),
      issue: 'consumerTiers.tiers: must have at least 1 key',
    },
  ])('refuses $what', ({ text, issue }) => {
    expect(issuesOf(text), JSON.stringify(issuesOf(text))).toContain(issue);
  });
});

describe('upstream connection caps in the config', () => {
  it('defaults the wait queue and leaves maxConnections to connections × targets', () => {
    const cfg = parseConfig(config(''), 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
    expect(cfg.upstreams.api?.queue).toEqual({ size: 1000, timeout: 2000 });
    expect(cfg.upstreams.api?.maxConnections).toBeUndefined();
  });

  it.each([
    ['maxConnections: 0', 'upstreams.api.maxConnections: must be at least 1'],
    ['queue: { timeout: 0 }', 'upstreams.api.queue.timeout: must be at least 1'],
    ['queue: { size: -1 }', 'upstreams.api.queue.size: must be at least 0'],
  ])('refuses %s', (setting, issue) => {
    const text = config('').replace(
      "api: { targets: ['http://127.0.0.1:9000'] }",
      `api: { targets: ['http://127.0.0.1:9000'], ${setting} }`,
    );
    expect(issuesOf(text), JSON.stringify(issuesOf(text))).toContain(issue);
  });
});
