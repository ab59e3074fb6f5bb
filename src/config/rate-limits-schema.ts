import { Type, type Static } from '@sinclair/typebox';

/**
 * Consumption limits (docs/limits.md): named policies in the top-level `rateLimits` section,
 * applied to a route by `routes[].rateLimits` or `defaults.rateLimits`. The route key `limits`
 * is the request size limits and keeps that meaning.
 */
const Closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });

export const POLICY_NAME = '^[A-Za-z0-9_.-]{1,64}$';
const PolicyName = Type.String({ pattern: POLICY_NAME });

/** What a limit counts per: one bucket per distinct value of all its parts together. */
export const KEY_PART =
  '^(consumer|credential|ip|route|global|header:[A-Za-z0-9-]{1,64}|claim:[A-Za-z0-9_.:-]{1,64})$';

const Rate = Closed(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Units per window' }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000 }),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000_000,
        description: 'GCRA: units admitted at once from an idle key (default: limit)',
      }),
    ),
    algorithm: Type.Union([Type.Literal('gcra'), Type.Literal('sliding-window')], {
      default: 'gcra',
    }),
  },
  'A smooth rate limit',
);

const Quota = Closed(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Units per period' }),
    period: Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('month')]),
    window: Type.Union([Type.Literal('calendar'), Type.Literal('rolling')], {
      default: 'calendar',
    }),
    timeZone: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'UTC',
      description: 'IANA time zone of calendar periods',
    }),
  },
  'A quota per hour, day or month',
);

const Concurrency = Closed(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests in flight' }),
    leaseSeconds: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: 300,
      description: 'A slot a crashed node never released is freed after this long',
    }),
  },
  'A cap on requests in flight',
);

export const RateLimitPolicy = Closed(
  {
    key: Type.Array(Type.String({ pattern: KEY_PART }), { minItems: 1, uniqueItems: true }),
    rate: Type.Optional(Rate),
    quota: Type.Optional(Quota),
    concurrency: Type.Optional(Concurrency),
    backend: Type.Union([Type.Literal('local'), Type.Literal('redis')], { default: 'local' }),
    timeoutMs: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 50,
      description: 'Longest wait for Redis before onBackendFailure applies',
    }),
    onBackendFailure: Type.Union([Type.Literal('closed'), Type.Literal('open')], {
      default: 'closed',
      description: 'Redis slow or down: refuse with 503, or limit on this node alone',
    }),
    headers: Type.Boolean({
      default: true,
      description: 'Send RateLimit-Policy and RateLimit for this policy',
    }),
    enforce: Type.Boolean({
      default: true,
      description: 'false = shadow mode: decide, record, let through',
    }),
  },
  'A consumption limit: what it counts per, and one of rate, quota, concurrency',
);

export const RateLimitPolicies = Type.Record(PolicyName, RateLimitPolicy, {
  additionalProperties: false,
  default: {},
  description: 'Consumption limit policies by name',
});

export const RouteRateLimits = Closed(
  {
    policies: Type.Array(PolicyName, {
      uniqueItems: true,
      description: 'Policies that apply, all of them to every request',
    }),
    cost: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 1,
      description: 'Units one request consumes from each rate and quota policy',
    }),
  },
  'The consumption limits of a route',
);

export type RateLimitPolicyConfig = Static<typeof RateLimitPolicy>;
export type RouteRateLimitsConfig = Static<typeof RouteRateLimits>;
