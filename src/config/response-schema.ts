import { Type, type Static } from '@sinclair/typebox';

/**
 * The schema of behavioural detection and automated response (docs/response.md): the
 * detectors that watch the traffic over sliding windows, the allowlist automation never blocks,
 * and the playbooks that turn a detection into an action. The defaults are set so that the
 * demo's benign load never trips a detector.
 */
const Closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description, default: {} });

const Count = (def: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 1_000_000, default: def, description });
const Ratio = (def: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 1, default: def, description });

const WindowSeconds = (def: number) =>
  Type.Integer({
    minimum: 10,
    maximum: 86_400,
    default: def,
    description: 'The sliding window, in seconds',
  });

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What the detectors report; docs/response.md says what each means. */
export const DETECTION_KINDS = [
  'brute_force.client',
  'brute_force.credential',
  'credential_stuffing.route',
  'credential_stuffing.client',
  'enumeration.consumer',
  'errors.upstream_spike',
  'probing.client',
  'credential_sharing.credential',
  'brute_force.username',
  'volume.consumer',
  'rate_limited.consumer',
  'rate_limited.client',
] as const;
export type DetectionKind = (typeof DETECTION_KINDS)[number];

const BruteForce = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(60),
    perClient: Count(30, 'Authentication failures of one client IP in the window'),
    perCredential: Count(10, 'Failures of one credential (by fingerprint) in the window'),
    perUsername: Count(
      10,
      'Logins refused by the upstream for one username (login-failures stage) in the window',
    ),
    routeMinFailures: Count(
      40,
      'Failures on one route in the window before its failure ratio is judged',
    ),
    routeRatio: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Share of failed authentications on one route that means it is under attack',
    }),
    perClientUnderAttack: Count(
      3,
      'Failures of one client IP in the window that flag it while its route is under attack',
    ),
  },
  'Brute force and credential stuffing: authentication failures',
);

const Enumeration = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(300),
    distinctRefused: Count(
      25,
      'Distinct paths (object ids) refused to one consumer (403/404) in the window',
    ),
    refusedRatio: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.5,
      description: 'Share of refused among the distinct paths the consumer asked for',
    }),
  },
  'Enumeration and BOLA probing: distinct objects refused to one consumer',
);

const UpstreamErrors = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(60),
    minErrors: Count(
      20,
      'Answers with a 5xx on one route in the window before its ratio is judged',
    ),
    ratio: Ratio(0.25, "Share of the route's answered requests that ended in a 5xx"),
  },
  "Error spikes: the share of 5xx (from the upstream, or for it) among a route's answers",
);

const Probing = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(300),
    distinctPaths: Count(
      40,
      'Distinct paths that no route declares (404 route.not_found) asked for by one client IP in the window',
    ),
  },
  'Probing of undeclared endpoints: one client IP walking through paths no route declares',
);

const RateLimited = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(300),
    refusals: Count(
      300,
      'Rate limit, quota and concurrency refusals (429) of one consumer, or of one client IP without one, in the window',
    ),
  },
  'Sustained rate limiting: a client that keeps hitting its limits instead of backing off',
);

const CredentialSharing = Section(
  {
    enabled: Type.Boolean({ default: true }),
    windowSeconds: WindowSeconds(600),
    distinctIps: Count(
      20,
      'Distinct client addresses (IPv6 by /64) one accepted credential is used from in the window',
    ),
  },
  'Credential sharing: one credential used from more client addresses than one client has',
);

const Volume = Section(
  {
    enabled: Type.Boolean({ default: true }),
    intervalSeconds: Type.Integer({
      minimum: 10,
      maximum: 3600,
      default: 60,
      description: 'The interval requests are counted per, and the baseline learned from',
    }),
    deviations: Type.Number({
      minimum: 1,
      maximum: 100,
      default: 6,
      description: 'How many spreads (standard deviations) above its mean an interval must be',
    }),
    minRequests: Count(
      300,
      'Requests of one consumer on one route in an interval below which it is never judged',
    ),
    warmupIntervals: Count(5, 'Intervals a baseline learns from before it judges'),
    smoothing: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'Weight of the newest interval in the mean and variance',
    }),
    maxTracked: Count(
      10_000,
      '(consumer, route) pairs one node counts at once; the rest are not counted',
    ),
  },
  'Scraping and volume anomalies: requests per interval of a consumer on a route, against its learned baseline',
);

