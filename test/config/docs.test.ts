import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { STAGE_KINDS } from '../../src/stages/registry.js';

const DOC = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every key path of a schema: `server.timeouts.requestHeaders`, `routes[].limits.bodyBytes`. */
function keyPaths(schema: unknown, prefix: string): string[] {
  if (!isRecord(schema)) return [];
  const out: string[] = [];
  const child = (path: string, s: unknown) => out.push(path, ...keyPaths(s, path));
  if (isRecord(schema.properties)) {
    for (const [key, s] of Object.entries(schema.properties)) {
      child(prefix === '' ? key : `${prefix}.${key}`, s);
    }
  }
  if (isRecord(schema.patternProperties)) {
    for (const s of Object.values(schema.patternProperties)) child(`${prefix}.*`, s);
  }
  if (schema.items !== undefined) out.push(...keyPaths(schema.items, `${prefix}[]`));
  for (const branch of [schema.anyOf, schema.oneOf, schema.allOf]) {
    if (Array.isArray(branch)) for (const s of branch) out.push(...keyPaths(s, prefix));
  }
  return [...new Set(out)];
}

const PATHS = keyPaths(ConfigSchema, '');

describe('docs/configuration.md', () => {
  it('is checked against every key of the schema', () => {
    // The walk itself must see the deep keys, or the test below could pass on nothing.
    expect(PATHS).toEqual(
      expect.arrayContaining([
        'listeners.https.hsts.maxAge',
        'server.timeouts.requestHeaders',
        'upstreams.*.tls.ca',
        'defaults.stages[].enforce',
        'routes[].limits.bodyBytes',
        'routes[].preflight.skipStages',
      ]),
    );
  });

  it.each(PATHS)('documents `%s`', (path) => {
    expect(DOC).toContain(`\`${path}\``);
  });

  it('has only examples that validate', () => {
    const blocks = [...DOC.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const base = {
      listeners: { http: { port: 8080 } },
      upstreams: { api: { targets: ['http://a'] }, accounts: { targets: ['http://b'] } },
      routes: [
        { name: 'r', paths: ['/'], methods: ['GET'], upstream: 'api', auth: { public: true } },
      ],
    };
    for (const block of blocks) {
      const parsed: unknown = parse(block);
      const example = isRecord(parsed) ? parsed : {};
      // An upstreams example keeps the base's, which the base route uses.
      const upstreams = {
        ...base.upstreams,
        ...(isRecord(example.upstreams) ? example.upstreams : {}),
      };
      const text = stringify({ ...base, ...example, upstreams });
      try {
        parseConfig(text, 'example.yaml', {
          env: { PORT: '8080', API_URL: 'http://127.0.0.1:3000' },
          stageKinds: STAGE_KINDS,
        });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        // Certificate and CA files of the examples do not exist here; nothing else may fail.
        const other = e.issues.filter((i) => !i.message.startsWith('cannot read file'));
        expect(other.map(String), block).toEqual([]);
      }
    }
  });
});
