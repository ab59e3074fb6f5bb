import { Value } from '@sinclair/typebox/value';
import { Ajv } from 'ajv';
import { ResponseSection, type ResponseConfig } from '../../src/config/response-schema.js';
import { addConfigFormats } from '../../src/config/formats.js';

const ajv = new Ajv({ allErrors: true, strict: false });
addConfigFormats(ajv);
const validate = ajv.compile(ResponseSection);

/** `response` as the loader would fill it: `overrides` merged over the schema's defaults. */
export function responseConfig(overrides: Record<string, unknown> = {}): ResponseConfig {
  const filled = Value.Default(ResponseSection, structuredClone(overrides)) as ResponseConfig;
  if (!validate(filled))
    throw new Error(`invalid response config: ${ajv.errorsText(validate.errors)}`);
  return filled;
}
