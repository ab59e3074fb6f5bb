import { Ajv, type Options } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import type { LoadedSpec } from '../../openapi/spec-loader.js';
import { linearPattern } from './linear-pattern.js';

/**
 * The ajv instances of one spec, with its schemas prepared for each direction (request,
 * response) and added once under a base id, so that an operation's validators are compiled
 * once at load and its `$ref`s resolve into the spec. Spec `pattern`s run on RE2 (linear time):
 * a hostile string cannot stall the gateway on a backtracking pattern (ReDoS), and a pattern
 * RE2 cannot run (lookaround, backreferences) refuses the spec at load.
 */
export interface SpecAjv {
  /** Bodies and responses: values as they are, never coerced. */
  readonly body: Ajv;
  /** Parameters: strings coerced to the declared types (`?limit=5` is the integer 5). */
  readonly params: Ajv;
  /** The request-side copy of the document (readOnly properties refused). */
  readonly requestDoc: Record<string, unknown>;
  /** The response-side copy (writeOnly properties undeclared). */
  readonly responseDoc: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const REQUEST_BASE = 'pcl-request';
export const RESPONSE_BASE = 'pcl-response';

/** The rule name a request gets for setting a property the spec marks readOnly. */
export const READ_ONLY_KEYWORD = 'pclReadOnly';

const INT32 = {
  type: 'number',
  validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
} as const;

function addFormats(ajv: Ajv): void {
  ajvFormats.default(ajv);
  ajv.addFormat('int32', INT32);
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('float', { type: 'number', validate: () => true });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('binary', true);
  ajv.addFormat('password', true);
  ajv.addKeyword({
    keyword: READ_ONLY_KEYWORD,
    schemaType: 'boolean',
    errors: true,
    validate: (refused: boolean) => !refused,
  });
}

function createAjv(dialect: LoadedSpec['dialect'], coerce: boolean): Ajv {
  const opts: Options = {
    allErrors: true,
    // A spec is the API's, not ours: its vendor keywords (example, discriminator, x-...) pass.
    strict: false,
    validateSchema: false,
    logger: false,
    verbose: true,
    code: { regExp: linearPattern },
    ...(coerce ? { coerceTypes: 'array' as const } : {}),
  };
  const ajv = dialect === '3.1' ? new Ajv2020(opts) : new Ajv(opts);
  addFormats(ajv);
  return ajv;
}

function resolveRef(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isRecord(cur)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

/** Whether a property's schema (following local refs) says `flag: true`. */
function flagged(doc: Json, schema: unknown, flag: 'readOnly' | 'writeOnly'): boolean {
  let cur = schema;
  for (let hops = 0; hops < 32 && isRecord(cur); hops++) {
    if (cur[flag] === true) return true;
    if (typeof cur.$ref !== 'string') return false;
    cur = resolveRef(doc, cur.$ref);
  }
  return false;
}

/**
 * A copy of the document for one direction: 3.0's `nullable` and boolean exclusive bounds in
 * JSON Schema terms, local refs made absolute (`pcl-request#/components/...`), and properties
 * that direction may not carry turned into refusals (request: readOnly) or removed (response:
 * writeOnly, so enforcement strips them as undeclared).
 */
function prepare(
  doc: Json,
  dialect: LoadedSpec['dialect'],
  direction: 'request' | 'response',
): Json {
  const base = direction === 'request' ? REQUEST_BASE : RESPONSE_BASE;
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isRecord(value)) return value;
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#')) out.$ref = base + v;
      else out[k] = walk(v);
    }
    if (dialect === '3.0') {
      if (out.nullable === true) {
        if (typeof out.type === 'string') out.type = [out.type, 'null'];
        const values: unknown = out.enum;
        if (Array.isArray(values) && !values.includes(null))
          out.enum = [...(values as unknown[]), null];
        delete out.nullable;
      }
      for (const [flag, bound] of [
        ['exclusiveMinimum', 'minimum'],
        ['exclusiveMaximum', 'maximum'],
      ] as const) {
        if (typeof out[flag] !== 'boolean') continue;
        if (out[flag] === true && typeof out[bound] === 'number') {
          out[flag] = out[bound];
          delete out[bound];
        } else delete out[flag];
      }
    }
    if (isRecord(out.properties) && isRecord(value.properties)) {
      const props: Json = {};
      const dropped = new Set<string>();
      for (const [name, prop] of Object.entries(out.properties)) {
        const original = value.properties[name];
        if (direction === 'request' && flagged(doc, original, 'readOnly')) {
          props[name] = { [READ_ONLY_KEYWORD]: true };
          dropped.add(name);
        } else if (direction === 'response' && flagged(doc, original, 'writeOnly')) {
          dropped.add(name);
        } else props[name] = prop;
      }
      out.properties = props;
      if (Array.isArray(out.required) && dropped.size > 0)
        out.required = out.required.filter((n) => typeof n !== 'string' || !dropped.has(n));
    }
    return out;
  };
  const prepared = walk(doc);
  return isRecord(prepared) ? prepared : {};
}

/** Builds the ajv instances of a spec; throws when a schema cannot be compiled. */
export function specAjv(spec: LoadedSpec): SpecAjv {
  const requestDoc = prepare(spec.doc, spec.dialect, 'request');
  const responseDoc = prepare(spec.doc, spec.dialect, 'response');
  const body = createAjv(spec.dialect, false);
  const params = createAjv(spec.dialect, true);
  body.addSchema(requestDoc, REQUEST_BASE);
  body.addSchema(responseDoc, RESPONSE_BASE);
  params.addSchema(requestDoc, REQUEST_BASE);
  return { body, params, requestDoc, responseDoc };
}
