import type { AuthorizationAnswer } from '@cedar-policy/cedar-wasm/nodejs';
import { ConfigError, ConfigIssue } from '../../../config/errors.js';
import type { Identity } from '../../../gateway/stage.js';
import { cedar } from './cedar.js';
import { compilePolicies, type CompiledPolicies, type PolicyFiles } from './compile-policies.js';
import { ACTION_TYPE, CONSUMER_TYPE, ROUTE_TYPE } from './entity-shape.js';
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

function engineOf(compiled: CompiledPolicies): PolicyEngine {
  const c = cedar();
  // Parsed once into Cedar's own (per-thread) cache, under names derived from the content:
  // the same files reloaded reuse the same entry rather than adding one.
  const policySetId = `portcullis-policies-${compiled.digest}`;
  const schemaName = `portcullis-schema-${compiled.digest}`;
  const policies = c.preparsePolicySet(policySetId, { staticPolicies: compiled.policies });
  const schema = c.preparseSchema(schemaName, compiled.schemaText);
  if (policies.type === 'failure' || schema.type === 'failure')
    // compilePolicies has accepted both texts: Cedar disagreeing with itself is a bug.
    throw new Error('Cedar refused policies it had validated');
  const { shape } = compiled;
  const policyIds = Object.freeze(Object.keys(compiled.policies));
  return {
    digest: compiled.digest,
    policyIds,
    evaluate(request, identity) {
      try {
        return decisionOf(
          c.statefulIsAuthorized({
            principal: { type: CONSUMER_TYPE, id: identity.consumerId },
            action: { type: ACTION_TYPE, id: request.route.name },
            resource: { type: ROUTE_TYPE, id: request.route.name },
            context: NO_CONTEXT,
            preparsedPolicySetId: policySetId,
            preparsedSchemaName: schemaName,
            // The request and the entities are checked against the schema: an attribute of
            // another type than the policies were validated for is an error, not a quiet false.
            validateRequest: true,
            entities: requestEntities(shape, request, identity),
          }),
        );
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
