import { propertyPathProblem } from './property-paths.js';

/** A malformed path of a `properties` rule: where it is below `properties`, and what is wrong. */
export interface PropertyRuleProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The malformed paths of a route's `authz.properties` (already valid against the schema), for
 * `portcullis check` to report with their line and column: the gateway would refuse them at
 * load anyway, but a config that passes `check` must also start.
 */
export function propertyRuleProblems(properties: unknown): PropertyRuleProblem[] {
  const problems: PropertyRuleProblem[] = [];
  if (!isRecord(properties)) return problems;
  const list = (paths: unknown, at: readonly (string | number)[]): void => {
    if (!Array.isArray(paths)) return;
    paths.forEach((p, i) => {
      if (typeof p !== 'string') return;
      const message = propertyPathProblem(p);
      if (message !== undefined) problems.push({ path: [...at, i], message });
    });
  };
  for (const direction of ['write', 'read'] as const) {
    const rules = properties[direction];
    if (!isRecord(rules)) continue;
    list(rules.allow, [direction, 'allow']);
    if (isRecord(rules.byRole)) {
      for (const [role, paths] of Object.entries(rules.byRole))
        list(paths, [direction, 'byRole', role]);
    }
  }
  return problems;
}
