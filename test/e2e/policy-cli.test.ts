import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { portcullis } from '../support/cli.js';

/**
 * The Cedar policies through the command line: `portcullis check` refuses a policy or schema
 * error at its file, line and column, and `portcullis policy test` runs table tests (exit 0
 * all pass, 1 a case failed and is named, 2 a file that cannot be run).
 */

const EXAMPLES = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
const EXAMPLE_CONFIG = join(EXAMPLES, 'portcullis.yaml');
const EXAMPLE_TESTS = join(EXAMPLES, 'policy-tests.yaml');

/** The example policies config in a directory of its own, with its policies and schema changed. */
function exampleCopy(change: { policies?: string; schema?: string; config?: string } = {}): {
  dir: string;
  config: string;
  policies: string;
  schema: string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-policy-'));
  const config = join(dir, 'portcullis.yaml');
  const policies = join(dir, 'portcullis.cedar');
  const schema = join(dir, 'portcullis.cedarschema');
  copyFileSync(EXAMPLE_CONFIG, config);
  copyFileSync(join(EXAMPLES, 'portcullis.cedar'), policies);
  copyFileSync(join(EXAMPLES, 'portcullis.cedarschema'), schema);
  if (change.policies !== undefined) writeFileSync(policies, change.policies);
  if (change.schema !== undefined) writeFileSync(schema, change.schema);
  if (change.config !== undefined) writeFileSync(config, change.config);
  return { dir, config, policies, schema };
}

const VALID_POLICY = '@id("open")\npermit (principal, action, resource);\n';

