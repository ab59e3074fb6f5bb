import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { RequestContext, Verdict } from '../../../src/gateway/stage.js';
import { LimitTable } from '../../../src/stages/limits/limit-table.js';
import { LimitsServices } from '../../../src/stages/limits/limits-services.js';
import { STAGE_KINDS } from '../../../src/stages/registry.js';
import { requestContext } from '../authn/request-context.js';

/** What a reload does to the limits: the counts stay, the new policy applies. */

const config = (limit: number, routeLimits = '{policies: [per-ip]}', algorithm = 'gcra') =>
  parseConfig(
    [
      'listeners: {http: {port: 8080}}',
      'upstreams: {api: {targets: [http://a]}}',
      `rateLimits: {per-ip: {key: [ip], rate: {limit: ${limit}, windowSeconds: 3600, algorithm: ${algorithm}}}}`,
      'routes:',
      '  - {name: accounts, paths: [/a], methods: [GET], upstream: api, auth: {public: true},',
      `     rateLimits: ${routeLimits}}`,
    ].join('\n'),
    'portcullis.yaml',
    { env: {}, stageKinds: STAGE_KINDS },
  );

const ctx = (): RequestContext => ({ ...requestContext(), onFinished: () => undefined });

function admitted(services: LimitsServices, limit: number, n: number, algorithm = 'gcra'): number {
  const cfg = config(limit, undefined, algorithm);
  const stage = services.build(cfg).stageFor(cfg.routes[0] as (typeof cfg.routes)[0]);
  if (stage === undefined) throw new Error('no limits stage');
  let count = 0;
  for (let i = 0; i < n; i++) if ((stage.onRequest(ctx()) as Verdict).continue) count++;
  return count;
}

describe('limits across reloads', () => {
  it('keeps the counts: a reload hands out no fresh budget', () => {
    const services = new LimitsServices({
      local: new LimitTable(Date),
      log: pino({ level: 'silent' }),
    });
    expect(admitted(services, 5, 8)).toBe(5);
    expect(admitted(services, 5, 8)).toBe(0);
  });

  // A sliding window keeps counts, so a raised limit frees the difference at once (GCRA keeps a
  // time, which drains at the new rate).
  it('applies a raised limit to the counts so far', () => {
    const services = new LimitsServices({
      local: new LimitTable(Date),
      log: pino({ level: 'silent' }),
    });
    expect(admitted(services, 5, 8, 'sliding-window')).toBe(5);
    expect(admitted(services, 8, 8, 'sliding-window')).toBe(3);
  });

  it('builds no stage for a route without policies', () => {
    const services = new LimitsServices({
      local: new LimitTable(Date),
      log: pino({ level: 'silent' }),
    });
    const cfg = config(5, '{policies: []}');
    expect(services.build(cfg).stageFor(cfg.routes[0] as (typeof cfg.routes)[0])).toBeUndefined();
  });
});
