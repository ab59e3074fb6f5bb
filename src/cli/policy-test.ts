import type { Config, RouteConfig } from '../config/schema.js';
import { loadConfigFile } from '../config/load.js';
import type { Identity } from '../gateway/stage.js';
import {
  createPolicyEngine,
  DEFAULT_DENY,
  type PolicyDecision,
  type PolicyEngine,
} from '../stages/authz/policies/policy-engine.js';
import { STAGE_KINDS } from '../stages/registry.js';
import { reportConfigError } from './config-errors.js';
import { PolicyTestFileError, readPolicyTests, type PolicyTestCase } from './policy-test-file.js';
import { textTable } from './text-table.js';

/** Exit codes: 0 every case passed, 1 a case failed, 2 the test file or config cannot be run. */
const FAILED = 1;
const UNUSABLE = 2;

class Unusable extends Error {}

function loadEngine(configFile: string): { config: Config; engine: PolicyEngine } {
  let config: Config;
  try {
    config = loadConfigFile(configFile, { env: process.env, stageKinds: STAGE_KINDS });
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    throw new Unusable();
  }
  const files = config.authz.policies;
  if (files === undefined) {
    process.stderr.write(`${configFile}: has no authz.policies to test\n`);
    throw new Unusable();
  }
  try {
    return { config, engine: createPolicyEngine(files) };
  } catch (err) {
    if (!reportConfigError(err)) throw err;
    throw new Unusable();
  }
}

/** The path of the first pattern of the route whose parameters the case gives, filled in. */
function pathFor(route: RouteConfig, params: Readonly<Record<string, string>>): string {
  const fill = (pattern: string) =>
    pattern.replace(/:([A-Za-z0-9_]+)/g, (all, name: string) =>
      Object.hasOwn(params, name) ? (params[name] as string) : all,
    );
  const complete = route.paths.find((p) =>
    [...p.matchAll(/:([A-Za-z0-9_]+)/g)].every((m) => Object.hasOwn(params, m[1] as string)),
  );
  return fill(complete ?? route.paths[0] ?? '/');
}

/** What makes a case unrunnable against this config: said before anything runs. */
function caseProblems(config: Config, cases: readonly PolicyTestCase[], file: string): string[] {
  const problems: string[] = [];
  cases.forEach((c, i) => {
    const where = `${file} cases[${i}] (${JSON.stringify(c.name)})`;
    const route = config.routes.find((r) => r.name === c.route);
    if (route === undefined) {
      problems.push(`${where}: no route ${JSON.stringify(c.route)} in the config`);
      return;
    }
    const authz = route.authz ?? config.defaults.authz;
    if (authz?.policy !== true)
      problems.push(
        `${where}: route ${JSON.stringify(c.route)} does not ask the policies (authz.policy: true)`,
      );
    if (!(route.methods as readonly string[]).includes(c.method))
      problems.push(
        `${where}: route ${JSON.stringify(c.route)} does not accept ${c.method}; its methods: ${route.methods.join(', ')}`,
      );
    if (c.body !== undefined && authz?.policyBody !== true)
      problems.push(
        `${where}: body: route ${JSON.stringify(c.route)} does not give the body to the policies (authz.policyBody: true)`,
      );
  });
  return problems;
}

function identityOf(c: PolicyTestCase): Identity {
  const p = c.principal;
  return {
    consumerId: p.id,
    method: p.method ?? 'api-key',
    credential: 'fp:policy-test',
    scopes: p.scopes ?? [],
    roles: p.roles ?? [],
    metadata: p.metadata ?? {},
    ...(p.claims === undefined ? {} : { claims: p.claims }),
  };
}

function decidedBy(d: PolicyDecision): string {
  if (d.error !== undefined) return `error: ${d.error}`;
  if (d.reasons.length > 0) return d.reasons.join(', ');
  return d.decision === 'deny' ? DEFAULT_DENY : '-';
}

function passes(c: PolicyTestCase, d: PolicyDecision): boolean {
  // An evaluation error denies in the gateway, but it is never the decision a test expects.
  if (d.error !== undefined || d.decision !== c.expect) return false;
  if (c.policy === undefined) return true;
  if (c.policy === DEFAULT_DENY) return d.decision === 'deny' && d.reasons.length === 0;
  return d.reasons.includes(c.policy);
}

/**
 * `portcullis policy test FILE [-c portcullis.yaml]`: runs each case through the config's Cedar
 * policies (the same engine the gateway uses, and only the policies: a route's scopes, roles
 * and ownership rules are not part of it) and prints a table. Exit 0 when every case passes,
 * 1 when one fails, 2 when the file or the config cannot be run.
 */
export function runPolicyTest(file: string, configFile: string): void {
  try {
    const { config, engine } = loadEngine(configFile);
    const cases = readPolicyTests(file);
    const problems = caseProblems(config, cases, file);
    if (problems.length > 0) {
      for (const p of problems) process.stderr.write(`${p}\n`);
      throw new Unusable();
    }
    let failed = 0;
    const rows = cases.map((c) => {
      const route = config.routes.find((r) => r.name === c.route) as RouteConfig;
      const params = c.params ?? {};
      const decision = engine.evaluate(
        {
          route: { name: route.name },
          method: c.method,
          path: c.path ?? pathFor(route, params),
          params,
          body: c.body,
        },
        identityOf(c),
      );
      const ok = passes(c, decision);
      if (!ok) failed++;
      const expected = c.policy === undefined ? c.expect : `${c.expect} by ${c.policy}`;
      const got = decision.error === undefined ? decision.decision : 'deny (error)';
      return [ok ? 'PASS' : 'FAIL', c.name, expected, got, decidedBy(decision)];
    });
    process.stdout.write(textTable(['RESULT', 'CASE', 'EXPECTED', 'GOT', 'DECIDED BY'], rows));
    process.stdout.write(`${cases.length - failed} passed, ${failed} failed\n`);
    process.exitCode = failed > 0 ? FAILED : 0;
  } catch (err) {
    if (err instanceof PolicyTestFileError) {
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      process.exitCode = UNUSABLE;
      return;
    }
    if (err instanceof Unusable) {
      process.exitCode = UNUSABLE;
      return;
    }
    throw err;
  }
}
