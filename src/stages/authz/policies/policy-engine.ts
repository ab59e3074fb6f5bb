import type { AuthorizationAnswer, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { ConfigError, ConfigIssue } from '../../../config/errors.js';
import type { Identity } from '../../../gateway/stage.js';
import { cedar } from './cedar.js';
import { DecisionCache } from './decision-cache.js';
import { compilePolicies, type CompiledPolicies, type PolicyFiles } from './compile-policies.js';
import { ACTION_TYPE, CONSUMER_TYPE, ROUTE_TYPE, onlyRead } from './entity-shape.js';
import { requestEntities, type PolicyRequest } from './request-entities.js';

export type { PolicyRequest } from './request-entities.js';

/** How events and `portcullis policy test` name a denial no forbid decided: nothing permitted. */
export const DEFAULT_DENY = 'default-deny';

/** What the policies decided, and which of them decided it. */
export interface PolicyDecision {
  readonly decision: 'allow' | 'deny';
  /**
   * The `@id`s of the policies that decided: the permits that allowed, the forbids that denied;
   * empty when nothing permitted (default deny). On an error, the policies that failed.
   */
  readonly reasons: readonly string[];
  /** Set when Cedar could not evaluate: the decision is then deny, whatever the policies say. */
  readonly error?: string;
}

export interface PolicyEngine {
  /** Of the policy and schema texts: the same files give the same engine. */
  readonly digest: string;
  /** The ids of the policies, in no particular order. */
  readonly policyIds: readonly string[];
  /** Synchronous: Cedar runs in WebAssembly on this thread. Never throws; fails closed. */
  evaluate(request: PolicyRequest, identity: Identity): PolicyDecision;
}

export interface PolicyEngineDeps {
  /** The engine of the previous config generation: kept when the files did not change. */
  readonly previous?: PolicyEngine;
}

const NO_CONTEXT = Object.freeze({});

/**
 * Decisions kept per engine: a few per consumer, route and method when the policies read no
 * object id; many more when they do (those not used lately go first).
 */
const DECISION_CACHE_ENTRIES = 10_000;
/** A key is the request's entities as JSON: one carrying a long body field is not kept. */
const DECISION_CACHE_KEY_CHARS = 1024;

function decisionOf(answer: AuthorizationAnswer): PolicyDecision {
  if (answer.type === 'failure')
    return {
      decision: 'deny',
      reasons: [],
      error: answer.errors.map((e) => e.message).join('; ') || 'authorization failed',
    };
  const { decision, diagnostics } = answer.response;
  // Cedar skips a policy whose evaluation errors: a forbid that errors would then not forbid.
  // Any error fails closed, whatever the decision.
  if (diagnostics.errors.length > 0)
    return {
      decision: 'deny',
      reasons: diagnostics.errors.map((e) => e.policyId),
      error: diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).join('; '),
    };
  return { decision, reasons: diagnostics.reason };
}

/** What a request for one action gives Cedar besides its entities, built once per action. */
interface ActionParts {
  readonly action: { readonly __entity: { readonly type: string; readonly id: string } };
  readonly resource: { readonly __entity: { readonly type: string; readonly id: string } };
  readonly entities: readonly EntityJson[];
}

function notDeclared(action: string): PolicyDecision {
  return {
    decision: 'deny',
    reasons: [],
    error: `the schema declares no action ${JSON.stringify(action)} for a Consumer on a Route`,
  };
}

function engineOf(compiled: CompiledPolicies): PolicyEngine {
  const c = cedar();
  // Parsed once into Cedar's own (per-thread) cache, under a name derived from the content:
  // the same files reloaded reuse the same entry rather than adding one.
  const policySetId = `portcullis-policies-${compiled.digest}`;
  const policies = c.preparsePolicySet(policySetId, { staticPolicies: compiled.policies });
  if (policies.type === 'failure')
    // compilePolicies has accepted the policies: Cedar disagreeing with itself is a bug.
    throw new Error('Cedar refused policies it had validated');
  // The policies were validated against the schema at load (strict mode), and the entities are
  // built by requestEntities from declared types only: Cedar is not given the schema per
  // request, which would have it check every entity against it again (about a sixth of the
  // cost). What the schema adds to evaluation, the action groups, comes with the action.
  const shape = onlyRead(compiled.shape, compiled.attributesRead);
  const policyIds = Object.freeze(Object.keys(compiled.policies));
  const parts = new Map<string, ActionParts>();
  const decisions = new DecisionCache<PolicyDecision>(
    DECISION_CACHE_ENTRIES,
    DECISION_CACHE_KEY_CHARS,
  );
  const partsOf = (name: string): ActionParts | undefined => {
    let p = parts.get(name);
    if (p !== undefined) return p;
    const groups = compiled.actionEntities.get(name);
    // Only actions the schema declares for a Consumer on a Route: anything else would be
    // evaluated against no declaration at all.
    if (groups === undefined || !compiled.shape.actions.has(name)) return undefined;
    p = Object.freeze({
      action: Object.freeze({ __entity: Object.freeze({ type: ACTION_TYPE, id: name }) }),
      resource: Object.freeze({ __entity: Object.freeze({ type: ROUTE_TYPE, id: name }) }),
      entities: groups,
    });
    parts.set(name, p);
    return p;
  };
  return {
    digest: compiled.digest,
    policyIds,
    evaluate(request, identity) {
      try {
        const p = partsOf(request.route.name);
        if (p === undefined) return notDeclared(request.route.name);
        const entities = requestEntities(shape, request, identity);
        // The principal and the resource, with all they carry, name the whole input: the
        // action is the route (the resource's id), the context is empty.
        const key = JSON.stringify(entities);
        const known = decisions.get(key);
        if (known !== undefined) return known;
        const decision = decisionOf(
          c.statefulIsAuthorized({
            principal: { __entity: { type: CONSUMER_TYPE, id: identity.consumerId } },
            action: p.action,
            resource: p.resource,
            context: NO_CONTEXT,
            preparsedPolicySetId: policySetId,
            entities: p.entities.length === 0 ? entities : [...entities, ...p.entities],
          }),
        );
        if (decision.error === undefined)
          decisions.set(
            key,
            Object.freeze({ ...decision, reasons: Object.freeze([...decision.reasons]) }),
          );
        return decision;
      } catch (err) {
        return {
          decision: 'deny',
          reasons: [],
          error: err instanceof Error ? err.message : 'Cedar failed',
        };
      }
    },
  };
}

/**
 * The Cedar policies of one config generation (`authz.policies`, docs/authorization.md): read,
 * parsed and validated against their schema when the config loads, never per request. Throws a
 * ConfigError with each problem at its line and column of the policy file or schema. The
 * previous generation's engine is returned when both files are unchanged.
 */
export function createPolicyEngine(
  settings: PolicyFiles,
  deps: PolicyEngineDeps = {},
): PolicyEngine {
  const { compiled, issues } = compilePolicies(settings);
  if (compiled === undefined)
    throw new ConfigError(
      issues.map(
        (i) => new ConfigIssue(i.file, i.line, i.column, `authz.policies.${i.key}`, i.message),
      ),
    );
  if (deps.previous?.digest === compiled.digest) return deps.previous;
  return engineOf(compiled);
}
