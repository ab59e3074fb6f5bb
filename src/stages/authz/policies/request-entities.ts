import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Identity } from '../../../gateway/stage.js';
import {
  CONSUMER_TYPE,
  ROUTE_TYPE,
  type BodyField,
  type EntityShape,
  type ScalarType,
} from './entity-shape.js';

interface BodyRecord {
  [field: string]: string | number | boolean | BodyRecord;
}
type Value =
  | string
  | number
  | boolean
  | readonly string[]
  | Record<string, string | number | boolean>
  | BodyRecord;

/** What a policy decision is asked about: the request, as the authorization stage sees it. */
export interface PolicyRequest {
  readonly route: { readonly name: string };
  readonly method: string;
  /** The canonical path. */
  readonly path: string;
  readonly params: Readonly<Record<string, string | undefined>>;
  /** The parsed JSON body, for a route with `policyBody: true`; undefined otherwise. */
  readonly body?: unknown;
}

/**
 * Plain records whose keys come from the schema: a key named `__proto__` is then an
 * attribute, not the object's prototype.
 */
function record(): Record<string, string | number | boolean> {
  return Object.create(null) as Record<string, string | number | boolean>;
}

function stringsOf(
  source: Readonly<Record<string, string | undefined>>,
  keys: readonly string[],
): Record<string, string> {
  const out = record() as Record<string, string>;
  for (const key of keys) {
    const v = Object.hasOwn(source, key) ? source[key] : undefined;
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

function typed(type: ScalarType, v: unknown): v is string | number | boolean {
  return (
    (type === 'String' && typeof v === 'string') ||
    (type === 'Bool' && typeof v === 'boolean') ||
    (type === 'Long' && typeof v === 'number' && Number.isSafeInteger(v))
  );
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The declared fields of the JSON body, each with its declared type or absent (like claims:
 * nothing converted). Only what the schema names is copied: the rest of the body, however
 * large or deep, never reaches Cedar.
 */
function bodyOf(json: unknown, fields: readonly BodyField[]): BodyRecord {
  const out = Object.create(null) as BodyRecord;
  if (!isObject(json)) return out;
  for (const field of fields) {
    if (!Object.hasOwn(json, field.name)) continue;
    const v = json[field.name];
    if ('type' in field) {
      if (typed(field.type, v)) out[field.name] = v;
    } else if (isObject(v)) out[field.name] = bodyOf(v, field.fields);
  }
  return out;
}

/**
 * A claim is given only with the type the schema declares: a Long must be an integer Cedar can
 * hold, and nothing is converted (`"5"` is not 5, `1` is not true). A claim of another type is
 * left out, as if absent, and policies test `has` before reading one.
 */
function claimsOf(
  claims: Readonly<Record<string, unknown>> | undefined,
  declared: NonNullable<EntityShape['consumer']['claims']>,
): Record<string, string | number | boolean> {
  const out = record();
  if (claims === undefined) return out;
  for (const { name, type } of declared) {
    if (!Object.hasOwn(claims, name)) continue;
    const v = claims[name];
    if (typed(type, v)) out[name] = v;
  }
  return out;
}

/**
 * The principal (`Portcullis::Consumer::"<consumer id>"`) and the resource
 * (`Portcullis::Route::"<route name>"`) of one request, with exactly the attributes of `shape`:
 * those the schema declares (docs/authorization.md, "Policies") and some policy reads. Built
 * here, from values of the declared types only, they conform to the schema by construction.
 */
export function requestEntities(
  shape: EntityShape,
  request: PolicyRequest,
  identity: Identity,
): EntityJson[] {
  const c = shape.consumer;
  const principal: Record<string, Value> = {};
  if (c.scopes) principal.scopes = identity.scopes;
  if (c.roles) principal.roles = identity.roles;
  if (c.method) principal.method = identity.method;
  if (c.metadata !== undefined) principal.metadata = stringsOf(identity.metadata, c.metadata);
  if (c.claims !== undefined) principal.claims = claimsOf(identity.claims, c.claims);

  const r = shape.route;
  const resource: Record<string, Value> = {};
  if (r.method) resource.method = request.method;
  if (r.path) resource.path = request.path;
  if (r.params !== undefined) resource.params = stringsOf(request.params, r.params);
  if (r.body !== undefined) resource.body = bodyOf(request.body, r.body);

  // The explicit `__entity` form: Cedar reads it without trying the other forms first.
  return [
    {
      uid: { __entity: { type: CONSUMER_TYPE, id: identity.consumerId } },
      attrs: principal as EntityJson['attrs'],
      parents: [],
    },
    {
      uid: { __entity: { type: ROUTE_TYPE, id: request.route.name } },
      attrs: resource as EntityJson['attrs'],
      parents: [],
    },
  ];
}
