/**
 * Routes from an OpenAPI document's `security` requirements (docs/authorization.md): one route
 * per operation, whose `auth` accepts the methods its security schemes map to and whose `authz`
 * requires the scopes the requirements name. What the document says exactly, or an error: a
 * requirement the gateway cannot express is never approximated.
 */

export class OpenApiRoutesError extends Error {
  readonly code = 'PCL_OPENAPI_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'OpenApiRoutesError';
  }
}

export interface OpenApiRoutesOptions {
  /** The upstream every route goes to. */
  readonly upstream: string;
  /** The gateway auth method of each security scheme: `apiKeyAuth` to `api-key`, ... */
  readonly schemes: Readonly<Record<string, string>>;
}

/** A route as `routes[]` of the config says it. */
export interface GeneratedRoute {
  name: string;
  paths: string[];
  methods: string[];
  upstream: string;
  auth: { public: true } | { methods: string[] };
  authz?: { anyAuthenticated: true } | { scopes: { allOf: string[] } | { anyOf: string[] } };
}

const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const PARAM = /^[A-Za-z0-9_]+$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `/accounts/{accountId}` to `/accounts/:accountId`; a template the router cannot take is an error. */
function routePath(template: string): string {
  if (!template.startsWith('/')) throw new OpenApiRoutesError(`path ${template} must start with /`);
  return template
    .split('/')
    .map((segment) => {
      const m = /^\{(.+)\}$/.exec(segment);
      if (m === null) {
        if (/[{}:*]/.test(segment))
          throw new OpenApiRoutesError(`path ${template}: segment ${segment} cannot be routed`);
        return segment;
      }
      const name = m[1] as string;
      if (!PARAM.test(name))
        throw new OpenApiRoutesError(`path ${template}: parameter ${name} is not [A-Za-z0-9_]`);
      return `:${name}`;
    })
    .join('/');
}

/** The security requirements of one operation: its own, else the document's. */
function requirementsOf(op: Record<string, unknown>, doc: Record<string, unknown>, where: string) {
  const security = op.security ?? doc.security;
  // No requirement at all is an open operation by omission: never generated as public.
  if (security === undefined)
    throw new OpenApiRoutesError(
      `${where} has no security requirement (say security: [] if public)`,
    );
  if (!Array.isArray(security)) throw new OpenApiRoutesError(`${where}: security is not a list`);
  return security.map((req, i) => {
    if (!isRecord(req)) throw new OpenApiRoutesError(`${where}: security[${i}] is not an object`);
    return Object.entries(req).map(([scheme, scopes]) => {
      if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string'))
        throw new OpenApiRoutesError(`${where}: the scopes of ${scheme} are not a list of strings`);
      return { scheme, scopes: scopes };
    });
  });
}

/**
 * One operation's `auth` and `authz`. The requirements are alternatives (any one suffices), each
 * a conjunction of schemes with their scopes. The gateway checks scopes whatever the credential,
 * so the scopes of an alternative are the union of its schemes'; then: an alternative without
 * scopes means any authenticated caller; one alternative needs all of its scopes; several
 * alternatives of one scope each need any one of them; anything else is refused.
 */
function accessOf(
  requirements: { scheme: string; scopes: string[] }[][],
  schemes: Readonly<Record<string, string>>,
  where: string,
): Pick<GeneratedRoute, 'auth' | 'authz'> {
  if (requirements.length === 0) return { auth: { public: true } };
  const methods = new Set<string>();
  const alternatives: string[][] = [];
  for (const requirement of requirements) {
    if (requirement.length === 0)
      throw new OpenApiRoutesError(
        `${where}: an empty requirement ({}) makes the operation public beside its credentials; say security: [] instead`,
      );
    if (requirement.length > 1)
      throw new OpenApiRoutesError(
        `${where}: a requirement of several schemes at once (${requirement.map((r) => r.scheme).join(' and ')}) cannot be expressed: the gateway accepts one credential`,
      );
    for (const { scheme } of requirement) {
      const method = Object.hasOwn(schemes, scheme) ? schemes[scheme] : undefined;
      if (method === undefined)
        throw new OpenApiRoutesError(
          `${where}: security scheme ${scheme} has no gateway method: pass --scheme ${scheme}=<api-key|jwt:NAME|introspection:NAME|mtls>`,
        );
      methods.add(method);
    }
    alternatives.push([...new Set(requirement.flatMap((r) => r.scopes))]);
  }
  const auth = { methods: [...methods] };
  if (alternatives.some((a) => a.length === 0)) return { auth, authz: { anyAuthenticated: true } };
  if (alternatives.length === 1)
    return { auth, authz: { scopes: { allOf: alternatives[0] ?? [] } } };
  if (alternatives.every((a) => a.length === 1))
    return { auth, authz: { scopes: { anyOf: [...new Set(alternatives.flat())] } } };
  throw new OpenApiRoutesError(
    `${where}: alternatives of several scopes each cannot be expressed as allOf or anyOf; write this route by hand`,
  );
}

/** The routes of every operation of `doc` (a parsed OpenAPI 3 document), in document order. */
export function routesFromOpenApi(doc: unknown, opts: OpenApiRoutesOptions): GeneratedRoute[] {
  if (!isRecord(doc) || typeof doc.openapi !== 'string' || !doc.openapi.startsWith('3.'))
    throw new OpenApiRoutesError('not an OpenAPI 3 document');
  if (!isRecord(doc.paths)) throw new OpenApiRoutesError('the document has no paths');
  const routes: GeneratedRoute[] = [];
  const names = new Set<string>();
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!isRecord(item)) continue;
    const path = routePath(template);
    for (const method of OPERATIONS) {
      const op = item[method];
      // `x-internal: true`: for the backend's own callers (the gateway's ownership lookups),
      // never routed to clients.
      if (!isRecord(op) || op['x-internal'] === true) continue;
      const where = `${method.toUpperCase()} ${template}`;
      const id = typeof op.operationId === 'string' ? op.operationId : '';
      const name = NAME.test(id)
        ? id
        : `${method}${template.replace(/[^A-Za-z0-9_.-]+/g, '-')}`.slice(0, 64);
      if (names.has(name)) throw new OpenApiRoutesError(`${where}: route name ${name} is taken`);
      names.add(name);
      routes.push({
        name,
        paths: [path],
        methods: [method.toUpperCase()],
        upstream: opts.upstream,
        ...accessOf(requirementsOf(op, doc, where), opts.schemes, where),
      });
    }
  }
  return routes;
}
