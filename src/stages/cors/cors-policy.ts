import type { IncomingHttpHeaders } from 'node:http';
import type { CorsConfig } from '../../config/protection-schema.js';
import type { Denial } from '../../gateway/problems.js';
import {
  ALLOW,
  type ResponseChange,
  type ResponseVerdict,
  type Stage,
} from '../../gateway/stage.js';
import { originMatches, parseOriginRule, type OriginRule } from './cors-origin.js';

/** Request headers a browser sends without asking (CORS-safelisted), always allowed. */
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type']);
/** The most headers one preflight may ask for: more is not a browser. */
const MAX_REQUESTED_HEADERS = 64;
/** Response headers a route with gateway CORS takes from the gateway only. */
const CORS_RESPONSE_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
];
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

const ORIGIN_REFUSED: Denial = Object.freeze({
  kind: 'forbidden',
  reason: 'cors.preflight.origin_not_allowed',
  detail: 'Cross-origin requests from this origin are not allowed.',
  headers: Object.freeze({ vary: PREFLIGHT_VARY }),
});
const METHOD_REFUSED: Denial = Object.freeze({
  kind: 'forbidden',
  reason: 'cors.preflight.method_not_allowed',
  detail: 'This method is not allowed cross-origin.',
  headers: Object.freeze({ vary: PREFLIGHT_VARY }),
});
const HEADER_REFUSED: Denial = Object.freeze({
  kind: 'forbidden',
  reason: 'cors.preflight.header_not_allowed',
  detail: 'A requested header is not allowed cross-origin.',
  headers: Object.freeze({ vary: PREFLIGHT_VARY }),
});

export type PreflightAnswer =
  | { readonly ok: true; readonly headers: readonly string[] }
  | { readonly ok: false; readonly denial: Denial };

function single(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * A route's CORS policy, compiled at load: which origins, methods and headers, and whether
 * credentials go. The gateway answers preflights itself (they never reach the upstream or
 * need credentials) and sets the CORS headers of every actual response, replacing the
 * upstream's. An Origin is echoed only when it matched a rule, and `*` is never combined with
 * credentials (`portcullis check` refuses it).
 */
export class CorsPolicy {
  readonly #rules: readonly OriginRule[];
  readonly #methods: ReadonlySet<string>;
  readonly #methodList: string;
  readonly #headers: ReadonlySet<string>;
  readonly #config: CorsConfig;
  readonly #any: boolean;

  constructor(config: CorsConfig, routeMethods: readonly string[]) {
    this.#config = config;
    this.#rules = config.origins.map((o) => {
      const rule = parseOriginRule(o);
      // The loader checked every origin; this guards a config built by hand.
      if (typeof rule === 'string') throw new Error(`cors origin ${o}: ${rule}`);
      return rule;
    });
    this.#any = this.#rules.some((r) => r.kind === 'any');
    const methods = config.methods.length > 0 ? config.methods : routeMethods;
    this.#methods = new Set(methods.filter((m) => m !== 'OPTIONS'));
    this.#methodList = [...this.#methods].join(', ');
    this.#headers = new Set(config.headers.map((h) => h.toLowerCase()));
  }

  /** The Origin value when it is allowed, else undefined. */
  allowedOrigin(origin: string | undefined): string | undefined {
    if (origin === undefined || origin.length > 300) return undefined;
    return this.#rules.some((r) => originMatches(r, origin)) ? origin : undefined;
  }

  /** What Access-Control-Allow-Origin says to an allowed origin. */
  #allowOrigin(origin: string): string {
    return this.#any && !this.#config.credentials ? '*' : origin;
  }

  /** The gateway's answer to a CORS preflight, or undefined when the request is not one. */
  preflight(headers: IncomingHttpHeaders): PreflightAnswer | undefined {
    const requested = single(headers['access-control-request-method']);
    const originHeader = headers.origin;
    if (requested === undefined || originHeader === undefined) return undefined;
    const origin = this.allowedOrigin(single(originHeader));
    if (origin === undefined) return { ok: false, denial: ORIGIN_REFUSED };
    if (!this.#methods.has(requested)) return { ok: false, denial: METHOD_REFUSED };
    const asked = single(headers['access-control-request-headers']) ?? '';
    const names = asked === '' ? [] : asked.split(',').map((h) => h.trim().toLowerCase());
    if (names.length > MAX_REQUESTED_HEADERS) return { ok: false, denial: HEADER_REFUSED };
    for (const name of names) {
      if (!SAFELISTED.has(name) && !this.#headers.has(name))
        return { ok: false, denial: HEADER_REFUSED };
    }
    const out = [
      'access-control-allow-origin',
      this.#allowOrigin(origin),
      'access-control-allow-methods',
      this.#methodList,
      'access-control-max-age',
      String(this.#config.maxAge),
      'vary',
      PREFLIGHT_VARY,
    ];
    if (names.length > 0) out.push('access-control-allow-headers', names.join(', '));
    if (this.#config.credentials) out.push('access-control-allow-credentials', 'true');
    return { ok: true, headers: out };
  }

  /** The CORS headers of an actual response: the gateway's, never the upstream's. */
  responseChange(origin: string | undefined, vary: string | undefined): ResponseChange {
    const set: Record<string, string> = {};
    // Vary: Origin always, so that a cache never serves one origin's answer to another.
    set.vary =
      vary === undefined || vary.trim() === ''
        ? 'Origin'
        : vary
              .split(',')
              .map((v) => v.trim().toLowerCase())
              .some((v) => v === 'origin' || v === '*')
          ? vary
          : `${vary}, Origin`;
    const allowed = this.allowedOrigin(origin);
    if (allowed !== undefined) {
      set['access-control-allow-origin'] = this.#allowOrigin(allowed);
      if (this.#config.credentials) set['access-control-allow-credentials'] = 'true';
      if (this.#config.exposeHeaders.length > 0)
        set['access-control-expose-headers'] = this.#config.exposeHeaders.join(', ');
    }
    return { setHeaders: set, removeHeaders: CORS_RESPONSE_HEADERS };
  }
}

/** The response side of a route's CORS: a stage with no request side. */
export function corsStage(policy: CorsPolicy): Stage {
  return {
    name: 'cors',
    onRequest: () => ALLOW,
    onResponse(ctx, res): ResponseVerdict {
      const vary = res.headers.vary;
      const change = policy.responseChange(
        single(ctx.headers.origin),
        Array.isArray(vary) ? vary.join(', ') : vary,
      );
      return { continue: true, change };
    },
  };
}
