import type { Logger } from 'pino';
import type { Denial } from '../../../gateway/problems.js';
import { isJsonMediaType } from '../../../gateway/body-guard.js';
import { bodyReadRefusal } from '../../../gateway/request-body.js';
import type { Identity, RequestContext } from '../../../gateway/stage.js';
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

/** The policies as one route asks them: synchronous unless the route reads the body. */
export interface RoutePolicies {
  check(ctx: RequestContext, identity: Identity): Denial | undefined | Promise<Denial | undefined>;
}

function bodySent(ctx: RequestContext): boolean {
  const h = ctx.headers;
  return h['transfer-encoding'] !== undefined || Number(h['content-length'] ?? 0) > 0;
}

/** A body the policies cannot read: 400, with the event of an authorization refusal. */
function bodyRejected(refusal: Denial, detail: string): Denial {
  return { ...refusal, kind: 'body-rejected', detail };
}

/**
 * The policies of one route. With `policyBody: true` the JSON body is read (once, shared with
 * the other stages) and its declared fields become `resource.body`. A body that is sent but not
 * declared JSON is refused: a form or text body could carry the fields where no policy sees
 * them while the upstream still reads them.
 */
export function routePolicies(engine: PolicyEngine, readBody: boolean): RoutePolicies {
  if (!readBody) return { check: (ctx, identity) => checkPolicies(engine, ctx, identity) };
  return {
    check(ctx, identity) {
      if (!bodySent(ctx)) return checkPolicies(engine, ctx, identity);
      if (!isJsonMediaType(ctx.headers['content-type']))
        return bodyRejected(
          forbidden(identity, { reason: 'authz.policy.body_not_json', rule: 'policyBody' }),
          'The request body must be JSON.',
        );
      return ctx.readJsonBody().then(
        (body) =>
          // Policies see an object's fields: an array (a JSON Patch, a batch) or a bare value
          // would reach the upstream with nothing of it checked.
          body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))
            ? bodyRejected(
                forbidden(identity, { reason: 'authz.policy.body_not_object', rule: 'policyBody' }),
                'The request body must be a JSON object.',
              )
            : checkPolicies(
                engine,
                {
                  id: ctx.id,
                  log: ctx.log,
                  route: ctx.route,
                  method: ctx.method,
                  path: ctx.path,
                  params: ctx.params,
                  body,
                },
                identity,
              ),
        (err: unknown) =>
          bodyReadRefusal(
            err,
            bodyRejected(
              forbidden(identity, { reason: 'authz.policy.body_malformed', rule: 'policyBody' }),
              'The request body is not well-formed JSON.',
            ),
          ),
      );
    },
  };
}
