/**
 * What the user's Cedar schema says about the entities the gateway builds (docs/authorization.md,
 * "Policies"), checked against what the gateway can give them. An attribute the schema declares
 * and the gateway does not provide, or provides with another type, would make every request
 * fail to authorize; one the gateway provides and the schema does not declare would be refused
 * by Cedar's entity check. So the gateway builds exactly the attributes the schema declares, and
 * a schema that declares one it cannot build is refused at load.
 */

export const NAMESPACE = 'Portcullis';
export const CONSUMER_TYPE = `${NAMESPACE}::Consumer`;
export const ROUTE_TYPE = `${NAMESPACE}::Route`;
export const ACTION_TYPE = `${NAMESPACE}::Action`;

export type ScalarType = 'String' | 'Long' | 'Bool';

export interface ConsumerShape {
  readonly scopes: boolean;
  readonly roles: boolean;
  readonly method: boolean;
  /** Declared metadata keys; undefined when the schema declares no `metadata`. */
  readonly metadata: readonly string[] | undefined;
  readonly claims: readonly { readonly name: string; readonly type: ScalarType }[] | undefined;
}

/** A declared field of the JSON body: a scalar, or an object with declared fields of its own. */
export type BodyField =
  | { readonly name: string; readonly type: ScalarType }
  | { readonly name: string; readonly fields: readonly BodyField[] };

export interface RouteShape {
  readonly method: boolean;
  readonly path: boolean;
  readonly params: readonly string[] | undefined;
  /** The JSON body fields the schema declares; undefined when it declares no `body`. */
  readonly body: readonly BodyField[] | undefined;
}

export interface EntityShape {
  readonly consumer: ConsumerShape;
  readonly route: RouteShape;
  /** Actions that apply to a Consumer on a Route with the empty context the gateway passes. */
  readonly actions: ReadonlySet<string>;
  /** Why each other declared action of the namespace cannot be asked for. */
  readonly unusableActions: ReadonlyMap<string, string>;
}

/** A problem of the schema, and the words leading to where it is declared. */
export interface ShapeProblem {
  readonly message: string;
  readonly near: readonly string[];
}

type Normalized =
  | { readonly kind: 'scalar'; readonly type: ScalarType }
  | { readonly kind: 'set'; readonly element: Normalized }
  | { readonly kind: 'record'; readonly attributes: ReadonlyMap<string, Attribute> }
  | { readonly kind: 'other'; readonly name: string };

interface Attribute {
  readonly type: Normalized;
  readonly required: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const SCALARS: Readonly<Record<string, ScalarType>> = {
  String: 'String',
  Long: 'Long',
  Bool: 'Bool',
  Boolean: 'Bool',
  '__cedar::String': 'String',
  '__cedar::Long': 'Long',
  '__cedar::Bool': 'Bool',
};

/** Common types may refer to common types; a schema is small, so a few levels are plenty. */
const MAX_TYPE_DEPTH = 32;

function describe(t: Normalized): string {
  switch (t.kind) {
    case 'scalar':
      return t.type;
    case 'set':
      return `Set<${describe(t.element)}>`;
    case 'record':
      return 'a record';
    default:
      return t.name;
  }
}

class TypeResolver {
  constructor(private readonly common: Record<string, unknown>) {}

