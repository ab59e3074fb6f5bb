import { Type, type Static } from '@sinclair/typebox';

/**
 * The schema of authorization (docs/authorization.md): what a route's `authz` says about who
 * may call it and what they may touch, and the gateway-wide `authz` section (admin role, Cedar
 * policies). Default deny: a route that takes credentials and says nothing here is refused.
 */
const Closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description, default: {} });

const Word = Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$' });
const Names = (description: string) => Type.Array(Word, { uniqueItems: true, description });

const Requirement = (what: string) =>
  Closed(
    {
      allOf: Type.Optional(Names(`Every one of these ${what} is needed`)),
      anyOf: Type.Optional(Names(`At least one of these ${what} is needed`)),
    },
    `Required ${what}`,
  );

/** Function level: who may call the operation at all. */
const FunctionRules = {
  scopes: Type.Optional(Requirement('scopes')),
  roles: Type.Optional(Requirement('roles')),
  admin: Type.Optional(
    Type.Boolean({
      description: 'An admin operation: refused to any consumer without authz.adminRole',
    }),
  ),
};

/** Where a value of the request is read: exactly one key. */
export const RequestValue = Type.Union(
  [
    Closed({ param: Type.String({ minLength: 1, maxLength: 64 }) }, 'A path parameter'),
    Closed({ query: Type.String({ minLength: 1, maxLength: 128 }) }, 'A query parameter'),
    Closed({ header: Type.String({ format: 'header-name' }) }, 'A request header'),
    Closed(
      { body: Type.String({ pattern: '^(/[^/]*)+$', maxLength: 256 }) },
      'A JSON body field, as a JSON pointer (/tenant, /owner/id)',
    ),
  ],
  { description: 'Where the value is read from the request' },
);

/** What the caller's identity says the value must be: exactly one key. */
export const IdentityValue = Type.Union(
  [
    Closed({ consumer: Type.Literal('id') }, "The consumer's id"),
    Closed({ claim: Type.String({ minLength: 1, maxLength: 64 }) }, 'A verified token claim'),
    Closed(
      { metadata: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }) },
      "One of the consumer's metadata attributes (tenant, ...)",
    ),
  ],
  { description: "Which part of the caller's identity the value must equal" },
);

const OwnershipRule = Closed(
  {
    name: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Named in events' }),
    ),
    value: RequestValue,
    equals: IdentityValue,
  },
  'The object named by `value` belongs to the caller when it equals `equals`',
);

const OwnerLookup = Closed(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    value: RequestValue,
    /** `{value}` is replaced by the percent-encoded object id. */
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Asked for the owner: {value} is replaced by the encoded object id',
    }),
    ownerField: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'owner',
      description: "The answer's JSON field holding the owner",
    }),
    equals: IdentityValue,
    cacheSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }),
    cacheEntries: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000 }),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 1_000 }),
  },
  'An object whose owner only the backend knows: asked over HTTP, answers cached',
);

const PropertyRules = Closed(
  {
    write: Type.Optional(
      Closed(
        {
          allow: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
            description:
              'Body properties any caller may set (paths: name, address.city, items[].sku)',
          }),
          byRole: Type.Optional(
            Type.Record(Word, Type.Array(Type.String({ minLength: 1, maxLength: 256 })), {
              additionalProperties: false,
              description: "More properties per role; '*' for all",
            }),
          ),
          onViolation: Type.Union([Type.Literal('refuse'), Type.Literal('strip')], {
            default: 'refuse',
          }),
          enforce: Type.Boolean({
            default: true,
            description:
              'false is shadow mode: a violation is recorded (request.denied.shadow), nothing is refused or stripped',
          }),
        },
        'Which request body properties may be written (mass assignment)',
      ),
    ),
    read: Type.Optional(
      Closed(
        {
          allow: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
            description: 'Response properties any caller may read; the rest are removed',
          }),
          byRole: Type.Optional(
            Type.Record(Word, Type.Array(Type.String({ minLength: 1, maxLength: 256 })), {
              additionalProperties: false,
              description: "More properties per role; '*' for all",
            }),
          ),
        },
        'Which response properties may be read (excessive data exposure)',
      ),
    ),
  },
  'Property level: what may be written and read, per role',
);

export const RouteAuthz = Closed(
  {
    anyAuthenticated: Type.Optional(
      Type.Boolean({ description: 'Any authenticated consumer may call: said explicitly' }),
    ),
    ...FunctionRules,
    methods: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$' }),
        Closed(FunctionRules, 'Rules for one method; they replace the route-level ones'),
        { additionalProperties: false, description: 'Per-method function-level rules' },
      ),
    ),
    owner: Type.Optional(
      Type.Array(OwnershipRule, { minItems: 1, description: 'Object level: every rule must hold' }),
    ),
    ownerLookup: Type.Optional(OwnerLookup),
    hideExistence: Type.Boolean({
      default: false,
      description:
        'Refuse an object-level denial with 404 instead of 403, so existence does not leak',
    }),
    ownerBypassRoles: Type.Optional(
      Names(
        'Roles whose holders skip the object-level rules (owner, ownerLookup): support staff, admins. The function-level rules still apply',
      ),
    ),
    properties: Type.Optional(PropertyRules),
    policy: Type.Optional(
      Type.Boolean({ description: 'Also ask the Cedar policies (authz.policies)' }),
    ),
    policyBody: Type.Optional(
      Type.Boolean({
        description:
          'Give the policies the JSON body fields their schema declares under Route.body (the body is read)',
      }),
    ),
  },
  'Authorization of a route: function, object and property level, default deny',
);

export const AuthzSection = Section(
  {
    adminRole: Type.String({ pattern: '^[\\x21-\\x7e]{1,128}$', default: 'admin' }),
    policies: Type.Optional(
      Closed(
        {
          file: Type.String({ minLength: 1, description: 'Cedar policies (.cedar)' }),
          schema: Type.String({ minLength: 1, description: 'Cedar schema (.cedarschema)' }),
        },
        'Cedar policies, validated against their schema at load',
      ),
    ),
  },
  'Authorization settings shared by every route',
);

export type RouteAuthzConfig = Static<typeof RouteAuthz>;
export type AuthzConfig = Static<typeof AuthzSection>;
export type RequestValueConfig = Static<typeof RequestValue>;
export type IdentityValueConfig = Static<typeof IdentityValue>;
