import type { ValidateFunction } from 'ajv';
import { REQUEST_BASE, RESPONSE_BASE, type SpecAjv } from './spec-ajv.js';

/**
 * One operation of a spec, compiled once at load: its parameters by location with their
 * serialization, one validator per location, one per request media type, one per response
 * status and media type. A request only runs them.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export type ParamLocation = 'path' | 'query' | 'header' | 'cookie';
export type ParamStyle = 'simple' | 'form' | 'spaceDelimited' | 'pipeDelimited' | 'deepObject';

export interface ParamSpec {
  readonly name: string;
  /** Header names lowercased; others as declared. */
  readonly key: string;
  readonly in: ParamLocation;
  readonly required: boolean;
  readonly style: ParamStyle;
  readonly explode: boolean;
  readonly shape: 'scalar' | 'array' | 'object';
  readonly allowEmptyValue: boolean;
  /** The property names of an object parameter (form-exploded ones are top-level keys). */
  readonly properties: readonly string[];
}

export interface LocationCheck {
  readonly params: readonly ParamSpec[];
  /** Validates `{ name: value }` of every parameter present. */
  readonly validate: ValidateFunction;
}

export interface MediaCheck {
  readonly media: string;
  /** The schema as found in the prepared document (for undeclared properties). */
  readonly schema: unknown;
  readonly validate: ValidateFunction | undefined;
  /** Form fields are strings: validated with coercion (`qty=3` is the integer 3). */
  readonly validateCoerced: ValidateFunction | undefined;
}

export interface ResponseCheck {
  /** undefined: the response declares no content. */
  readonly content: ReadonlyMap<string, MediaCheck> | undefined;
}

export interface OperationContract {
  readonly id: string;
  readonly method: string;
  readonly template: string;
  readonly locations: Readonly<Record<ParamLocation, LocationCheck>>;
  readonly body:
    { readonly required: boolean; readonly media: ReadonlyMap<string, MediaCheck> } | undefined;
  /** By status code (`200`), range (`2XX`) and `default`. */
  readonly responses: ReadonlyMap<string, ResponseCheck>;
}

export class OperationError extends Error {}

const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** OpenAPI: these header parameters are ignored (they are described elsewhere). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

function deref(doc: Json, base: string, value: unknown): unknown {
  let cur = value;
  for (let hops = 0; hops < 32 && isRecord(cur) && typeof cur.$ref === 'string'; hops++) {
    const ref = cur.$ref;
    if (!ref.startsWith(`${base}#/`)) throw new OperationError(`$ref ${ref} cannot be followed`);
    let target: unknown = doc;
    for (const raw of ref.slice(base.length + 2).split('/')) {
      const seg = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      target = isRecord(target) ? target[seg] : undefined;
    }
    cur = target;
  }
  if (isRecord(cur) && typeof cur.$ref === 'string')
    throw new OperationError(`$ref cycle at ${cur.$ref}`);
  return cur;
}

function schemaShape(doc: Json, schema: unknown): { shape: ParamSpec['shape']; props: string[] } {
  const s = deref(doc, REQUEST_BASE, schema);
  if (!isRecord(s)) return { shape: 'scalar', props: [] };
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes('array')) return { shape: 'array', props: [] };
  if (types.includes('object') || isRecord(s.properties))
    return { shape: 'object', props: isRecord(s.properties) ? Object.keys(s.properties) : [] };
  return { shape: 'scalar', props: [] };
}

/** Every operation of a spec as `METHOD template`, with its operationId. */
export function listOperations(
  doc: Json,
): { method: string; template: string; id: string | undefined }[] {
  const out: { method: string; template: string; id: string | undefined }[] = [];
  const paths = isRecord(doc.paths) ? doc.paths : {};
  for (const [template, item] of Object.entries(paths)) {
    if (!isRecord(item)) continue;
    for (const m of OPERATIONS) {
      const op = item[m];
      if (!isRecord(op)) continue;
      out.push({
        method: m.toUpperCase(),
        template,
        id: typeof op.operationId === 'string' ? op.operationId : undefined,
      });
    }
  }
  return out;
}

function paramSpec(doc: Json, raw: unknown, where: string): ParamSpec & { schema: unknown } {
  const p = deref(doc, REQUEST_BASE, raw);
  if (!isRecord(p) || typeof p.name !== 'string' || typeof p.in !== 'string')
    throw new OperationError(`${where}: a parameter without name or in`);
  const location = p.in;
  if (!['path', 'query', 'header', 'cookie'].includes(location))
    throw new OperationError(`${where}: parameter ${p.name} is in ${location}`);
  let schema: unknown = p.schema;
  if (schema === undefined && isRecord(p.content)) {
    // `content` parameters (a JSON-encoded query value) are not read: refuse rather than pass.
    throw new OperationError(`${where}: parameter ${p.name} uses content, which is not supported`);
  }
  schema ??= {};
  const defaultStyle = location === 'query' || location === 'cookie' ? 'form' : 'simple';
  const style = typeof p.style === 'string' ? p.style : defaultStyle;
  const allowed: Record<ParamLocation, string[]> = {
    path: ['simple'],
    query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
    header: ['simple'],
    cookie: ['form'],
  };
  if (!allowed[location as ParamLocation].includes(style))
    throw new OperationError(
      `${where}: parameter ${p.name}: style ${style} in ${location} is not supported`,
    );
  const { shape, props } = schemaShape(doc, schema);
  if (style === 'deepObject' && shape !== 'object')
    throw new OperationError(`${where}: parameter ${p.name}: deepObject needs an object schema`);
  return {
    name: p.name,
    key: location === 'header' ? p.name.toLowerCase() : p.name,
    in: location as ParamLocation,
    required: p.required === true || location === 'path',
    style: style as ParamStyle,
    explode: typeof p.explode === 'boolean' ? p.explode : style === 'form',
    shape,
    allowEmptyValue: p.allowEmptyValue === true,
    properties: props,
    schema,
  };
}

