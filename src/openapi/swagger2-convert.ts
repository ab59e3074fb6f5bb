import type { SpecError } from './spec-error.js';

/**
 * Swagger 2.0 to OpenAPI 3.0, for what the gateway reads of a spec: paths (under `basePath`),
 * parameters, bodies (`in: body`, `in: formData`), responses, schemas and security schemes.
 * What cannot be said in 3.0 the way it was meant (`collectionFormat: tsv`) is refused, never
 * approximated. Refs to `#/definitions`, `#/parameters` and `#/responses` are rewritten or
 * inlined.
 */

type Seg = string | number;
type Fail = (path: readonly Seg[], detail: string) => SpecError;
type Json = Record<string, unknown>;

const isRecord = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];
/** Keywords of a Swagger 2.0 non-body parameter that are its value's schema in 3.0. */
const SCHEMA_KEYS = [
  'type',
  'format',
  'items',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'enum',
  'multipleOf',
];

/** Rewrites `#/definitions/X` refs and `x-nullable` throughout a schema. */
function schemaOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(schemaOf);
  if (!isRecord(value)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/'))
      out.$ref = `#/components/schemas/${v.slice('#/definitions/'.length)}`;
    else if (k === 'x-nullable') out.nullable = v;
    else if (k === 'type' && v === 'file') {
      out.type = 'string';
      out.format = 'binary';
    } else out[k] = schemaOf(v);
  }
  return out;
}

function resolveLocal(doc: Json, value: unknown, section: string, fail: Fail, at: Seg[]): Json {
  if (!isRecord(value)) throw fail(at, 'is not an object');
  const ref = value.$ref;
  if (typeof ref !== 'string') return value;
  const prefix = `#/${section}/`;
  const name = ref.startsWith(prefix) ? ref.slice(prefix.length) : undefined;
  const holder = doc[section];
  const target = name !== undefined && isRecord(holder) ? holder[name] : undefined;
  if (!isRecord(target)) throw fail([...at, '$ref'], `$ref ${ref.slice(0, 200)} leads nowhere`);
  return target;
}

/** A non-body parameter's item schema, with its nested collection formats refused. */
function parameterSchema(p: Json): Json {
  const schema: Json = {};
  for (const k of SCHEMA_KEYS) if (p[k] !== undefined) schema[k] = schemaOf(p[k]);
  if (schema.type === 'file') {
    schema.type = 'string';
    schema.format = 'binary';
  }
  return schema;
}

function styleOf(p: Json, fail: Fail, at: Seg[]): Json {
  if (p.type !== 'array') return {};
  const format = typeof p.collectionFormat === 'string' ? p.collectionFormat : 'csv';
  const query = p.in === 'query';
  switch (format) {
    case 'csv':
      return query ? { style: 'form', explode: false } : { style: 'simple', explode: false };
    case 'multi':
      if (!query) throw fail([...at, 'collectionFormat'], 'multi is only for query parameters');
      return { style: 'form', explode: true };
    case 'ssv':
      if (!query) throw fail([...at, 'collectionFormat'], 'ssv is only for query parameters');
      return { style: 'spaceDelimited', explode: false };
    case 'pipes':
      if (!query) throw fail([...at, 'collectionFormat'], 'pipes is only for query parameters');
      return { style: 'pipeDelimited', explode: false };
    default:
      throw fail(
        [...at, 'collectionFormat'],
        `collectionFormat ${format} has no OpenAPI 3 equivalent`,
      );
  }
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
}

