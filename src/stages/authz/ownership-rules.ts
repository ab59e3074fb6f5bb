import type { RouteAuthzConfig } from '../../config/authz-schema.js';
import type { Denial } from '../../gateway/problems.js';
import type { Identity, RequestContext } from '../../gateway/stage.js';
import { identityReader, type IdentityReader } from './identity-value.js';
import { objectRefused } from './refusal.js';
import {
  AMBIGUOUS,
  MISSING,
  requestReader,
  type RequestReader,
  type RequestValue,
} from './request-value.js';

type OwnershipRuleConfig = NonNullable<RouteAuthzConfig['owner']>[number];

interface CompiledRule {
  readonly rule: string;
  readonly read: RequestReader;
  readonly expected: IdentityReader;
}

/**
 * Why a value of the request and one of the identity cannot be compared, or undefined when
 * both are there: a request without the value (nothing names the object, so nothing shows it
 * is the caller's), a value sent twice, or an identity without the attribute (a consumer
 * without a tenant owns no tenant's objects). Shared by the ownership rules and the lookup.
 */
export function valueRefusal(
  identity: Identity,
  rule: string,
  value: RequestValue,
  expected: string | undefined,
  hide: boolean,
): Denial | undefined {
  if (value === MISSING)
    return objectRefused(identity, { reason: 'authz.owner.missing_value', rule }, hide);
  if (value === AMBIGUOUS)
    return objectRefused(identity, { reason: 'authz.owner.ambiguous_value', rule }, hide);
  if (expected === undefined)
    return objectRefused(
      identity,
      { reason: 'authz.owner.identity_missing', rule, object: value },
      hide,
    );
  return undefined;
}

/**
 * Declarative ownership (BOLA): every rule compares a value of the request with a value of the
 * caller's identity, exactly (case-sensitive, nothing trimmed or decoded twice). Synchronous,
 * and allocation-free when every rule holds.
 */
export class OwnershipRules {
  readonly #rules: readonly CompiledRule[];
  readonly #hide: boolean;

  constructor(rules: readonly OwnershipRuleConfig[], hide: boolean) {
    this.#hide = hide;
    this.#rules = rules.map((r, i) => ({
      rule: `owner.${r.name ?? String(i)}`,
      read: requestReader(r.value),
      expected: identityReader(r.equals),
    }));
  }

  check(ctx: RequestContext, identity: Identity): Denial | undefined {
    for (const r of this.#rules) {
      const value = r.read(ctx);
      const expected = r.expected(identity);
      const refused = valueRefusal(identity, r.rule, value, expected, this.#hide);
      if (refused !== undefined) return refused;
      if (value !== expected)
        return objectRefused(
          identity,
          { reason: 'authz.owner.mismatch', rule: r.rule, object: value as string },
          this.#hide,
        );
    }
    return undefined;
  }
}
