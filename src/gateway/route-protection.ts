import type { Config, RouteConfig } from '../config/schema.js';
import { CorsPolicy, corsStage } from '../stages/cors/cors-policy.js';
import { dataProtectionStage } from '../stages/data-protection/data-protection-stage.js';
import { securityHeadersStage } from '../stages/security-headers/security-headers-stage.js';
import type { RouteStage } from './pipeline.js';

const builtIn = (stage: RouteStage['stage'], type: string): RouteStage => ({
  stage,
  type,
  enforce: true,
  skipForOptions: false,
});

/**
 * Adds a route's response protection to its stages: CORS just before authentication (its
 * response headers are then the last word on the way back), the security-header policy and
 * sensitive-data scanning at the end (first on the way back: data is masked before any other
 * response stage sees it, and a `response-headers` stage can still override a policy header).
 * A route's own `cors`, `securityHeaders` and `dataProtection` replace the defaults' whole.
 */
export function withProtection(
  stages: readonly RouteStage[],
  route: RouteConfig,
  defaults: Config['defaults'],
): { stages: RouteStage[]; cors: CorsPolicy | undefined } {
  const out = [...stages];
  const corsConfig = route.cors ?? defaults.cors;
  const cors = corsConfig === undefined ? undefined : new CorsPolicy(corsConfig, route.methods);
  if (cors !== undefined) {
    const at = out.findIndex((s) => s.type === 'authn');
    out.splice(at === -1 ? 0 : at, 0, builtIn(corsStage(cors), 'cors'));
  }
  const headers = securityHeadersStage(route.securityHeaders ?? defaults.securityHeaders);
  if (headers !== undefined) out.push(builtIn(headers, 'security-headers'));
  const data = route.dataProtection ?? defaults.dataProtection;
  if (data !== undefined) out.push(builtIn(dataProtectionStage(data), 'data-protection'));
  return { stages: out, cors };
}
