import type { SecurityHeadersConfig } from '../../config/protection-schema.js';
import {
  ALLOW,
  PASS,
  type ResponseVerdict,
  type Stage,
  type UpstreamResponse,
} from '../../gateway/stage.js';

function isHtml(res: UpstreamResponse): boolean {
  const v = res.headers['content-type'];
  const type = (Array.isArray(v) ? v[0] : v)?.split(';')[0]?.trim().toLowerCase();
  return type === 'text/html' || type === 'application/xhtml+xml';
}

/**
 * The security-header policy of a route's responses: X-Content-Type-Options: nosniff (a
 * browser never guesses a script out of a JSON answer), Cache-Control: no-store on what an
 * authenticated caller receives (no shared cache keeps one consumer's data for another), a
 * strict Content-Security-Policy on HTML the upstream sent without one, a Referrer-Policy,
 * and the removal of headers that advertise the upstream's software (Server, X-Powered-By).
 * It runs first on the way back, so a `response-headers` stage of the route can still set
 * its own value of any of them.
 */
export function securityHeadersStage(config: SecurityHeadersConfig): Stage | undefined {
  if (!config.enabled) return undefined;
  const remove = Object.freeze(config.remove.map((h) => h.toLowerCase()));
  return {
    name: 'security-headers',
    onRequest: () => ALLOW,
    onResponse(ctx, res): ResponseVerdict {
      const set: Record<string, string> = {};
      if (config.contentTypeOptions) set['x-content-type-options'] = 'nosniff';
      if (config.noStoreWhenAuthenticated && ctx.identity !== undefined)
        set['cache-control'] = 'no-store';
      if (config.referrerPolicy !== '' && res.headers['referrer-policy'] === undefined)
        set['referrer-policy'] = config.referrerPolicy;
      if (
        config.contentSecurityPolicy !== '' &&
        res.headers['content-security-policy'] === undefined &&
        isHtml(res)
      )
        set['content-security-policy'] = config.contentSecurityPolicy;
      if (remove.length === 0 && Object.keys(set).length === 0) return PASS;
      return { continue: true, change: { setHeaders: set, removeHeaders: remove } };
    },
  };
}
