import { Type, type Static } from '@sinclair/typebox';
import { DETECTOR_IDS } from '../stages/data-protection/detectors/detector.js';

/**
 * The response-protection settings of a route (and of `defaults`): sensitive-data scanning,
 * the security-header policy and CORS. See docs/data-protection.md and docs/cors.md.
 */
const HeaderName = Type.String({ format: 'header-name' });

const Action = Type.Union(
  [Type.Literal('record'), Type.Literal('mask'), Type.Literal('block'), Type.Literal('off')],
  { description: 'record: event only; mask: overwrite in place; block: refuse; off: not scanned' },
);

export const DataProtection = Type.Object(
  {
    responses: Type.Boolean({ default: true, description: 'Scan response bodies' }),
    requests: Type.Boolean({
      default: false,
      description: 'Scan JSON request bodies too (they are then read before proxying)',
    }),
    patterns: Type.Record(Type.String({ pattern: `^(?:${DETECTOR_IDS.join('|')})$` }), Action, {
      default: {},
      additionalProperties: false,
      description: 'Per-detector actions, over the built-in defaults',
    }),
    unscannable: Type.Union([Type.Literal('refuse'), Type.Literal('pass')], {
      default: 'refuse',
      description:
        'A response in a content coding the gateway cannot undo: refuse (502) or pass unscanned (recorded)',
    }),
  },
  { additionalProperties: false, description: 'Sensitive-data scanning and masking' },
);

export const SecurityHeaders = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    contentTypeOptions: Type.Boolean({
      default: true,
      description: 'X-Content-Type-Options: nosniff on every response',
    }),
    noStoreWhenAuthenticated: Type.Boolean({
      default: true,
      description: 'Cache-Control: no-store on responses to authenticated requests',
    }),
    contentSecurityPolicy: Type.String({
      format: 'header-value',
      default: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      description: 'Content-Security-Policy on HTML responses without one; empty: none',
    }),
    referrerPolicy: Type.String({
      format: 'header-value',
      default: 'no-referrer',
      description: 'Referrer-Policy on responses without one; empty: none',
    }),
    remove: Type.Array(HeaderName, {
      default: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version'],
      description: 'Response headers that reveal the upstream, removed',
    }),
  },
  { additionalProperties: false, description: 'The security-header policy of responses' },
);

export const HTTP_METHOD_NAMES = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const Cors = Type.Object(
  {
    origins: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), {
      minItems: 1,
      description:
        'Allowed origins: exact (`https://app.example.com`), one-label wildcard (`https://*.example.com`), `null` or `*`',
    }),
    methods: Type.Array(Type.Union(HTTP_METHOD_NAMES.map((m) => Type.Literal(m))), {
      default: [],
      uniqueItems: true,
      description: 'Methods a preflight may ask for; empty: the route methods',
    }),
    headers: Type.Array(HeaderName, {
      default: [],
      description: 'Request headers a preflight may ask for (CORS-safelisted ones always pass)',
    }),
    exposeHeaders: Type.Array(HeaderName, {
      default: [],
      description: 'Response headers scripts may read',
    }),
    credentials: Type.Boolean({
      default: false,
      description: 'Allow cookies and Authorization (never with `*`)',
    }),
    maxAge: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 600,
      description: 'Seconds a browser may cache a preflight answer',
    }),
  },
  {
    additionalProperties: false,
    description: 'Cross-origin resource sharing, answered by the gateway',
  },
);

export type DataProtectionConfig = Static<typeof DataProtection>;
export type SecurityHeadersConfig = Static<typeof SecurityHeaders>;
export type CorsConfig = Static<typeof Cors>;
