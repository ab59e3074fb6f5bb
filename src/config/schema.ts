import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AuthnSection, ConsumerEntry, RouteAuth } from './authn-schema.js';
import { AuthzSection, RouteAuthz } from './authz-schema.js';
import { RateLimitPolicies, RouteRateLimits } from './rate-limits-schema.js';
import { Cors, DataProtection, SecurityHeaders } from './protection-schema.js';
import { RouteContract, SpecsSection } from './contract-schema.js';
import { RouteGraphql } from './graphql-schema.js';
import { ConsumerTiersSection, RouteTierLimits } from './tier-schema.js';
import { ResponseSection } from './response-schema.js';

/**
 * The configuration schema, written once: ajv compiles it to validate `portcullis.yaml`
 * and TypeScript derives the config types from it. Every object is closed
 * (`additionalProperties: false`) so that a misspelt key is an error, not a silent default.
 */
const Closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });

/** A section that may be left out: it is then filled with its defaults. */
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description, default: {} });

const Port = Type.Integer({
  minimum: 0,
  maximum: 65535,
  description: 'TCP port; 0 picks a free one',
});
const Millis = (def: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 3_600_000, default: def, description });
const HttpUrl = Type.String({ format: 'http-url' });
const Cidr = Type.String({ format: 'cidr' });
const HeaderName = Type.String({ format: 'header-name' });

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const Method = Type.Union(HTTP_METHODS.map((m) => Type.Literal(m)));

const HttpListener = Closed(
  {
    host: Type.String({ default: '0.0.0.0', minLength: 1 }),
    port: Port,
    redirectToHttps: Type.Boolean({
      default: false,
      description: 'Answer every request with 308 to the https listener',
    }),
  },
  'Plain HTTP listener',
);

const Hsts = Closed(
  {
    maxAge: Type.Integer({ minimum: 0, default: 31_536_000 }),
    includeSubDomains: Type.Boolean({ default: true }),
    preload: Type.Boolean({ default: false }),
  },
  'Strict-Transport-Security sent on every HTTPS response',
);

const HttpsListener = Closed(
  {
    host: Type.String({ default: '0.0.0.0', minLength: 1 }),
    port: Port,
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file' }),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
      default: 'TLSv1.2',
    }),
    hsts: Type.Optional(Hsts),
    clientCa: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PEM CA bundle for client certificates: clients are asked for one, and routes with the mtls method require it',
      }),
    ),
  },
  'HTTPS listener',
);

const OpsListener = Closed(
  {
    host: Type.String({ default: '127.0.0.1', minLength: 1 }),
    port: Port,
    metrics: Type.Boolean({
      default: true,
      description: 'Serve Prometheus metrics at GET /metrics (docs/operations.md)',
    }),
  },
  'Operations listener: /healthz, /readyz and /metrics, never on the data plane',
);

const Listeners = Closed(
  {
    http: Type.Optional(HttpListener),
    https: Type.Optional(HttpsListener),
    ops: Type.Optional(OpsListener),
  },
  'Where the gateway listens',
);

const Normalization = Section(
  {
    allowEncodedSlash: Type.Boolean({ default: false }),
    allowBackslash: Type.Boolean({ default: false }),
    allowSemicolon: Type.Boolean({ default: false }),
    allowDoubleEncoding: Type.Boolean({ default: false }),
    allowTrailingDot: Type.Boolean({ default: false }),
  },
  'How request paths are canonicalized before routing; every rejection is on by default',
);

const ServerTimeouts = Section(
  {
    requestHeaders: Millis(10_000, 'Time to receive the request line and headers (slowloris)'),
    requestBody: Millis(30_000, 'Time to receive the whole request, body included'),
    keepAlive: Millis(5_000, 'Idle time before a client keep-alive connection is closed'),
    drain: Millis(30_000, 'How long SIGTERM waits for in-flight requests'),
  },
  'Client-side timeouts',
);

const Server = Section(
  {
    trustedProxies: Type.Array(Cidr, {
      default: [],
      description: 'Peers whose X-Forwarded-For / Forwarded headers are believed',
    }),
    requestIdHeader: Type.String({ format: 'header-name', default: 'x-request-id' }),
    maxHeaderBytes: Type.Integer({
      minimum: 1024,
      maximum: 1_048_576,
      default: 32_768,
      description: 'Hard cap on the size of all request headers, enforced by the HTTP parser',
    }),
    timeouts: ServerTimeouts,
    normalization: Normalization,
    allowHeaderUnderscores: Type.Boolean({
      default: false,
      description:
        'Accept underscores in header names (X_User can shadow X-User behind some servers)',
    }),
    watchConfig: Type.Boolean({ default: true, description: 'Reload when the file changes' }),
    debugHeaders: Type.Boolean({
      default: false,
      description: 'Add X-Portcullis-Reason to refusals (never in production)',
    }),
  },
  'Data-plane settings shared by every route',
);

