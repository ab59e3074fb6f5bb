import { createHash } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type CodeOptions } from 'ajv';
import ajvFormats from 'ajv-formats';
import { addConfigFormats } from './formats.js';

/**
 * The one ajv set-up of the config: the loader compiles with it, and the build turns the
 * config schema into code with it (precompiled-validator.ts), so that both validate alike.
 */
export function createConfigAjv(code?: CodeOptions): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    // Errors carry their schema: the allowed values of a union, the known keys of an object.
    verbose: true,
    // Strict, so that a schema typo (an unknown keyword, an ignored default) fails at compile
    // time. TypeBox writes unions as `anyOf` of typed branches, which is fine for ajv.
    strict: true,
    allowUnionTypes: true,
    ...(code === undefined ? {} : { code }),
  });
  // The standard formats (uri, email, date-time...) for stage settings schemas.
  ajvFormats.default(ajv);
  addConfigFormats(ajv);
  return ajv;
}

/** Of a schema as JSON: which schema a precompiled validator was built from. */
export function schemaDigest(schema: TSchema): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}