  resolve(t: unknown, depth = 0): Normalized {
    if (!isRecord(t) || typeof t.type !== 'string' || depth > MAX_TYPE_DEPTH)
      return { kind: 'other', name: 'an unknown type' };
    const scalar = SCALARS[t.type];
    if (scalar !== undefined) return { kind: 'scalar', type: scalar };
    if (t.type === 'Set') return { kind: 'set', element: this.resolve(t.element, depth + 1) };
    if (t.type === 'Record') {
      const attributes = new Map<string, Attribute>();
      const attrs = isRecord(t.attributes) ? t.attributes : {};
      for (const [name, a] of Object.entries(attrs)) {
        attributes.set(name, {
          type: this.resolve(a, depth + 1),
          required: !isRecord(a) || a.required !== false,
        });
      }
      return { kind: 'record', attributes };
    }
    if (t.type === 'Entity' || t.type === 'EntityOrCommon' || t.type === 'Extension') {
      const name = typeof t.name === 'string' ? t.name : t.type;
      const common = this.common[name.replace(`${NAMESPACE}::`, '')];
      if (t.type !== 'Extension' && common !== undefined) return this.resolve(common, depth + 1);
      return { kind: 'other', name };
    }
    // A common type by name, qualified by the namespace or not.
    const common = this.common[t.type.replace(`${NAMESPACE}::`, '')];
    if (common !== undefined) return this.resolve(common, depth + 1);
    return { kind: 'other', name: t.type };
  }
}

const SET_OF_STRING = 'Set<String>';

/**
 * Keys Cedar's JSON entity format reads as an escape (`{"__entity": {...}}` is an entity
 * reference, `__extn` an extension value): a record holding one would not be the record the
 * schema declares. The gateway gives Cedar entities as JSON, so such keys are refused at load.
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__entity', '__extn', '__expr']);

function reservedKey(entity: string, path: readonly string[]): ShapeProblem {
  return {
    message: `${entity} attribute "${path.join('.')}" has a name Cedar's JSON entity format reserves (__entity, __extn, __expr): rename it`,
    near: [entity, ...path],
  };
}

/** The keys of a record attribute whose values are strings; each must be optional. */
function stringRecord(
  entity: string,
  name: string,
  attr: Attribute,
  allowed: readonly ScalarType[],
  problems: ShapeProblem[],
): { readonly name: string; readonly type: ScalarType }[] | undefined {
  if (attr.type.kind !== 'record') {
    problems.push({
      message: `${entity} attribute "${name}" must be a record ({ key?: ${allowed.join(' | ')}, ... }), not ${describe(attr.type)}`,
      near: [entity, name],
    });
    return undefined;
  }
  const keys: { name: string; type: ScalarType }[] = [];
  for (const [key, a] of attr.type.attributes) {
    if (RESERVED_KEYS.has(key)) {
      problems.push(reservedKey(entity, [name, key]));
      continue;
    }
    if (a.type.kind !== 'scalar' || !allowed.includes(a.type.type)) {
      problems.push({
        message: `${entity} attribute "${name}.${key}" must be ${allowed.join(' or ')}, not ${describe(a.type)}`,
        near: [entity, name, key],
      });
      continue;
    }
    // A consumer without the key (or a route without the parameter) would make every one of
    // its requests fail the entity check: the policies must test `has` instead.
    if (a.required) {
      problems.push({
        message: `${entity} attribute "${name}.${key}" must be optional (${key}?: ${a.type.type}): not every request has it`,
        near: [entity, name, key],
      });
      continue;
    }
    keys.push({ name: key, type: a.type.type });
  }
  return keys;
}

function shapeOf(
  entity: string,
  entityTypes: Record<string, unknown>,
  resolver: TypeResolver,
  problems: ShapeProblem[],
): ReadonlyMap<string, Attribute> | undefined {
  const declared = entityTypes[entity];
  if (!isRecord(declared)) {
    problems.push({
      message: `the schema must declare entity ${NAMESPACE}::${entity} (namespace ${NAMESPACE} { entity ${entity} = { ... }; })`,
      near: [],
    });
    return undefined;
  }
  if (declared.enum !== undefined) {
    problems.push({
      message: `${NAMESPACE}::${entity} must be an entity with attributes, not an enumeration`,
      near: [entity],
    });
    return undefined;
  }
  if (declared.shape === undefined) return new Map();
  const shape = resolver.resolve(declared.shape);
  if (shape.kind !== 'record') {
    problems.push({ message: `the shape of ${entity} must be a record`, near: [entity] });
    return undefined;
  }
  return shape.attributes;
}

function unknownAttribute(entity: string, name: string, provided: string): ShapeProblem {
  return {
    message: `${entity} attribute "${name}" is not one the gateway provides (${provided})`,
    near: [entity, name],
  };
}

function expectType(
  entity: string,
  name: string,
  attr: Attribute,
  want: string,
  problems: ShapeProblem[],
): boolean {
  const got = describe(attr.type);
  if (got === want) return true;
  problems.push({
    message: `${entity} attribute "${name}" must be ${want}, not ${got}`,
    near: [entity, name],
  });
  return false;
}

function consumerShape(
  attrs: ReadonlyMap<string, Attribute>,
  problems: ShapeProblem[],
): ConsumerShape {
  let scopes = false;
  let roles = false;
  let method = false;
  let metadata: string[] | undefined;
  let claims: { name: string; type: ScalarType }[] | undefined;
  for (const [name, attr] of attrs) {
    if (name === 'scopes') scopes = expectType('Consumer', name, attr, SET_OF_STRING, problems);
    else if (name === 'roles') roles = expectType('Consumer', name, attr, SET_OF_STRING, problems);
    else if (name === 'method') method = expectType('Consumer', name, attr, 'String', problems);
    else if (name === 'metadata')
      metadata = stringRecord('Consumer', name, attr, ['String'], problems)?.map((k) => k.name);
    else if (name === 'claims')
      claims = stringRecord('Consumer', name, attr, ['String', 'Long', 'Bool'], problems);
    else
      problems.push(unknownAttribute('Consumer', name, 'scopes, roles, method, metadata, claims'));
  }
  return { scopes, roles, method, metadata, claims };
}

/**
 * `Route.body`: records of optional String, Long or Bool fields, nested as the JSON is. Every
 * field is optional: a request that lacks it, or sends it with another type, has it absent.
 */
function bodyFields(
  attr: Attribute,
  at: readonly string[],
  problems: ShapeProblem[],
  depth = 0,
): BodyField[] | undefined {
  const where = at.join('.');
  if (attr.type.kind !== 'record' || depth > MAX_TYPE_DEPTH) {
    problems.push({
      message: `Route attribute "${where}" must be a record of optional String, Long, Bool or records, not ${describe(attr.type)}`,
      near: ['Route', ...at],
    });
    return undefined;
  }
  const fields: BodyField[] = [];
  for (const [name, a] of attr.type.attributes) {
    const here = [...at, name];
    if (RESERVED_KEYS.has(name)) {
      problems.push(reservedKey('Route', here));
      continue;
    }
    if (a.required) {
      problems.push({
        message: `Route attribute "${here.join('.')}" must be optional (${name}?: ...): not every request body has it`,
        near: ['Route', ...here],
      });
      continue;
    }
    if (a.type.kind === 'scalar') fields.push({ name, type: a.type.type });
    else {
      const nested = bodyFields(a, here, problems, depth + 1);
      if (nested !== undefined) fields.push({ name, fields: nested });
    }
  }
  return fields;
}

function routeShape(attrs: ReadonlyMap<string, Attribute>, problems: ShapeProblem[]): RouteShape {
  let method = false;
  let path = false;
  let params: string[] | undefined;
  let body: BodyField[] | undefined;
  for (const [name, attr] of attrs) {
    if (name === 'method') method = expectType('Route', name, attr, 'String', problems);
    else if (name === 'path') path = expectType('Route', name, attr, 'String', problems);
    else if (name === 'params')
      params = stringRecord('Route', name, attr, ['String'], problems)?.map((k) => k.name);
    else if (name === 'body') body = bodyFields(attr, ['body'], problems);
    else problems.push(unknownAttribute('Route', name, 'method, path, params, body'));
  }
  return { method, path, params, body };
}

const isType = (name: unknown, entity: string) =>
  name === entity || name === `${NAMESPACE}::${entity}`;

/** Why the gateway cannot ask for this action, or undefined when it can. */
function actionProblem(action: unknown, resolver: TypeResolver): string | undefined {
  const applies = isRecord(action) && isRecord(action.appliesTo) ? action.appliesTo : undefined;
  if (applies === undefined)
    return 'it applies to nothing: add appliesTo { principal: Consumer, resource: Route }';
  const principals = Array.isArray(applies.principalTypes) ? applies.principalTypes : [];
  const resources = Array.isArray(applies.resourceTypes) ? applies.resourceTypes : [];
  if (!principals.some((p) => isType(p, 'Consumer')))
    return 'its principal types do not include Consumer';
  if (!resources.some((r) => isType(r, 'Route'))) return 'its resource types do not include Route';
  if (applies.context !== undefined) {
    const context = resolver.resolve(applies.context);
    if (context.kind !== 'record' || context.attributes.size > 0)
      return 'it declares a context: the gateway passes an empty one';
  }
  return undefined;
}

/**
 * Reads the `Portcullis` namespace of a schema (as schemaToJsonWithResolvedTypes gives it):
 * the attributes the gateway must build and the actions it may ask for.
 */
export function readEntityShape(schemaJson: unknown): {
  readonly shape: EntityShape | undefined;
  readonly problems: readonly ShapeProblem[];
} {
  const problems: ShapeProblem[] = [];
  const ns = isRecord(schemaJson) ? schemaJson[NAMESPACE] : undefined;
  if (!isRecord(ns)) {
    problems.push({
      message: `the schema must declare namespace ${NAMESPACE} with entities Consumer and Route and one action per route`,
      near: [],
    });
    return { shape: undefined, problems };
  }
  const resolver = new TypeResolver(isRecord(ns.commonTypes) ? ns.commonTypes : {});
  const entityTypes = isRecord(ns.entityTypes) ? ns.entityTypes : {};
  const consumerAttrs = shapeOf('Consumer', entityTypes, resolver, problems);
  const routeAttrs = shapeOf('Route', entityTypes, resolver, problems);
  const actions = new Set<string>();
  const unusableActions = new Map<string, string>();
  for (const [name, action] of Object.entries(isRecord(ns.actions) ? ns.actions : {})) {
    const problem = actionProblem(action, resolver);
    if (problem === undefined) actions.add(name);
    else unusableActions.set(name, problem);
  }
  if (consumerAttrs === undefined || routeAttrs === undefined)
    return { shape: undefined, problems };
  const shape: EntityShape = {
    consumer: consumerShape(consumerAttrs, problems),
    route: routeShape(routeAttrs, problems),
    actions,
    unusableActions,
  };
  return { shape: problems.length === 0 ? shape : undefined, problems };
}

/**
 * The shape with only the attributes some policy reads (attributesRead): what the gateway
 * builds per request. An attribute no policy reads cannot change a decision, and each one
 * costs Cedar time to parse.
 */
export function onlyRead(shape: EntityShape, read: ReadonlySet<string>): EntityShape {
  const c = shape.consumer;
  const r = shape.route;
  return {
    ...shape,
    consumer: {
      scopes: c.scopes && read.has('scopes'),
      roles: c.roles && read.has('roles'),
      method: c.method && read.has('method'),
      metadata: read.has('metadata') ? c.metadata : undefined,
      claims: read.has('claims') ? c.claims : undefined,
    },
    route: {
      method: r.method && read.has('method'),
      path: r.path && read.has('path'),
      params: read.has('params') ? r.params : undefined,
      body: read.has('body') ? r.body : undefined,
    },
  };
}