const Logging = Section(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    access: Type.Boolean({ default: true, description: 'One JSON line per request' }),
    redactHeaders: Type.Array(HeaderName, {
      default: [],
      description: 'Credential headers to redact beyond the built-in list',
    }),
    maskSensitiveData: Type.Boolean({
      default: false,
      description: 'Mask cards, keys and tokens in every string of every log line',
    }),
  },
  'Structured JSON logs',
);

const UpstreamTls = Section(
  {
    verify: Type.Boolean({ default: true }),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle file' })),
    servername: Type.Optional(Type.String({ minLength: 1 })),
  },
  'TLS towards the upstream',
);

const UpstreamTimeouts = Section(
  {
    connect: Millis(5_000, 'TCP and TLS connect'),
    response: Millis(30_000, 'Time to the response headers'),
    body: Millis(30_000, 'Idle time between response body chunks'),
  },
  'Upstream timeouts',
);

const UpstreamQueue = Section(
  {
    size: Type.Integer({
      minimum: 0,
      maximum: 100_000,
      default: 1_000,
      description: 'Requests that may wait for a connection once maxConnections are in use',
    }),
    timeout: Millis(2_000, 'How long a request waits for a connection before 503'),
  },
  'The bounded wait for a connection to the upstream',
);

const Upstream = Closed(
  {
    targets: Type.Array(HttpUrl, { minItems: 1, description: 'Balanced round-robin' }),
    connections: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 128,
      description: 'Maximum connections per target',
    }),
    maxConnections: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description:
          'Cap on requests (connections) in flight to this upstream, all targets and routes together; default connections × targets',
      }),
    ),
    queue: UpstreamQueue,
    keepAlive: Millis(4_000, 'Idle upstream connections are closed after this'),
    timeouts: UpstreamTimeouts,
    tls: UpstreamTls,
  },
  'An upstream API',
);

/** The request size limits; `withDefaults: false` gives the per-route overrides, which must not default. */
const limitFields = (withDefaults: boolean) => {
  const d = (n: number) => (withDefaults ? { default: n } : {});
  return {
    urlBytes: Type.Integer({ minimum: 16, maximum: 65_536, ...d(8_192) }),
    headerCount: Type.Integer({ minimum: 1, maximum: 1_000, ...d(100) }),
    headerBytes: Type.Integer({ minimum: 256, maximum: 1_048_576, ...d(16_384) }),
    bodyBytes: Type.Integer({ minimum: 0, maximum: 1_073_741_824, ...d(1_048_576) }),
    jsonDepth: Type.Integer({ minimum: 1, maximum: 1_000, ...d(64) }),
    // The most of a JSON response the gateway buffers to filter it (authz read rules); a
    // larger one is refused with 502, never passed through unfiltered.
    responseFilterBytes: Type.Integer({ minimum: 1_024, maximum: 67_108_864, ...d(1_048_576) }),
  };
};

const Limits = Section(limitFields(true), 'Request size limits');

// No defaults here: a default would fill every key of a route's `limits` and silently
// override `defaults.limits` for the keys the route did not set.
const PartialLimits = Type.Partial(
  Type.Object(limitFields(false), {
    additionalProperties: false,
    description: 'Per-route overrides of defaults.limits',
  }),
);

/** A stage entry: `type` picks the stage, the other keys are checked by that stage's schema. */
const StageEntry = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    enabled: Type.Boolean({ default: true }),
    enforce: Type.Boolean({
      default: true,
      description: 'false = shadow mode: decide, record, let through',
    }),
  },
  { additionalProperties: true, description: 'A security stage of a route' },
);

const Preflight = Section(
  {
    skipStages: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Stage types that do not run for OPTIONS requests; every other stage does',
    }),
  },
  'What OPTIONS requests skip: nothing unless listed',
);

const Route = Closed(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    hosts: Type.Optional(Type.Array(Type.String({ format: 'host-pattern' }), { minItems: 1 })),
    paths: Type.Array(Type.String({ format: 'route-path' }), { minItems: 1 }),
    methods: Type.Array(Method, { minItems: 1, uniqueItems: true }),
    upstream: Type.String({ minLength: 1 }),
    auth: Type.Optional(RouteAuth),
    authz: Type.Optional(RouteAuthz),
    contract: Type.Optional(RouteContract),
    stages: Type.Optional(Type.Array(StageEntry)),
    preflight: Preflight,
    limits: Type.Optional(PartialLimits),
    rateLimits: Type.Optional(RouteRateLimits),
    dataProtection: Type.Optional(DataProtection),
    securityHeaders: Type.Optional(SecurityHeaders),
    cors: Type.Optional(Cors),
    tierLimits: Type.Optional(RouteTierLimits),
    graphql: Type.Optional(RouteGraphql),
  },
  'A route: which requests, which upstream, which stages',
);

