import { CONSUMER_ID_PATTERN, type IssuerConfig } from '../../../config/authn-schema.js';
import type { Identity } from '../../../gateway/stage.js';
import type { ConsumerLookup, ConsumerRecord } from '../authenticator.js';
import type { JwtDefect } from './jwt-defect.js';

type Claims = Readonly<Record<string, unknown>>;

export type ClaimMappingSettings = Pick<
  IssuerConfig,
  'consumerClaim' | 'scopesClaim' | 'rolesClaim' | 'requireConsumer'
>;

/** Who a verified token says the caller is, from its claims alone. */
export interface TokenSubject {
  readonly consumerId: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
}

const CONSUMER_ID = new RegExp(CONSUMER_ID_PATTERN);
/** Scopes and roles go to the upstream in a header: no spaces, no control characters. */
const MAX_ITEM_CHARS = 128;
const MAX_ITEMS = 256;
const EMPTY: readonly string[] = Object.freeze([]);
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

function isScopeLike(s: string): boolean {
  if (s.length === 0 || s.length > MAX_ITEM_CHARS) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * A list claim: `scope` style (one string, space-separated, RFC 8693 section 4.2), `scp` style
 * (a string or a list), or any list of strings. Undefined when it is something else or holds an
 * item that could not travel in a header (CR/LF would split it: header injection upstream).
 */
function listClaim(value: unknown): readonly string[] | undefined {
  if (value === undefined) return EMPTY;
  const items =
    typeof value === 'string'
      ? value.split(' ').filter((s) => s !== '')
      : Array.isArray(value)
        ? value
        : undefined;
  if (items === undefined || items.length > MAX_ITEMS) return undefined;
  for (const item of items) if (typeof item !== 'string' || !isScopeLike(item)) return undefined;
  return Object.freeze([...new Set(items as string[])]);
}

function union(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  return Object.freeze([...new Set([...a, ...b])]);
}

/**
 * How a verified token becomes an identity: which claim names the consumer, where its scopes and
 * roles are, and what the consumer's own record (config or store) adds or forbids.
 */
export class ClaimMapping {
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
    const v = Object.hasOwn(claims, this.#settings.consumerClaim)
      ? claims[this.#settings.consumerClaim]
      : undefined;
    return typeof v === 'string' && CONSUMER_ID.test(v) ? v : undefined;
  }

  /** What the claims say; the same answer for a token every time. */
  read(claims: Claims): TokenSubject | JwtDefect {
    const { consumerClaim, scopesClaim, rolesClaim } = this.#settings;
    const raw = Object.hasOwn(claims, consumerClaim) ? claims[consumerClaim] : undefined;
    if (raw === undefined) {
      return {
        refused: true,
        reason: 'authn.jwt.consumer_missing',
        details: { claim: consumerClaim },
      };
    }
    // The id goes into headers, events and URLs: one that does not fit the consumer id
    // alphabet (`alice\r\nX-Admin: 1`, `../admin`) is refused, never cleaned up.
    if (typeof raw !== 'string' || !CONSUMER_ID.test(raw)) {
      return {
        refused: true,
        reason: 'authn.jwt.consumer_invalid',
        details: { claim: consumerClaim },
      };
    }
    const scopes = listClaim(Object.hasOwn(claims, scopesClaim) ? claims[scopesClaim] : undefined);
    if (scopes === undefined) {
      return { refused: true, reason: 'authn.jwt.scopes_invalid', details: { claim: scopesClaim } };
    }
    const roles = listClaim(Object.hasOwn(claims, rolesClaim) ? claims[rolesClaim] : undefined);
    if (roles === undefined) {
      return { refused: true, reason: 'authn.jwt.roles_invalid', details: { claim: rolesClaim } };
    }
    return { consumerId: raw, scopes, roles };
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
    if (record?.disabled === true) {
      return { refused: true, reason: 'authn.jwt.consumer_disabled' };
    }
    if (record === undefined && this.#settings.requireConsumer) {
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
