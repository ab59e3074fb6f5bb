import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { schemaDigest } from './config-ajv.js';
import { configFormatDefinitions } from './formats.js';
import { ConfigSchema } from './schema.js';

/**
 * The config schema's validator, turned into code by `npm run build` rather than compiled by
 * ajv at every start: compiling the 70 KB schema took 0.3 s on a quiet machine and over a
 * second on a busy one, at every `portcullis` command. The code (build-config-validator.ts) is written next to the built
 * loader (dist/config/) with the digest of the schema it was built from; a loader whose schema
 * differs (a stale build) compiles instead, so a validator never checks against another schema.
 */

/** The generated module's file name, next to this module. */
export const PRECOMPILED_FILE = 'config-validator.generated.cjs';

/** The formats the generated code looks up by name: ajv-formats' and the config's own. */
export function formatsForCode(): Record<string, unknown> {
  return { ...fullFormats, ...configFormatDefinitions() };
}

interface GeneratedModule {
  readonly digest: string;
  readonly create: (formats: Record<string, unknown>) => ValidateFunction;
}

/**
 * The generated validator of this very schema, or undefined when there is none (the sources
 * run as they are, in tests) or it was built from another schema.
 */
export function loadPrecompiledValidator(
  dir: URL = new URL('.', import.meta.url),
): ValidateFunction | undefined {
  const file = new URL(PRECOMPILED_FILE, dir);
  if (!existsSync(file)) return undefined;
  const generated = createRequire(import.meta.url)(fileURLToPath(file)) as GeneratedModule;
  if (generated.digest !== schemaDigest(ConfigSchema)) return undefined;
  return generated.create(formatsForCode());
}
