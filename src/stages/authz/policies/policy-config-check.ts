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
 * `portcullis check` of the Cedar policies (the paths of `authz.policies` already resolved and
 * readable): `policyBody` only where the route asks the policies; the policies parse and
 * validate against the schema, each problem at its line and column of the policy file or
 * schema; every route that asks the policies has its action in the schema (or every one of its
 * requests would be denied), and one that gives them the body finds `Route.body` declared.
 */
export function checkPolicyConfig(r: PolicyReporter, config: Record<string, unknown>): void {
  const defaults = isRecord(config.defaults) ? config.defaults : {};
  const routes = Array.isArray(config.routes) ? (config.routes as unknown[]) : [];
  /** The routes that ask the policies, with where their `authz` is. */
  const asking: { name: string; at: Path; body: boolean }[] = [];
  routes.forEach((route, i) => {
    if (!isRecord(route) || typeof route.name !== 'string') return;
    const own = route.authz !== undefined;
    const authz = own ? route.authz : defaults.authz;
    if (!isRecord(authz)) return;
    const at: Path = own ? ['routes', i, 'authz'] : ['defaults', 'authz'];
    if (authz.policyBody === true && authz.policy !== true)
      r.report(
        [...at, 'policyBody'],
        'gives the body to the policies, but the route does not ask them: add policy: true',
      );
    if (authz.policy === true)
      asking.push({
        name: route.name,
        at: own ? at : ['routes', i],
        body: authz.policyBody === true,
      });
  });

  const section = isRecord(config.authz) ? config.authz : {};
  const files = isRecord(section.policies) ? section.policies : {};
  if (typeof files.file !== 'string' || typeof files.schema !== 'string') return;
  const { compiled, issues } = compilePolicies({ file: files.file, schema: files.schema });
  for (const i of issues)
    r.add(new ConfigIssue(i.file, i.line, i.column, `authz.policies.${i.key}`, i.message));
  if (compiled === undefined) return;

  for (const { name, at, body } of asking) {
    const policyAt = at[0] === 'routes' && at.length === 2 ? at : [...at, 'policy'];
    if (body && compiled.shape.route.body === undefined)
      r.report(
        at.length === 2 ? at : [...at, 'policyBody'],
        'the schema declares no Route.body: no field of the body would reach the policies',
      );
    if (compiled.shape.actions.has(name)) continue;
    const why = compiled.shape.unusableActions.get(name);
    r.report(
      policyAt,
      why === undefined
        ? `route ${JSON.stringify(name)} asks the policies, but the schema declares no action ${JSON.stringify(name)}: add it to the actions of namespace Portcullis`
        : `route ${JSON.stringify(name)} asks the policies, but its action in the schema cannot be asked: ${why}`,
    );
  }
}