describe('portcullis check with authz.policies', () => {
  it('accepts the example policies', async () => {
    const run = await portcullis(['check', '-c', EXAMPLE_CONFIG]);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it.each([
    [
      'a policy parse error',
      {
        policies: `${VALID_POLICY}\n@id("broken")\nforbid (principal, action, resource)\nwhen { principal.roles.contains( };\n`,
      },
      'policies',
      '6:34 authz.policies.file: unexpected token `}`',
    ],
    [
      'a policy that fails validation against the schema',
      {
        policies: `${VALID_POLICY}\n@id("typo")\nforbid (principal, action, resource)\n  when { principal.role == "x" };\n`,
      },
      'policies',
      '6:10 authz.policies.file: policy "typo": attribute `role` on entity type `Portcullis::Consumer` not found; did you mean `roles`?',
    ],
    [
      'a schema error',
      { schema: 'namespace Portcullis {\n  entity Consumer = { scopes: Set<Strin> };\n}\n' },
      'schema',
      '2:35 authz.policies.schema: failed to resolve type: Strin',
    ],
  ] as const)('refuses %s with the file, line and column', async (_, change, which, expected) => {
    const copy = exampleCopy(change);

    const run = await portcullis(['check', '-c', copy.config]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const file = which === 'policies' ? copy.policies : copy.schema;
    expect(run.stderr).toContain(`${file}:${expected}`);
    expect(run.stderr).toMatch(/PCL_CONFIG_INVALID: \d+ problem\(s\) in the configuration\n$/);
  });

  it('refuses a route that asks the policies when the schema has no action for it', async () => {
    const schema = readFileSync(join(EXAMPLES, 'portcullis.cedarschema'), 'utf8').replace(
      'action "account-orders", "orders"',
      'action "account-orders"',
    );
    const copy = exampleCopy({ schema, policies: VALID_POLICY });

    const run = await portcullis(['check', '-c', copy.config]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `${copy.config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ routes\\[2\\]\\.authz\\.policy: route "orders" asks the policies, but the schema declares no action "orders"`,
      ),
    );
  });

  it('refuses policyBody on a route that does not ask the policies', async () => {
    const copy = exampleCopy();
    writeFileSync(
      copy.config,
      readFileSync(copy.config, 'utf8').replace(
        '      policy: true\n      # The JSON body',
        '      # The JSON body',
      ),
    );

    const run = await portcullis(['check', '-c', copy.config]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /routes\[1\]\.authz\.policyBody: gives the body to the policies, but the route does not ask them: add policy: true\n/,
    );
  });

  it('refuses a policy file that cannot be read, at its key in the config', async () => {
    const copy = exampleCopy();
    const config = readFileSync(copy.config, 'utf8').replace(
      'file: portcullis.cedar',
      'file: missing.cedar',
    );
    writeFileSync(copy.config, config);

    const run = await portcullis(['check', '-c', copy.config]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `authz.policies.file: cannot read file "${join(copy.dir, 'missing.cedar')}": no such file`,
    );
  });
});

describe('portcullis policy test', () => {
  it('passes the example tests: exit 0 and a table naming the deciding policies', async () => {
    const run = await portcullis(['policy', 'test', EXAMPLE_TESTS, '-c', EXAMPLE_CONFIG]);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^RESULT +CASE +EXPECTED +GOT +DECIDED BY\n/);
    expect(run.stdout).toMatch(
      /^PASS +carol, on the readonly plan, places no order +deny by readonly-plan-places-no-orders +deny +readonly-plan-places-no-orders$/m,
    );
    expect(run.stdout).toMatch(/\n8 passed, 0 failed\n$/);
  });

  it.each([
    [
      'a wrong decision',
      'expect: allow',
      /^FAIL +carol, on the readonly plan, places no order +allow +deny +readonly-plan-places-no-orders$/m,
    ],
    [
      'the right decision by another policy',
      'expect: deny\n    policy: tenant-required',
      /^FAIL +carol, on the readonly plan, places no order +deny by tenant-required +deny +readonly-plan-places-no-orders$/m,
    ],
  ])('exits 1 on %s, naming the failing case', async (_, replacement, row) => {
    const tests = readFileSync(EXAMPLE_TESTS, 'utf8').replace(
      'expect: deny\n    policy: readonly-plan-places-no-orders',
      replacement,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-policy-')), 'tests.yaml');
    writeFileSync(file, tests);

    const run = await portcullis(['policy', 'test', file, '-c', EXAMPLE_CONFIG]);

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(row);
    expect(run.stdout).toMatch(/\n7 passed, 1 failed\n$/);
  });

  it.each([
    ['not YAML', 'cases: [\n', /tests\.yaml:2:1 /],
    ['no cases', 'cases: []\n', /tests\.yaml:1:8 cases: must NOT have fewer than 1 items/],
    [
      'an expectation that is neither allow nor deny',
      'cases:\n  - name: x\n    principal: { id: a }\n    route: orders\n    method: GET\n    expect: permit\n',
      /tests\.yaml:6:13 cases\[0\]\.expect: must be allow or deny/,
    ],
    [
      'a misspelt key',
      'cases:\n  - name: x\n    principal: { id: a, scope: [x] }\n    route: orders\n    method: GET\n    expect: allow\n',
      /tests\.yaml:3:16 cases\[0\]\.principal: unknown key "scope"/,
    ],
    [
      'a route that does not ask the policies',
      'cases:\n  - name: x\n    principal: { id: a }\n    route: catalog\n    method: GET\n    expect: allow\n',
      /cases\[0\] \("x"\): route "catalog" does not ask the policies/,
    ],
    [
      'a body for a route that does not give it to the policies',
      'cases:\n  - name: x\n    principal: { id: a }\n    route: orders\n    method: GET\n    body: { tier: x }\n    expect: allow\n',
      /cases\[0\] \("x"\): body: route "orders" does not give the body to the policies/,
    ],
    [
      'a route that does not exist',
      'cases:\n  - name: x\n    principal: { id: a }\n    route: nope\n    method: GET\n    expect: allow\n',
      /cases\[0\] \("x"\): no route "nope" in the config/,
    ],
  ])('exits 2 on a test file with %s', async (_, text, message) => {
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-policy-')), 'tests.yaml');
    writeFileSync(file, text);

    const run = await portcullis(['policy', 'test', file, '-c', EXAMPLE_CONFIG]);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
  });

  it('exits 2 when the config has no policies', async () => {
    const copy = exampleCopy();
    const config = readFileSync(copy.config, 'utf8')
      .replace(
        /authz:\n {2}policies:\n {4}file: portcullis.cedar\n {4}schema: portcullis.cedarschema\n/,
        '',
      )
      .replaceAll('      policy: true\n', '')
      .replaceAll('      policyBody: true\n', '');
    writeFileSync(copy.config, config);

    const run = await portcullis(['policy', 'test', EXAMPLE_TESTS, '-c', copy.config]);

    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`${copy.config}: has no authz.policies to test\n`);
  });
});