const Allowlist = Section(
  {
    cidrs: Type.Array(Type.String({ format: 'cidr' }), {
      default: [],
      description: 'Client IPs and ranges that automation never blocks',
    }),
    consumers: Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$' }), {
      default: [],
      description: 'Consumers (and their credentials) that automation never blocks',
    }),
  },
  'What automation never blocks; an operator still can',
);

const Webhook = Closed(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    url: Type.String({ format: 'http-url', description: 'Where alerts are POSTed' }),
    secret: Type.String({
      minLength: 1,
      maxLength: 128,
      description:
        'The NAME of the HMAC secret in the store (portcullis secrets set), never the value',
    }),
    format: Type.Union([Type.Literal('json'), Type.Literal('slack')], { default: 'json' }),
  },
  'A receiver of alerts, signed with HMAC-SHA-256',
);

const Alerting = Section(
  {
    dedupeSeconds: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 300,
      description: 'One alert per webhook, detection kind and subject in this time',
    }),
    maxPerMinute: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 30,
      description: 'Alerts per webhook per minute across every node; the rest are dropped',
    }),
    attempts: Type.Integer({ minimum: 1, maximum: 10, default: 4 }),
    timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  },
  'Delivery of alerts to webhooks',
);

/** How long a playbook's revoke blocks a token's fingerprint unless it says: a week. */
export const REVOKE_TOKEN_SECONDS = 604_800;

const Playbook = Closed(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    kinds: Type.Array(Type.Union(DETECTION_KINDS.map((k) => Type.Literal(k))), {
      minItems: 1,
      uniqueItems: true,
      description: 'The detections this playbook answers',
    }),
    minSeverity: Type.Union(
      SEVERITIES.map((s) => Type.Literal(s)),
      { default: 'low' },
    ),
    action: Type.Union([
      Type.Literal('block'),
      Type.Literal('throttle'),
      Type.Literal('revoke'),
      Type.Literal('alert'),
    ]),
    mode: Type.Union([Type.Literal('apply'), Type.Literal('propose')], {
      default: 'apply',
      description: 'apply at once, or propose and wait for a human (block, throttle, revoke)',
    }),
    blockSeconds: Type.Integer({
      minimum: 1,
      maximum: 31_536_000,
      default: 900,
      description: 'How long a block lasts',
    }),
    throttle: Section(
      {
        limit: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10 }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
      },
      'The rate a throttled subject is held to: limit requests per windowSeconds (GCRA)',
    ),
    throttleSeconds: Type.Integer({
      minimum: 1,
      maximum: 31_536_000,
      default: 900,
      description: 'How long a throttle lasts',
    }),
    revokeTokenSeconds: Type.Integer({
      minimum: 1,
      maximum: 31_536_000,
      default: REVOKE_TOKEN_SECONDS,
      description:
        "How long a revoked token's fingerprint stays blocked (a token outlives none of it)",
    }),
  },
  'A rule: which detections, which action',
);

export const ResponseSection = Section(
  {
    enabled: Type.Boolean({ default: true }),
    bruteForce: BruteForce,
    enumeration: Enumeration,
    upstreamErrors: UpstreamErrors,
    probing: Probing,
    credentialSharing: CredentialSharing,
    volume: Volume,
    rateLimited: RateLimited,
    allowlist: Allowlist,
    playbooks: Type.Array(Playbook, { default: [] }),
    webhooks: Type.Array(Webhook, { default: [] }),
    alerting: Alerting,
    incidentWindowSeconds: Type.Integer({
      minimum: 60,
      maximum: 604_800,
      default: 3600,
      description: 'Detections about one subject within this time of its incident join it',
    }),
  },
  'Behavioural detection and automated response',
);

export type ResponseConfig = Static<typeof ResponseSection>;
export type PlaybookConfig = Static<typeof Playbook>;
export type WebhookConfig = Static<typeof Webhook>;
