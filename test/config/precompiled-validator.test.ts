import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { precompiledValidatorSource } from '../../src/config/build-config-validator.js';
import { createConfigAjv } from '../../src/config/config-ajv.js';
import {
  loadPrecompiledValidator,
  PRECOMPILED_FILE,
} from '../../src/config/precompiled-validator.js';
import { ConfigSchema } from '../../src/config/schema.js';

/**
 * The validator `npm run build` writes must decide exactly as ajv compiling the schema does:
 * the same verdict, the same errors (the loader turns them into the operator's messages) and
 * the same defaults filled in. And a validator built from another schema is never used.
 */

const ROOT = join(import.meta.dirname, '../..');
// Inside the repository, so that the generated code's require('ajv/...') resolves.
const cache = join(ROOT, 'node_modules', '.cache');
let dir: string;
let precompiled: ValidateFunction;
let compiled: ValidateFunction;

beforeAll(() => {
  mkdirSync(cache, { recursive: true });
  dir = mkdtempSync(join(cache, 'pcl-validator-'));
  writeFileSync(join(dir, PRECOMPILED_FILE), precompiledValidatorSource());
  const loaded = loadPrecompiledValidator(pathToFileURL(`${dir}/`));
  if (loaded === undefined) throw new Error('the generated validator was not loaded');
  precompiled = loaded;
  compiled = createConfigAjv().compile(ConfigSchema);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const example = parse(readFileSync(join(ROOT, 'examples/portcullis.yaml'), 'utf8')) as Record<
  string,
  unknown
>;

function decide(validate: ValidateFunction, input: unknown) {
  const data = structuredClone(input);
  const valid = validate(data);
  return { valid, errors: structuredClone(validate.errors ?? null), data };
}

describe('the precompiled config validator', () => {
  it.each([
    ['the example config', example],
    ['an empty document', {}],
    ['not an object', ['routes']],
    ['an unknown top-level key', { ...example, rootz: 1 }],
    ['a bad CIDR (a config format)', { ...example, server: { trustedProxies: ['10.0.0.300/8'] } }],
    [
      'an upstream URL with credentials (a config format)',
      { ...example, upstreams: { u: { targets: ['http://user:pw@example.com'] } } },
    ],
    ['a wrong type deep inside', { ...example, logging: { level: 'loud', access: 'yes' } }],
    ['a route without a path', { ...example, routes: [{ name: 'r', upstream: 'u' }] }],
  ])('decides like ajv on %s', (_, input) => {
    const expected = decide(compiled, input);
    const actual = decide(precompiled, input);
    expect(actual).toEqual(expected);
    // A case that did not test refusals or defaults would prove little.
    if (input !== example) expect(expected.valid).toBe(false);
    else expect(expected.data).not.toEqual(input);
  });

  it('is not used when it was built from another schema (a stale build)', () => {
    const stale = mkdtempSync(join(cache, 'pcl-validator-'));
    try {
      const source = precompiledValidatorSource().replace(
        /exports\.digest = "[0-9a-f]{64}"/,
        `exports.digest = "${'0'.repeat(64)}"`,
      );
      writeFileSync(join(stale, PRECOMPILED_FILE), source);
      expect(loadPrecompiledValidator(pathToFileURL(`${stale}/`))).toBeUndefined();
    } finally {
      rmSync(stale, { recursive: true, force: true });
    }
  });

  it('is absent when the sources run unbuilt', () => {
    expect(loadPrecompiledValidator(pathToFileURL(`${cache}/no-such-dir/`))).toBeUndefined();
  });
});
