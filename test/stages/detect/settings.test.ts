import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { parseConfig } from '../../../src/config/load.js';
import { STAGE_KINDS } from '../../../src/stages/registry.js';

/** The detect stage's settings as `portcullis check` reads them. */
function load(stage: string): unknown {
  const text = `
listeners: { http: { port: 8080 } }
upstreams: { api: { targets: ['http://127.0.0.1:3000'] } }
routes:
  - { name: r, paths: [/], methods: [GET], upstream: api, auth: { public: true }, stages: [${stage}] }
`;
  const config = parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });
  return config.routes[0]?.stages?.[0];
}

function issues(stage: string): string[] {
  try {
    load(stage);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(String);
    throw e;
  }
  return [];
}

describe('the detect stage settings', () => {
  it('fills in the defaults: paranoia 1, threshold 5, every part inspected', () => {
    expect(load('{ type: detect }')).toMatchObject({
      type: 'detect',
      enforce: true,
      paranoia: 1,
      threshold: 5,
      inspect: { path: true, query: true, headers: true, cookies: true, body: true },
      exclusions: [],
      inspectBytes: 1_048_576,
    });
  });

  it.each([
    ['{ type: detect, paranoia: 5 }', /paranoia/],
    ['{ type: detect, threshold: 0 }', /threshold/],
    ['{ type: detect, exclusions: [{ rules: [detect.sqli.nope] }] }', /rules/],
    ['{ type: detect, exclusions: [{ rules: [] }] }', /rules/],
    ['{ type: detect, exclusions: [{ rules: [detect.xss], locations: [] }] }', /locations/],
    ['{ type: detect, inspect: { bodies: true } }', /bodies|additional/],
    ['{ type: detect, mode: block }', /mode|additional/],
  ])('refuses %s', (stage, message) => {
    const found = issues(stage);
    expect(found.length, stage).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });

  it('accepts exclusions by rule, by family, everywhere and by location prefix', () => {
    expect(
      issues(
        "{ type: detect, exclusions: [{ rules: [detect.sqli.tautology, detect.xss, '*'], locations: ['body./items/*', query.q] }] }",
      ),
    ).toEqual([]);
  });
});
