import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ResponseSection, type ResponseConfig } from '../../src/config/response-schema.js';
import { isValidCidr } from '../../src/gateway/ip-set.js';

if (!FormatRegistry.Has('cidr')) FormatRegistry.Set('cidr', isValidCidr);

/** `response` as the loader would fill it: `overrides` merged over the schema's defaults. */
export function responseConfig(overrides: Record<string, unknown> = {}): ResponseConfig {
  const filled = Value.Default(ResponseSection, structuredClone(overrides)) as ResponseConfig;
  if (!Value.Check(ResponseSection, filled)) throw new Error('invalid response config in a test');
  return filled;
}