function mediaChecks(
  ajv: SpecAjv,
  content: unknown,
  base: string,
  withCoerced: boolean,
): Map<string, MediaCheck> {
  const out = new Map<string, MediaCheck>();
  if (!isRecord(content)) return out;
  for (const [media, entry] of Object.entries(content)) {
    const schema = isRecord(entry) ? entry.schema : undefined;
    const key = media.split(';')[0]?.trim().toLowerCase() ?? '';
    const compiled = schema === undefined ? undefined : compile(ajv.body, schema);
    const coerced = schema === undefined || !withCoerced ? undefined : compile(ajv.params, schema);
    out.set(key, {
      media: key,
      schema,
      validate: compiled,
      validateCoerced: coerced,
    });
  }
  return out;
}

function compile(ajv: SpecAjv['body'], schema: unknown): ValidateFunction {
  if (typeof schema === 'boolean') return ajv.compile(schema);
  if (!isRecord(schema)) throw new OperationError('a schema is not an object');
  return ajv.compile(schema);
}

/** Compiles the operation `method template` of the spec. Throws OperationError. */
export function compileOperation(
  ajv: SpecAjv,
  method: string,
  template: string,
): OperationContract {
  const req = ajv.requestDoc;
  const res = ajv.responseDoc;
  const paths = isRecord(req.paths) ? req.paths : {};
  const resPaths = isRecord(res.paths) ? res.paths : {};
  const item = paths[template];
  const resItem = resPaths[template];
  const m = method.toLowerCase();
  if (!isRecord(item) || !isRecord(item[m]) || !isRecord(resItem) || !isRecord(resItem[m]))
    throw new OperationError(`no operation ${method} ${template}`);
  const op = item[m];
  const resOp = resItem[m];
  const where = `${method} ${template}`;

  const byKey = new Map<string, ParamSpec & { schema: unknown }>();
  for (const list of [item.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const p = paramSpec(req, raw, where);
      if (p.in === 'header' && IGNORED_HEADERS.has(p.key)) continue;
      byKey.set(`${p.in}:${p.key}`, p);
    }
  }
  const locations = {} as Record<ParamLocation, LocationCheck>;
  for (const location of ['path', 'query', 'header', 'cookie'] as const) {
    const params = [...byKey.values()].filter((p) => p.in === location);
    const properties: Json = {};
    const required: string[] = [];
    for (const p of params) {
      properties[p.key] = p.schema;
      if (p.required) required.push(p.key);
    }
    const schema: Json = { type: 'object', properties };
    if (required.length > 0) schema.required = required;
    locations[location] = {
      params: params.map(({ schema: _schema, ...rest }) => rest),
      validate: ajv.params.compile(schema),
    };
  }
  for (const name of template.matchAll(/\{([^}]+)\}/g)) {
    if (!locations.path.params.some((p) => p.name === name[1]))
      throw new OperationError(`${where}: path parameter ${name[1]} is not declared`);
  }

  let body: OperationContract['body'];
  const rb = deref(req, REQUEST_BASE, op.requestBody);
  if (isRecord(rb)) {
    const media = mediaChecks(ajv, rb.content, REQUEST_BASE, true);
    if (media.size === 0) throw new OperationError(`${where}: requestBody without content`);
    body = { required: rb.required === true, media };
  }

  const responses = new Map<string, ResponseCheck>();
  const given = isRecord(resOp.responses) ? resOp.responses : {};
  for (const [status, raw] of Object.entries(given)) {
    if (!/^(?:[1-5](?:[0-9]{2}|XX)|default)$/i.test(status)) continue;
    const r = deref(res, RESPONSE_BASE, raw);
    if (!isRecord(r)) continue;
    responses.set(status.toUpperCase() === 'DEFAULT' ? 'default' : status.toUpperCase(), {
      content: isRecord(r.content) ? mediaChecks(ajv, r.content, RESPONSE_BASE, false) : undefined,
    });
  }
  const id = typeof op.operationId === 'string' ? op.operationId : where;
  return { id, method, template, locations, body, responses };
}

/**
 * The declared media type a Content-Type matches: exactly, then `type/*`, then `*\/*`.
 */
export function matchMedia<T>(media: ReadonlyMap<string, T>, contentType: string): T | undefined {
  const exact = media.get(contentType);
  if (exact !== undefined) return exact;
  const slash = contentType.indexOf('/');
  if (slash > 0) {
    const range = media.get(`${contentType.slice(0, slash)}/*`);
    if (range !== undefined) return range;
  }
  return media.get('*/*');
}
