/**
 * The checks of consumer tiers the schema cannot express (docs/consumer-tiers.md): the default
 * tier and every tier a route names are declared, and no route's tier limit contradicts the
 * route's own `limits.bodyBytes` (a tier only tightens it; a larger value there says otherwise).
 */

type Seg = string | number;
type Path = readonly Seg[];

/** The part of the loader's reporter these checks use. */
export interface TierReporter {
  report(path: Path, message: string, key?: string): void;
  show(path: Path, value: string): string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/** `limits.bodyBytes` when the schema's default fills it in. */
const DEFAULT_BODY_BYTES = 1_048_576;

function routeBodyBytes(route: Record<string, unknown>, config: Record<string, unknown>): number {
  const own = isRecord(route.limits) ? route.limits.bodyBytes : undefined;
  if (typeof own === 'number') return own;
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const inherited = isRecord(defaults.limits) ? defaults.limits.bodyBytes : undefined;
  return typeof inherited === 'number' ? inherited : DEFAULT_BODY_BYTES;
}

export function checkTiers(r: TierReporter, config: Record<string, unknown>): void {
  const section = isRecord(config.consumerTiers) ? config.consumerTiers : undefined;
  const declared = new Set(
    section !== undefined && isRecord(section.tiers) ? Object.keys(section.tiers) : [],
  );
  const known = [...declared].sort().join(', ') || '(none)';
  if (section !== undefined && typeof section.default === 'string') {
    const at = ['consumerTiers', 'default'];
    if (!declared.has(section.default))
      r.report(at, `tier ${r.show(at, section.default)} is not declared; declared: ${known}`);
  }
  listOf(config.routes).forEach((route, i) => {
    if (!isRecord(route) || !isRecord(route.tierLimits)) return;
    const at: Path = ['routes', i, 'tierLimits'];
    if (section === undefined) {
      r.report(at, 'needs a consumerTiers section that declares the tiers');
      return;
    }
    const ceiling = routeBodyBytes(route, config);
    for (const [tier, limits] of Object.entries(route.tierLimits)) {
      if (!declared.has(tier)) {
        r.report(
          [...at, tier],
          `tier ${r.show([...at, tier], tier)} is not declared; declared: ${known}`,
          tier,
        );
        continue;
      }
      if (!isRecord(limits)) continue;
      for (const key of ['bodyBytes', 'uploadBytes']) {
        const value = limits[key];
        if (typeof value === 'number' && value > ceiling)
          r.report(
            [...at, tier, key],
            `${value} is above this route's limits.bodyBytes (${ceiling}): a tier only tightens the route limit; raise limits.bodyBytes or lower this`,
          );
      }
    }
  });
}
