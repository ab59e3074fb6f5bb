import type { Identity } from '../../../gateway/stage.js';
import type { ConsumerLookup, ConsumerRecord } from '../authenticator.js';
import {
  claimedConsumerId,
  consumerRefusal,
  readClaimedSubject,
  type ClaimMappingSettings,
} from '../claim-mapping.js';
import type { JwtDefect } from './jwt-defect.js';

type Claims = Readonly<Record<string, unknown>>;

/** Who a verified token says the caller is, from its claims alone. */
export interface TokenSubject {
  readonly consumerId: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
}

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

function union(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  return Object.freeze([...new Set([...a, ...b])]);
}

/**
 * How a verified token becomes an identity: which claim names the consumer, where its scopes and
 * roles are (claim-mapping.ts, shared with introspection), and what the consumer's own record
 * (config or store) adds or forbids.
 */
export class JwtClaimMapping {
  readonly #settings: ClaimMappingSettings;
  readonly #method: string;
  readonly #consumers: ConsumerLookup;

  constructor(settings: ClaimMappingSettings, method: string, consumers: ConsumerLookup) {
    this.#settings = settings;
    this.#method = method;
    this.#consumers = consumers;
  }

  /** The consumer a token names when it is a valid id, for the event of a refusal. */
  consumerIdOf(claims: Claims): string | undefined {
    return claimedConsumerId(claims, this.#settings.consumerClaim);
  }

  /** What the claims say; the same answer for a token every time. */
  read(claims: Claims): TokenSubject | JwtDefect {
    const { consumerClaim, scopesClaim, rolesClaim } = this.#settings;
    const { consumerId, consumerClaimed, scopes, roles } = readClaimedSubject(
      claims,
      this.#settings,
    );
    if (!consumerClaimed) {
      return {
        refused: true,
        reason: 'authn.jwt.consumer_missing',
        details: { claim: consumerClaim },
      };
    }
    // Refused, never cleaned up: see claimedConsumerId.
    if (consumerId === undefined) {
      return {
        refused: true,
        reason: 'authn.jwt.consumer_invalid',
        details: { claim: consumerClaim },
      };
    }
    if (scopes === undefined) {
      return { refused: true, reason: 'authn.jwt.scopes_invalid', details: { claim: scopesClaim } };
    }
    if (roles === undefined) {
      return { refused: true, reason: 'authn.jwt.roles_invalid', details: { claim: rolesClaim } };
    }
    return { consumerId, scopes, roles };
  }

  /** The consumer's record as it is now (a sync lookup in memory). */
  lookup(consumerId: string): ConsumerRecord | undefined {
    return this.#consumers.get(consumerId);
  }

  /**
   * The identity, with the consumer's record as it is now: a disabled consumer is refused
   * whatever its tokens say; with `requireConsumer`, so is one that is not declared. A declared
   * consumer adds its scopes, roles and metadata to the token's.
   */
  identity(
    subject: TokenSubject,
    claims: Claims,
    credential: string,
    record: ConsumerRecord | undefined,
  ): Identity | JwtDefect {
    const refusal = consumerRefusal(record, this.#settings.requireConsumer);
    if (refusal === 'disabled') {
      return { refused: true, reason: 'authn.jwt.consumer_disabled' };
    }
    if (refusal === 'unknown') {
      return { refused: true, reason: 'authn.jwt.consumer_unknown' };
    }
    return Object.freeze({
      consumerId: subject.consumerId,
      method: this.#method,
      credential,
      scopes: record === undefined ? subject.scopes : union(subject.scopes, record.scopes),
      roles: record === undefined ? subject.roles : union(subject.roles, record.roles),
      metadata: record?.metadata ?? NO_METADATA,
      claims,
    });
  }
}
