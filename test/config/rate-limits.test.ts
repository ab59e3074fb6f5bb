import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

/** What `portcullis check` refuses of the consumption limits (docs/limits.md). */

const BASE = ['listeners: {http: {port: 8080}}', 'upstreams: {api: {targets: [http://a]}}'];

/** A route taking API keys and one public route, both applying `policies` with `cost`. */
function config(policies: string, routeLimits: string, publicLimits = '{policies: []}'): string {
  return [
    ...BASE,
    'rateLimits:',
    ...policies.split('\n').map((l) => `  ${l}`),
    'routes:',
    '  - {name: private, paths: [/p], methods: [GET], upstream: api,',
    '     auth: {methods: [api-key]}, authz: {anyAuthenticated: true},',
    `     rateLimits: ${routeLimits}}`,
    '  - {name: open, paths: [/o], methods: [GET], upstream: api, auth: {public: true},',
    `     rateLimits: ${publicLimits}}`,
  ].join('\n');
}

function load(text: string) {
  return parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
}

function issuesOf(text: string): string[] {
  try {
    load(text);
  } catch (e) {
    if (e instanceof ConfigError)
      return e.issues.map((i) => String(i).replace(/^(\S+:\d+):\d+ /, '$1 '));
    throw e;
  }
  throw new Error('the config was accepted');
}

