import { ConfigIssue } from '../../../config/errors.js';
import { compilePolicies } from './compile-policies.js';

type Path = readonly (string | number)[];

/** The part of the config loader's reporter this check uses. */
export interface PolicyReporter {
  /** A problem at a node of the config file. */
  report(path: Path, message: string): void;
  /** A problem at a line and column of another file (the policies, the schema). */
  add(issue: ConfigIssue): void;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `portcullis check` of `authz.policies` (both paths already resolved and readable): the
 * policies parse and validate against the schema, each problem at its line and column of the
 * policy file or schema; and every route that asks the policies has its action in the schema,
 * or every one of its requests would be denied.
 */
export function checkPolicyConfig(r: PolicyReporter, config: Record<string, unknown>): void {
  const section = isRecord(config.authz) ? config.authz : {};
  const files = isRecord(section.policies) ? section.policies : {};
  if (typeof files.file !== 'string' || typeof files.schema !== 'string') return;
  const { compiled, issues } = compilePolicies({ file: files.file, schema: files.schema });
  for (const i of issues)
    r.add(new ConfigIssue(i.file, i.line, i.column, `authz.policies.${i.key}`, i.message));
  if (compiled === undefined) return;

  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const routes = Array.isArray(config.routes) ? (config.routes as unknown[]) : [];
  routes.forEach((route, i) => {
    if (!isRecord(route) || typeof route.name !== 'string') return;
    const own = route.authz !== undefined;
    const authz = own ? route.authz : defaults.authz;
    if (!isRecord(authz) || authz.policy !== true) return;
    const at: Path = own ? ['routes', i, 'authz', 'policy'] : ['routes', i];
    const name = route.name;
    if (compiled.shape.actions.has(name)) return;
    const why = compiled.shape.unusableActions.get(name);
    r.report(
      at,
      why === undefined
        ? `route ${JSON.stringify(name)} asks the policies, but the schema declares no action ${JSON.stringify(name)}: add it to the actions of namespace Portcullis`
        : `route ${JSON.stringify(name)} asks the policies, but its action in the schema cannot be asked: ${why}`,
    );
  });
}