function convertOperation(
  doc: Json,
  op: Json,
  shared: readonly unknown[],
  fail: Fail,
  at: Seg[],
): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(op)) {
    if (!['parameters', 'responses', 'consumes', 'produces', 'schemes'].includes(k)) out[k] = v;
  }
  const consumes = stringList(op.consumes) ?? stringList(doc.consumes) ?? ['application/json'];
  const produces = stringList(op.produces) ?? stringList(doc.produces) ?? ['application/json'];

  // Operation parameters override path-level ones of the same name and location.
  const byKey = new Map<string, { p: Json; at: Seg[] }>();
  const collect = (list: readonly unknown[], where: Seg[]) =>
    list.forEach((raw, i) => {
      const p = resolveLocal(doc, raw, 'parameters', fail, [...where, i]);
      byKey.set(`${String(p.in)}:${String(p.name)}`, { p, at: [...where, i] });
    });
  collect(shared, [...at.slice(0, -1), 'parameters']);
  if (Array.isArray(op.parameters)) collect(op.parameters, [...at, 'parameters']);

  const parameters: Json[] = [];
  const form: { properties: Json; required: string[]; file: boolean } = {
    properties: {},
    required: [],
    file: false,
  };
  for (const { p, at: pAt } of byKey.values()) {
    const name = typeof p.name === 'string' ? p.name : undefined;
    if (name === undefined) throw fail(pAt, 'a parameter needs a name');
    if (p.in === 'body') {
      out.requestBody = {
        required: p.required === true,
        content: Object.fromEntries(consumes.map((c) => [c, { schema: schemaOf(p.schema ?? {}) }])),
      };
    } else if (p.in === 'formData') {
      form.properties[name] = {
        ...parameterSchema(p),
        ...(p.description !== undefined ? { description: p.description } : {}),
      };
      if (p.required === true) form.required.push(name);
      if (p.type === 'file') form.file = true;
    } else if (['query', 'path', 'header'].includes(String(p.in))) {
      const q: Json = { name, in: p.in, schema: parameterSchema(p), ...styleOf(p, fail, pAt) };
      if (p.required === true || p.in === 'path') q.required = true;
      if (p.description !== undefined) q.description = p.description;
      if (p.allowEmptyValue === true) q.allowEmptyValue = true;
      parameters.push(q);
    } else throw fail([...pAt, 'in'], `parameter location ${String(p.in)} is unknown`);
  }
  if (parameters.length > 0) out.parameters = parameters;
  if (Object.keys(form.properties).length > 0) {
    if (out.requestBody !== undefined)
      throw fail(at, 'an operation cannot have both a body and formData parameters');
    const types = consumes.filter(
      (c) => c === 'application/x-www-form-urlencoded' || c === 'multipart/form-data',
    );
    const media =
      types.length > 0
        ? types
        : [form.file ? 'multipart/form-data' : 'application/x-www-form-urlencoded'];
    const schema: Json = { type: 'object', properties: form.properties };
    if (form.required.length > 0) schema.required = form.required;
    out.requestBody = {
      required: form.required.length > 0,
      content: Object.fromEntries(media.map((c) => [c, { schema }])),
    };
  }

  const responses: Json = {};
  const given = isRecord(op.responses) ? op.responses : {};
  for (const [status, raw] of Object.entries(given)) {
    if (status.startsWith('x-')) continue;
    const r = resolveLocal(doc, raw, 'responses', fail, [...at, 'responses', status]);
    const converted: Json = { description: typeof r.description === 'string' ? r.description : '' };
    if (r.schema !== undefined)
      converted.content = Object.fromEntries(
        produces.map((c) => [c, { schema: schemaOf(r.schema) }]),
      );
    if (isRecord(r.headers)) {
      converted.headers = Object.fromEntries(
        Object.entries(r.headers).map(([h, v]) => [
          h,
          { schema: isRecord(v) ? parameterSchema(v) : {} },
        ]),
      );
    }
    responses[status] = converted;
  }
  out.responses = responses;
  return out;
}

function securitySchemes(defs: unknown): Json {
  if (!isRecord(defs)) return {};
  const out: Json = {};
  for (const [name, raw] of Object.entries(defs)) {
    if (!isRecord(raw)) continue;
    if (raw.type === 'basic') out[name] = { type: 'http', scheme: 'basic' };
    else if (raw.type === 'apiKey') out[name] = { type: 'apiKey', in: raw.in, name: raw.name };
    else if (raw.type === 'oauth2') {
      const flow = { scopes: isRecord(raw.scopes) ? raw.scopes : {} } as Json;
      if (raw.authorizationUrl !== undefined) flow.authorizationUrl = raw.authorizationUrl;
      if (raw.tokenUrl !== undefined) flow.tokenUrl = raw.tokenUrl;
      const flowName =
        raw.flow === 'accessCode'
          ? 'authorizationCode'
          : raw.flow === 'application'
            ? 'clientCredentials'
            : String(raw.flow);
      out[name] = { type: 'oauth2', flows: { [flowName]: flow } };
    } else out[name] = raw;
  }
  return out;
}

export function swagger2ToOpenApi3(doc: Json, fail: Fail): Json {
  const basePath =
    typeof doc.basePath === 'string' && doc.basePath !== '/' ? doc.basePath.replace(/\/$/, '') : '';
  const paths: Json = {};
  for (const [template, rawItem] of Object.entries(isRecord(doc.paths) ? doc.paths : {})) {
    if (!isRecord(rawItem) || template.startsWith('x-')) continue;
    const item: Json = {};
    const shared = Array.isArray(rawItem.parameters) ? rawItem.parameters : [];
    for (const [k, v] of Object.entries(rawItem)) {
      if (k === 'parameters') continue;
      if (METHODS.includes(k) && isRecord(v))
        item[k] = convertOperation(doc, v, shared, fail, ['paths', template, k]);
      else item[k] = v;
    }
    paths[basePath + template] = item;
  }
  const schemas: Json = {};
  for (const [name, s] of Object.entries(isRecord(doc.definitions) ? doc.definitions : {}))
    schemas[name] = schemaOf(s);
  const out: Json = {
    openapi: '3.0.3',
    info: doc.info,
    paths,
    components: { schemas, securitySchemes: securitySchemes(doc.securityDefinitions) },
  };
  if (doc.security !== undefined) out.security = doc.security;
  if (typeof doc.host === 'string') {
    const scheme = stringList(doc.schemes)?.[0] ?? 'https';
    out.servers = [{ url: `${scheme}://${doc.host}${basePath}` }];
  }
  for (const [k, v] of Object.entries(doc)) if (k.startsWith('x-')) out[k] = v;
  return out;
}