describe('config loading refuses nonsense limits', () => {
  it.each([
    {
      what: 'an unknown policy',
      text: config('a: {key: [consumer], rate: {limit: 1, windowSeconds: 1}}', '{policies: [b]}'),
      issue: 'routes[0].rateLimits.policies[0]: unknown rate limit policy "b"; known: a',
    },
    {
      what: 'a zero rate',
      text: config('a: {key: [consumer], rate: {limit: 0, windowSeconds: 1}}', '{policies: [a]}'),
      issue: 'rateLimits.a.rate.limit: must be at least 1',
    },
    {
      what: 'a zero window',
      text: config('a: {key: [consumer], rate: {limit: 5, windowSeconds: 0}}', '{policies: [a]}'),
      issue: 'rateLimits.a.rate.windowSeconds: must be at least 1',
    },
    {
      what: 'a policy with no algorithm',
      text: config('a: {key: [consumer]}', '{policies: [a]}'),
      issue: 'rateLimits.a: needs exactly one of rate, quota, concurrency',
    },
    {
      what: 'a policy with two algorithms',
      text: config(
        'a: {key: [consumer], rate: {limit: 1, windowSeconds: 1}, concurrency: {limit: 1}}',
        '{policies: [a]}',
      ),
      issue:
        'rateLimits.a: needs exactly one of rate, quota, concurrency, not rate and concurrency',
    },
    {
      what: 'a claim key on a public route',
      text: config(
        'a: {key: [claim:tenant], rate: {limit: 1, windowSeconds: 1}}',
        '{policies: []}',
        '{policies: [a]}',
      ),
      issue:
        'routes[1].rateLimits.policies[0]: policy "a" keys on claim:tenant, which a public route has none of: every caller would share one bucket; key it on ip or route',
    },
    {
      what: 'a claim key on a route that takes API keys, which carry no claims',
      text: config(
        'a: {key: ["claim:tenant"], rate: {limit: 1, windowSeconds: 1}}',
        '{policies: [a]}',
      ),
      issue:
        'routes[0].rateLimits.policies[0]: policy "a" keys on claim:tenant, but api-key credentials carry no claims: their callers would share one bucket; key it on consumer or credential',
    },
    {
      what: 'a consumer key on a public route',
      text: config(
        'a: {key: [ip, consumer], rate: {limit: 1, windowSeconds: 1}}',
        '{policies: []}',
        '{policies: [a]}',
      ),
      issue:
        'routes[1].rateLimits.policies[0]: policy "a" keys on consumer, which a public route has none of: every caller would share one bucket; key it on ip or route',
    },
    {
      what: 'a cost above the burst',
      text: config(
        'a: {key: [consumer], rate: {limit: 100, windowSeconds: 1, burst: 5}}',
        '{policies: [a], cost: 10}',
      ),
      issue:
        'routes[0].rateLimits.cost: costs 10 units, more than policy "a" ever admits (5): no request would pass',
    },
    {
      what: 'a burst on a sliding window',
      text: config(
        'a: {key: [consumer], rate: {limit: 10, windowSeconds: 1, burst: 5, algorithm: sliding-window}}',
        '{policies: [a]}',
      ),
      issue:
        'rateLimits.a.rate.burst: a sliding window has no burst: it admits up to limit in any window; remove burst or use gcra',
    },
    {
      what: 'an unknown time zone',
      text: config(
        'a: {key: [consumer], quota: {limit: 10, period: day, timeZone: Mars/Olympus}}',
        '{policies: [a]}',
      ),
      issue:
        'rateLimits.a.quota.timeZone: unknown time zone "Mars/Olympus": use an IANA name such as UTC or Europe/Berlin',
    },
    {
      what: 'Redis without a Redis URL',
      text: config(
        'a: {key: [consumer], rate: {limit: 1, windowSeconds: 1}, backend: redis}',
        '{policies: [a]}',
      ),
      issue: 'rateLimits.a.backend: redis needs state.cluster.redisUrl',
    },
    {
      what: 'an unknown key part',
      text: config('a: {key: [user], rate: {limit: 1, windowSeconds: 1}}', '{policies: [a]}'),
      issue: 'rateLimits.a.key[0]: must match the pattern',
    },
    {
      what: 'a policy named twice on a route',
      text: config(
        'a: {key: [consumer], rate: {limit: 1, windowSeconds: 1}}',
        '{policies: [a, a]}',
      ),
      issue: 'routes[0].rateLimits.policies[1]: duplicate of routes[0].rateLimits.policies[0]',
    },
    {
      what: 'an unknown period',
      text: config('a: {key: [consumer], quota: {limit: 1, period: week}}', '{policies: [a]}'),
      issue: 'rateLimits.a.quota.period: must be one of hour, day, month',
    },
  ])('$what', ({ text, issue }) => {
    const issues = issuesOf(text);
    expect(
      issues.some((i) => i.includes(issue)),
      issues.join('\n'),
    ).toBe(true);
  });

  it('accepts every kind of policy, and skipping the stage for preflights', () => {
    const text = [
      ...BASE,
      'rateLimits:',
      '  burst: {key: [consumer], rate: {limit: 10, windowSeconds: 1, burst: 20}}',
      '  window: {key: [ip, route], rate: {limit: 100, windowSeconds: 60, algorithm: sliding-window}}',
      '  daily: {key: [credential], quota: {limit: 1000, period: day, timeZone: Europe/Berlin}}',
      '  monthly: {key: ["claim:tenant"], quota: {limit: 100000, period: month, window: rolling}}',
      '  inflight: {key: [consumer, "header:x-tenant"], concurrency: {limit: 4}}',
      '  everyone: {key: [global], rate: {limit: 1000, windowSeconds: 1}, enforce: false}',
      'defaults: {rateLimits: {policies: [window]}}',
      'authn:',
      '  issuers:',
      '    corp: {issuer: https://idp.example.com, audiences: [api], jwksUrl: https://idp.example.com/jwks}',
      'routes:',
      '  - {name: private, paths: [/p], methods: [GET, OPTIONS], upstream: api,',
      '     auth: {methods: ["jwt:corp"]}, authz: {anyAuthenticated: true},',
      '     rateLimits: {policies: [burst, daily, monthly, inflight, everyone], cost: 10},',
      '     preflight: {skipStages: [limits]}}',
      '  - {name: open, paths: [/o], methods: [GET], upstream: api, auth: {public: true}}',
    ].join('\n');
    const loaded = load(text);
    expect(loaded.routes[0]?.rateLimits).toEqual({
      policies: ['burst', 'daily', 'monthly', 'inflight', 'everyone'],
      cost: 10,
    });
    expect(loaded.rateLimits.daily).toMatchObject({
      backend: 'local',
      timeoutMs: 50,
      onBackendFailure: 'closed',
      headers: true,
      enforce: true,
      quota: { window: 'calendar' },
    });
  });

  it('refuses skipping the limits stage on a route that has none', () => {
    const text = [
      ...BASE,
      'routes:',
      '  - {name: open, paths: [/o], methods: [GET], upstream: api, auth: {public: true},',
      '     preflight: {skipStages: [limits]}}',
    ].join('\n');
    expect(issuesOf(text).join('\n')).toContain('stage "limits" is not a stage of this route');
  });
});
