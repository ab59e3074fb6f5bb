import { FAMILIES, RULE_IDS, type RuleId } from './rule-catalogue.js';

/** One exclusion as configured: rules (ids or `detect.<family>`) silenced at some locations. */
export interface ExclusionSettings {
  readonly rules: readonly string[];
  /** Locations (`query.q`, `body./comment`, `header.user-agent`), `*` at the end for a prefix; none = the whole route. */
  readonly locations?: readonly string[];
}

/** Every name an exclusion may give: a rule id, a family (`detect.sqli`), or `*`. */
export const EXCLUDABLE: readonly string[] = [
  '*',
  ...FAMILIES.map((f) => `detect.${f}`),
  ...RULE_IDS,
];

function locationMatcher(patterns: readonly string[] | undefined): (location: string) => boolean {
  if (patterns === undefined || patterns.length === 0) return () => true;
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (location) => exact.has(location) || prefixes.some((p) => location.startsWith(p));
}

function ruleMatcher(names: readonly string[]): (rule: RuleId) => boolean {
  if (names.includes('*')) return () => true;
  const exact = new Set(names);
  const families = names
    .filter((n) => !n.slice('detect.'.length).includes('.'))
    .map((n) => `${n}.`);
  return (rule) => exact.has(rule) || families.some((f) => rule.startsWith(f));
}

/** Compiles a route's exclusions, once at load, into one test. */
export function compileExclusions(
  list: readonly ExclusionSettings[],
): (rule: RuleId, location: string) => boolean {
  if (list.length === 0) return () => false;
  const compiled = list.map((e) => ({
    rule: ruleMatcher(e.rules),
    location: locationMatcher(e.locations),
  }));
  return (rule, location) => compiled.some((e) => e.rule(rule) && e.location(location));
}
