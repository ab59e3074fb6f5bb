import type { RouteAuthzConfig } from '../../config/authz-schema.js';
import type { Denial } from '../../gateway/problems.js';
import { bodyReadRefusal } from '../../gateway/request-body.js';
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
 * The refusal of a rule whose value is in a body that could not be read: a broken limit keeps
 * the guard's reason, malformed JSON (a duplicate member included) is this one.
 */
export function bodyRefused(err: unknown, identity: Identity, rule: string): Denial {
  return bodyReadRefusal(err, {
    kind: 'body-rejected',
    reason: 'authz.owner.body_malformed',
    detail: 'The request body is not valid JSON.',
    audit: { consumer: identity.consumerId, credential: identity.credential, details: { rule } },
  });
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
 * and allocation-free when every rule holds, unless a rule reads the JSON body.
 */
export class OwnershipRules {
  readonly #rules: readonly CompiledRule[];
  readonly #hide: boolean;
  readonly #readsBody: boolean;

  constructor(rules: readonly OwnershipRuleConfig[], hide: boolean) {
    this.#hide = hide;
    this.#readsBody = rules.some((r) => 'body' in r.value);
    this.#rules = rules.map((r, i) => ({
      rule: `owner.${r.name ?? String(i)}`,
      read: requestReader(r.value),
      expected: identityReader(r.equals),
    }));
  }

  check(ctx: RequestContext, identity: Identity): Denial | undefined | Promise<Denial | undefined> {
    if (this.#readsBody) return this.#checkWithBody(ctx, identity);
    for (const r of this.#rules) {
      const refused = this.#compare(identity, r, r.read(ctx) as RequestValue);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  async #checkWithBody(ctx: RequestContext, identity: Identity): Promise<Denial | undefined> {
    for (const r of this.#rules) {
      let value: RequestValue;
      try {
        value = await r.read(ctx);
      } catch (err) {
        return bodyRefused(err, identity, r.rule);
      }
      const refused = this.#compare(identity, r, value);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  #compare(identity: Identity, r: CompiledRule, value: RequestValue): Denial | undefined {
    const expected = r.expected(identity);
    const refused = valueRefusal(identity, r.rule, value, expected, this.#hide);
    if (refused !== undefined) return refused;
    if (value !== expected)
      return objectRefused(
        identity,
        { reason: 'authz.owner.mismatch', rule: r.rule, object: value as string },
        this.#hide,
      );
    return undefined;
  }
}