const Defaults = Section(
  {
    limits: Limits,
    auth: Type.Optional(RouteAuth),
    authz: Type.Optional(RouteAuthz),
    rateLimits: Type.Optional(RouteRateLimits),
    contract: Type.Optional(RouteContract),
    stages: Type.Array(StageEntry, {
      default: [],
      description: 'Stages of every route that declares none',
    }),
    dataProtection: Type.Optional(DataProtection),
    securityHeaders: Type.Object(SecurityHeaders.properties, {
      additionalProperties: false,
      default: {},
      description: SecurityHeaders.description,
    }),
    cors: Type.Optional(Cors),
  },
  'What every route inherits',
);

const SqliteStore = Section(
  {
    path: Type.String({
      minLength: 1,
      default: './data/portcullis.db',
      description: 'Database file, relative to the config file',
    }),
  },
  'The embedded SQLite store (one node)',
);

const PostgresStore = Section(
  {
    url: Type.Optional(
      Type.String({ minLength: 1, description: 'postgres:// URL; usually ${DATABASE_URL}' }),
    ),
    poolSize: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  },
  'The PostgreSQL store (several nodes sharing one state)',
);

const Store = Section(
  {
    backend: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], { default: 'sqlite' }),
    sqlite: SqliteStore,
    postgres: PostgresStore,
  },
  'Where consumers, keys, events and the audit trail are kept',
);

const Cluster = Section(
  {
    redisUrl: Type.Optional(
      Type.String({ minLength: 1, description: 'redis:// URL; usually ${REDIS_URL}' }),
    ),
    keyPrefix: Type.String({ minLength: 1, maxLength: 64, default: 'pcl:' }),
  },
  'Shared fast state across nodes (Redis); in process when no URL is set',
);

const Encryption = Section(
  {
    masterKeyFile: Type.Optional(
      Type.String({ minLength: 1, description: 'File holding the base64 master key' }),
    ),
    devMode: Type.Boolean({
      default: false,
      description: 'Generate a throwaway master key when none is set (never in production)',
    }),
  },
  'Envelope encryption of secrets at rest; the master key comes from PORTCULLIS_MASTER_KEY or a file',
);

const Audit = Section(
  {
    checkpointEvery: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 1000,
      description: 'Write a signed checkpoint after this many audit entries',
    }),
    checkpointKeyFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Ed25519 private key (PEM) that signs checkpoints; kept apart from the database',
      }),
    ),
  },
  'The hash-chained audit log of admin actions and security decisions',
);

const Retention = Section(
  {
    requestDays: Type.Integer({ minimum: 0, default: 7, description: '0 keeps forever' }),
    securityDays: Type.Integer({ minimum: 0, default: 365, description: '0 keeps forever' }),
    adminDays: Type.Integer({ minimum: 0, default: 0, description: '0 keeps forever' }),
  },
  'How long each kind of event is kept',
);

const Events = Section(
  {
    queueSize: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 10_000 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 100_000, default: 500 }),
    flushIntervalMs: Type.Integer({ minimum: 1, maximum: 60_000, default: 200 }),
    recordRequests: Type.Boolean({
      default: true,
      description: 'Record an event for every allowed request; refusals are always recorded',
    }),
    onWriteFailure: Type.Union([Type.Literal('alarm'), Type.Literal('fail-closed')], {
      default: 'alarm',
      description: 'When security events cannot be written: keep serving and alarm, or refuse',
    }),
    retention: Retention,
  },
  'Recording of request and security events, off the hot path',
);

const State = Section(
  {
    store: Store,
    cluster: Cluster,
    encryption: Encryption,
    audit: Audit,
    events: Events,
  },
  'State: the store, cluster state and encryption at rest',
);

export const ConfigSchema = Closed(
  {
    listeners: Listeners,
    server: Server,
    logging: Logging,
    // additionalProperties: a Record keyed by a pattern is otherwise open to any other name.
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }), Upstream, {
      additionalProperties: false,
      description: 'Upstream APIs by name',
    }),
    defaults: Defaults,
    consumers: Type.Array(ConsumerEntry, {
      default: [],
      description: 'Consumers declared in the config; more live in the store',
    }),
    authn: AuthnSection,
    authz: AuthzSection,
    rateLimits: RateLimitPolicies,
    specs: SpecsSection,
    consumerTiers: Type.Optional(ConsumerTiersSection),
    routes: Type.Array(Route, { minItems: 1 }),
    state: State,
    response: ResponseSection,
  },
  'portcullis.yaml',
);

export type Config = Static<typeof ConfigSchema>;
export type RouteConfig = Static<typeof Route>;
export type UpstreamConfig = Static<typeof Upstream>;
export type LimitsConfig = Static<typeof Limits>;
export type StageEntryConfig = Static<typeof StageEntry>;
export type NormalizationConfig = Static<typeof Normalization>;
export type ServerConfig = Static<typeof Server>;
export type LoggingConfig = Static<typeof Logging>;
export type HttpsListenerConfig = Static<typeof HttpsListener>;
export type StateConfig = Static<typeof State>;
export type SchemaOf<T extends TSchema> = Static<T>;
