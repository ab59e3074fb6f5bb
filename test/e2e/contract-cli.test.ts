import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { portcullis } from '../support/cli.js';

/** `portcullis init --from-openapi` and what `portcullis check` says of specs. */

const DEMO = fileURLToPath(new URL('../../src/demo/openapi.yaml', import.meta.url));
const SWAGGER = fileURLToPath(new URL('../fixtures/contract/demo-swagger.yaml', import.meta.url));

const tmp = () => mkdtempSync(join(tmpdir(), 'pcl-contract-cli-'));

/** Sets every TODO of a generated config to a value a real operator would choose. */
function fillTodos(text: string): string {
  const doc = parseDocument(text);
  doc.setIn(['defaults', 'limits', 'bodyBytes'], 65536);
  const issuers = doc.getIn(['authn', 'issuers']) as { items?: { key: { value: string } }[] };
  for (const item of issuers?.items ?? []) {
    const name = item.key.value;
    doc.setIn(['authn', 'issuers', name, 'issuer'], 'https://idp.example.com');
    doc.setIn(['authn', 'issuers', name, 'jwksUrl'], 'https://idp.example.com/jwks.json');
    doc.setIn(['authn', 'issuers', name, 'audiences'], ['api']);
  }
  if (doc.getIn(['upstreams', 'api', 'targets', 0]) === 'TODO')
    doc.setIn(['upstreams', 'api', 'targets'], ['http://127.0.0.1:3000']);
  return doc.toString();
}

describe('portcullis init --from-openapi', () => {
  it.each([
    ['OpenAPI 3.1', DEMO],
    ['Swagger 2.0', SWAGGER],
  ])(
    'writes a starter config from %s that check refuses until its TODOs are set',
    async (_name, spec) => {
      const dir = tmp();
      const file = join(dir, 'portcullis.yaml');
      const init = await portcullis(['init', '--from-openapi', spec, '-o', file]);
      expect(init.code, init.stderr).toBe(0);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('name: getAccount');
      expect(text).toContain('api-key');
      expect(text).not.toContain('/internal/');

      const refused = await portcullis(['check', '-c', file]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /portcullis\.yaml:\d+:\d+ defaults\.limits\.bodyBytes: is a TODO of the starter config/,
      );

      writeFileSync(file, fillTodos(text));
      const accepted = await portcullis(['check', '-c', file]);
      expect(accepted.stderr).toBe('');
      expect(accepted.code).toBe(0);
    },
    // Three runs of the CLI, on two cores shared with the other test files.
    60_000,
  );

  it('gives each operation the auth and scopes of its security requirement', async () => {
    const file = join(tmp(), 'portcullis.yaml');
    expect((await portcullis(['init', '--from-openapi', DEMO, '-o', file])).code).toBe(0);
    const routes = (
      parseDocument(readFileSync(file, 'utf8')).toJS() as {
        routes: { name: string; auth: unknown; authz?: unknown }[];
      }
    ).routes;
    const byName = new Map(routes.map((r) => [r.name, r]));
    expect(byName.get('getCatalog')?.auth).toEqual({ public: true });
    expect(byName.get('deleteAccount')).toMatchObject({
      auth: { methods: ['jwt:bearerAuth'] },
      authz: { scopes: { allOf: ['admin'] } },
    });
    expect(byName.get('updateAccount')?.auth).toEqual({
      methods: ['jwt:bearerAuth', 'api-key'],
    });
  });

  it('never overwrites an existing file without --force', async () => {
    const file = join(tmp(), 'portcullis.yaml');
    writeFileSync(file, 'mine\n');
    const out = await portcullis(['init', '--from-openapi', DEMO, '-o', file]);
    expect(out.code).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe('mine\n');
  });
});

describe('portcullis check with a spec', () => {
  function configFor(dir: string, spec: string): string {
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      [
        'listeners: {http: {port: 8080}}',
        'upstreams: {api: {targets: ["http://127.0.0.1:3000"]}}',
        `specs: {api: {file: ${JSON.stringify(spec)}}}`,
        'routes:',
        '  - {name: r, paths: [/things], methods: [GET], upstream: api, auth: {public: true},',
        '     contract: {spec: api}}',
      ].join('\n'),
    );
    return file;
  }

  const spec = (paths: string) =>
    `openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n${paths}`;

  it.each([
    [
      'YAML it cannot parse, at its line and column',
      spec('  /things:\n    get:\n      responses: @oops\n'),
      /spec\.yaml:6:18 specs\.api: cannot be parsed as YAML or JSON/,
    ],
    [
      'a duplicate key, at its line',
      spec("  /things:\n    get:\n      responses: {'200': {description: ok}}\n  /things:\n"),
      /spec\.yaml:7:3 specs\.api: cannot be parsed as YAML or JSON: duplicate key/,
    ],
    [
      'a $ref that leads nowhere, at the $ref',
      spec(
        "  /things:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Nope'}\n",
      ),
      /spec\.yaml:11:\d+ specs\.api: \$ref #\/components\/schemas\/Nope leads nowhere/,
    ],
    [
      'a $ref out of the spec folder',
      spec(
        "  /things:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '../../../../etc/passwd'}\n",
      ),
      /specs\.api: \$ref leaves the spec's folder|specs\.api: \$ref to a file that cannot be read/,
    ],
    [
      'a $ref to a URL',
      spec(
        "  /things:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'https://evil.example/schema.json'}\n",
      ),
      /only local files are read, never URLs/,
    ],
    [
      'not an OpenAPI document',
      'asyncapi: 2.6.0\npaths: {}\n',
      /spec\.yaml:1:1 specs\.api: is not OpenAPI 3\.0, 3\.1 or Swagger 2\.0/,
    ],
    [
      'a pattern the linear-time engine cannot run',
      spec(
        "  /things:\n    get:\n      parameters:\n        - {name: q, in: query, schema: {type: string, pattern: '^(?=a)a+$'}}\n      responses: {'200': {description: ok}}\n",
      ),
      /linear-time engine/,
    ],
    [
      'a route method the spec has no operation for',
      spec("  /other:\n    get:\n      responses: {'200': {description: ok}}\n"),
      /routes\[0\]\.contract: spec api has no operation GET \/things/,
    ],
  ])('refuses %s', async (_what, text, expected) => {
    const dir = tmp();
    writeFileSync(join(dir, 'spec.yaml'), text);
    const out = await portcullis(['check', '-c', configFor(dir, './spec.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(expected);
  });

  it('inlines a $ref to a file beside the spec, and refuses a cycle through files', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'schemas'));
    writeFileSync(
      join(dir, 'spec.yaml'),
      spec(
        "  /things:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: './schemas/thing.yaml#/Thing'}\n",
      ),
    );
    writeFileSync(
      join(dir, 'schemas/thing.yaml'),
      'Thing: {type: object, properties: {id: {type: string}}}\n',
    );
    const ok = await portcullis(['check', '-c', configFor(dir, './spec.yaml')]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    writeFileSync(
      join(dir, 'schemas/thing.yaml'),
      "Thing: {type: object, properties: {child: {$ref: '#/Thing'}}}\n",
    );
    const loop = await portcullis(['check', '-c', configFor(dir, './spec.yaml')]);
    expect(loop.code).toBe(1);
    expect(loop.stderr).toMatch(/thing\.yaml:1:\d+ specs\.api: \$ref cycle through another file/);
  });
});
