import type { IncomingHttpHeaders } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Denial } from '../../gateway/problems.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
import {
  ALLOW,
  deny,
  requestHeader,
  type RequestContext,
  type Stage,
  type Verdict,
} from '../../gateway/stage.js';
import type { StageKind } from '../registry-types.js';
import { Detector, type Detection } from './detector.js';
import { EXCLUDABLE } from './exclusions.js';
import type { Family } from './rule-catalogue.js';
import type { RequestParts } from './request-values.js';

const part = (what: string) => Type.Boolean({ default: true, description: `Inspect ${what}` });

/** Headers that carry credentials, framing or values the gateway sets itself. */
export const DEFAULT_IGNORED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'accept-encoding',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-real-ip',
];

const Settings = Type.Object(
  {
    paranoia: Type.Integer({
      minimum: 1,
      maximum: 4,
      default: 1,
      description: 'Which rules run: those of this level and below (docs/detection.md)',
    }),
    threshold: Type.Integer({
      minimum: 1,
      maximum: 1_000,
      default: 5,
      description: 'The anomaly score at which a request is refused',
    }),
    inspect: Type.Object(
      {
        path: part('the canonical path'),
        query: part('query parameter names and values'),
        headers: part('request headers, except ignoreHeaders'),
        cookies: part('cookie values'),
        body: part('JSON body values and member names, at any depth'),
      },
      { additionalProperties: false, default: {}, description: 'Which parts are inspected' },
    ),
    ignoreHeaders: Type.Array(Type.String({ minLength: 1 }), {
      default: DEFAULT_IGNORED_HEADERS,
      description: 'Headers never inspected (credentials, framing, the gateway own)',
    }),
    exclusions: Type.Array(
      Type.Object(
        {
          rules: Type.Array(Type.Union(EXCLUDABLE.map((r) => Type.Literal(r))), {
            minItems: 1,
            description: 'Rule ids, families (`detect.sqli`) or `*`',
          }),
          locations: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description:
                '`query.q`, `body./comment`, `header.user-agent`; `*` at the end for a prefix',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { default: [], description: 'Rules silenced on this route, everywhere or at some locations' },
    ),
    inspectBytes: Type.Integer({
      minimum: 1_024,
      maximum: 16_777_216,
      default: 1_048_576,
      description: 'The most characters inspected per request; a larger request is refused',
    }),
  },
  { additionalProperties: false },
);
type Settings = Static<typeof Settings>;

const DETAIL = 'The request was refused by attack detection.';

// One refusal per family: the reason says which kind of attack scored highest.
const REFUSALS: Readonly<Record<Family, Denial>> = {
  sqli: { kind: 'attack-detected', reason: 'detect.sqli', detail: DETAIL },
  xss: { kind: 'attack-detected', reason: 'detect.xss', detail: DETAIL },
  cmdi: { kind: 'attack-detected', reason: 'detect.cmdi', detail: DETAIL },
  traversal: { kind: 'attack-detected', reason: 'detect.traversal', detail: DETAIL },
  ssrf: { kind: 'attack-detected', reason: 'detect.ssrf', detail: DETAIL },
  nosql: { kind: 'attack-detected', reason: 'detect.nosql', detail: DETAIL },
  proto: { kind: 'attack-detected', reason: 'detect.proto', detail: DETAIL },
  xxe: { kind: 'attack-detected', reason: 'detect.xxe', detail: DETAIL },
  ssti: { kind: 'attack-detected', reason: 'detect.ssti', detail: DETAIL },
  jndi: { kind: 'attack-detected', reason: 'detect.jndi', detail: DETAIL },
  crlf: { kind: 'attack-detected', reason: 'detect.crlf', detail: DETAIL },
};

/**
 * Which family names a refusal when several score the same, most specific first: a JNDI
 * lookup also holds an `ldap://` URL, an XXE entity a `file:///etc/passwd`.
 */
const SPECIFICITY: readonly Family[] = [
  'jndi',
  'xxe',
  'ssti',
  'proto',
  'nosql',
  'crlf',
  'cmdi',
  'sqli',
  'xss',
  'ssrf',
  'traversal',
];

const TOO_LARGE = deny({
  kind: 'body-too-large',
  reason: 'detect.input.too_large',
  detail: 'The request is larger than attack detection inspects.',
});

const MALFORMED: Denial = {
  kind: 'body-rejected',
  reason: 'detect.body.malformed',
  detail: 'The JSON body could not be parsed.',
};

/**
 * A location names the attacker's own parameter: printable ASCII only, and short, so that an
 * event never carries more of the request than a pointer to where the attack was.
 */
function safeLocation(location: string): string {
  const clipped = location.length > 64 ? `${location.slice(0, 64)}…` : location;
  return clipped.replace(/[^\x20-\x7e…]/g, '?');
}

function verdictOf(d: Detection, settings: Settings): Verdict {
  if (d.tooLarge) return TOO_LARGE;
  if (d.score < settings.threshold || d.findings.length === 0) return ALLOW;
  let top = d.findings[0];
  for (const f of d.findings) {
    if (top === undefined || f.score > top.score) top = f;
    else if (
      f.score === top.score &&
      SPECIFICITY.indexOf(f.family) < SPECIFICITY.indexOf(top.family)
    ) {
      top = f;
    }
  }
  if (top === undefined) return ALLOW;
  const locations = [...new Set(d.findings.map((f) => safeLocation(f.location)))].slice(0, 8);
  return deny({
    ...REFUSALS[top.family],
    audit: {
      details: {
        rules: d.findings.map((f) => f.rule).join(','),
        score: d.score,
        threshold: settings.threshold,
        paranoia: settings.paranoia,
        locations: locations.join(','),
      },
    },
  });
}

function hasBody(ctx: RequestContext): boolean {
  const length = requestHeader(ctx, 'content-length');
  return (
    (length !== undefined && length !== '0') ||
    requestHeader(ctx, 'transfer-encoding') !== undefined
  );
}

/** `headers` of the parts of a request whose lines are walked instead. */
const WALKED_BY_LINES: IncomingHttpHeaders = Object.freeze({});

/** What the detector inspects of `ctx`: its header lines when the gateway has them. */
function partsOf(ctx: RequestContext, body: unknown): RequestParts {
  const { lines } = ctx;
  return {
    path: ctx.path,
    query: ctx.query,
    // Every repeat of a header inspected, and `headers` never built.
    headers: lines === undefined ? ctx.headers : WALKED_BY_LINES,
    lines,
    body,
  };
}

/**
 * Inline attack detection (docs/detection.md): each request's decoded parts go through the
 * rule families, findings add up to an anomaly score, and a score at the threshold refuses the
 * request with 403. `enforce: false` is monitor mode: the refusal is recorded, the request goes on.
 */
export const detect: StageKind<Settings> = {
  type: 'detect',
  phase: 'detect',
  description: 'Detect attacks (SQLi, XSS, command injection, SSRF, ...) in the request',
  settings: Settings,
  create(settings): Stage {
    const detector = new Detector(settings);
    return {
      name: 'detect',
      onRequest(ctx): Verdict | Promise<Verdict> {
        if (!settings.inspect.body || !hasBody(ctx)) {
          return verdictOf(detector.inspect(partsOf(ctx, undefined)), settings);
        }
        return ctx.readJsonBody().then(
          (body) => verdictOf(detector.inspect(partsOf(ctx, body)), settings),
          (err: unknown) => deny(bodyReadRefusal(err, MALFORMED)),
        );
      },
    };
  },
};
