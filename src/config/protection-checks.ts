import { parseOriginRule } from '../stages/cors/cors-origin.js';

type Path = readonly (string | number)[];
type Report = (path: Path, message: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/** One `cors` section: every origin an origin, and never `*` with credentials. */
function checkCors(report: Report, cors: Record<string, unknown>, at: Path): void {
  const credentials = cors.credentials === true;
  listOf(cors.origins).forEach((origin, i) => {
    if (typeof origin !== 'string') return;
    const rule = parseOriginRule(origin);
    if (typeof rule === 'string')
      report([...at, 'origins', i], `${JSON.stringify(origin)} ${rule}`);
    else if (rule.kind === 'any' && credentials)
      report(
        [...at, 'origins', i],
        "`*` with `credentials: true` would let any site read answers with the caller's cookies; list the origins",
      );
  });
}

/**
 * What the protection schemas cannot say: CORS origins that are origins, no `*` with
 * credentials, a route with CORS that accepts OPTIONS (the gateway answers its preflights)
 * and asks only for methods it has.
 */
export function checkProtection(report: Report, config: Record<string, unknown>): void {
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  if (isRecord(defaults.cors)) checkCors(report, defaults.cors, ['defaults', 'cors']);
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route)) return;
    const own = isRecord(route.cors);
    if (isRecord(route.cors)) checkCors(report, route.cors, ['routes', i, 'cors']);
    const cors = isRecord(route.cors)
      ? route.cors
      : isRecord(defaults.cors)
        ? defaults.cors
        : undefined;
    if (cors === undefined) return;
    const methods = listOf(route.methods);
    if (!methods.includes('OPTIONS'))
      report(
        ['routes', i, 'methods'],
        `must include OPTIONS: the route has CORS${own ? '' : ' (from defaults.cors)'} and the gateway answers its preflights`,
      );
    listOf(cors.methods).forEach((m, j) => {
      if (typeof m === 'string' && !methods.includes(m))
        report(
          own ? ['routes', i, 'cors', 'methods', j] : ['routes', i, 'methods'],
          `CORS method ${m} is not a method of the route`,
        );
    });
  });
}
