import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

function config(route: string): string {
  return `
listeners: { http: { port: 8080 } }
upstreams: { api: { targets: ['http://127.0.0.1:9000'] } }
routes:
  - name: graphql
    paths: [/graphql]
    methods: [GET, POST, OPTIONS]
    upstream: api
    auth: { public: true }
${route}
`;
}

const load = (text: string) =>
  parseConfig(text, 'portcullis.yaml', { env: {}, stageKinds: STAGE_KINDS });

function issuesOf(text: string): string[] {
  try {
    load(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('routes[].graphql in the config', () => {
  it('fills every limit with its default, introspection off', () => {
    expect(load(config('    graphql: {}')).routes[0]?.graphql).toEqual({
      enforce: true,
      maxQueryBytes: 32_768,
      maxTokens: 5_000,
      maxDepth: 10,
      maxAliases: 20,
      maxDirectives: 50,
      maxCost: 5_000,
      listArguments: ['first', 'last', 'limit'],
      defaultListSize: 10,
      maxBatch: 1,
      introspection: false,
    });
  });

  it('lets a route with graphql skip it for preflights, and refuses that without', () => {
    const skip = '    preflight: { skipStages: [graphql] }';
    expect(issuesOf(config(`    graphql: {}\n${skip}`))).toEqual([]);
    expect(issuesOf(config(skip))).toContain(
      'routes[0].preflight.skipStages[0]: stage "graphql" is not a stage of this route; its stages: authn',
    );
  });

  it.each([
    ['graphql: { maxDepth: 0 }', 'routes[0].graphql.maxDepth: must be at least 1'],
    ['graphql: { maxBatch: 101 }', 'routes[0].graphql.maxBatch: must be at most 100'],
    ['graphql: { listArguments: ["first first"] }', 'routes[0].graphql.listArguments[0]'],
    ['graphql: { introspect: true }', 'routes[0].graphql: unknown key "introspect"'],
  ])('refuses %s', (setting, issue) => {
    const issues = issuesOf(config(`    ${setting}`));
    expect(
      issues.some((i) => i.startsWith(issue)),
      JSON.stringify(issues),
    ).toBe(true);
  });
});
