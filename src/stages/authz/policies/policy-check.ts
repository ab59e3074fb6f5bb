import type { Logger } from 'pino';
import type { Denial } from '../../../gateway/problems.js';
import type { Identity } from '../../../gateway/stage.js';
import { forbidden } from '../refusal.js';
import { DEFAULT_DENY, type PolicyEngine, type PolicyRequest } from './policy-engine.js';

/** The request as the policy check sees it: a RequestContext is one. */
export interface PolicyCheckRequest extends PolicyRequest {
  readonly id: string;
  readonly log: Logger;
}

/**
 * Asks the Cedar policies about one request of a route with `authz.policy: true`, after its
 * function- and object-level rules have passed: the policies can only narrow. Synchronous.
 * A denial names the policies that decided (or default-deny) in the event; an evaluation error
 * denies too (fail closed) and is logged with the request id, since Cedar's message may quote
 * an attribute's value and events keep only the rule.
 */
export function checkPolicies(
  engine: PolicyEngine,
  request: PolicyCheckRequest,
  identity: Identity,
): Denial | undefined {
  const result = engine.evaluate(request, identity);
  if (result.error !== undefined) {
    request.log.warn(
      {
        requestId: request.id,
        route: request.route.name,
        policies: result.reasons,
        err: result.error,
      },
      'Cedar could not evaluate the policies: request denied',
    );
    return forbidden(identity, {
      reason: 'authz.policy.error',
      rule: result.reasons.length > 0 ? result.reasons.join(',') : 'evaluation',
      object: request.path,
    });
  }
  if (result.decision === 'allow') return undefined;
  return forbidden(identity, {
    reason: 'authz.policy.denied',
    rule: result.reasons.length > 0 ? result.reasons.join(',') : DEFAULT_DENY,
    object: request.path,
  });
}
