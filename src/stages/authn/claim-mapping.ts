import { CONSUMER_ID_PATTERN, type IssuerConfig } from '../../config/authn-schema.js';
import type { ConsumerRecord } from './authenticator.js';

type Claims = Readonly<Record<string, unknown>>;

/** Where a token's claims name the consumer, its scopes and roles (`jwt` and `introspection`). */
export type ClaimMappingSettings = Pick<
  IssuerConfig,
  'consumerClaim' | 'scopesClaim' | 'rolesClaim' | 'requireConsumer'
>;

/** What the claims of a verified token (or an introspection answer) say about the caller. */
export interface ClaimedSubject {
  /** The consumer claim when it is a valid consumer id. */
  readonly consumerId: string | undefined;
  /** Whether the consumer claim is there at all (a valid id or not). */
  readonly consumerClaimed: boolean;
  /** Undefined when the claim is malformed: the token is refused, never cleaned up. */
  readonly scopes: readonly string[] | undefined;
  readonly roles: readonly string[] | undefined;
}

const CONSUMER_ID = new RegExp(CONSUMER_ID_PATTERN);
// Scopes and roles travel to the upstream in headers: visible ASCII only, as in the config.
const SCOPE = /^[\x21-\x7e]{1,128}$/;
const MAX_ITEMS = 256;
const EMPTY: readonly string[] = Object.freeze([]);

/** A claim of the token itself: never one inherited from Object.prototype (`constructor`). */
export function ownClaim(claims: Claims, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/**
 * A list claim: absent is none; `scope` style (one string, space-separated, RFC 8693 section
 * 4.2, RFC 7662 `scope`), `scp` style (a string or a list), or any list of strings. Undefined
 * when it is something else or holds an item that could not travel in a header (CR/LF would
 * split it: header injection upstream).
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
  for (const item of items) if (typeof item !== 'string' || !SCOPE.test(item)) return undefined;
  return Object.freeze([...new Set(items as string[])]);
}

/**
 * The consumer `claims` name when it is a valid consumer id. The id goes into headers, events
 * and URLs: one that does not fit the consumer id alphabet (`alice\r\nX-Admin: 1`, `../admin`)
 * is no id at all.
 */
export function claimedConsumerId(claims: Claims, consumerClaim: string): string | undefined {
  const v = ownClaim(claims, consumerClaim);
  return typeof v === 'string' && CONSUMER_ID.test(v) ? v : undefined;
}

/** Reads every claim the mapping names; each method refuses what is wrong in its own order. */
export function readClaimedSubject(claims: Claims, settings: ClaimMappingSettings): ClaimedSubject {
  return {
    consumerId: claimedConsumerId(claims, settings.consumerClaim),
    consumerClaimed: ownClaim(claims, settings.consumerClaim) !== undefined,
    scopes: listClaim(ownClaim(claims, settings.scopesClaim)),
    roles: listClaim(ownClaim(claims, settings.rolesClaim)),
  };
}

/**
 * Why the consumer's record (as it is now) refuses every token naming it: a disabled consumer
 * whatever its tokens say; with `requireConsumer`, one that is not declared. Undefined when it
 * does not.
 */
export function consumerRefusal(
  record: ConsumerRecord | undefined,
  requireConsumer: boolean,
): 'disabled' | 'unknown' | undefined {
  if (record?.disabled === true) return 'disabled';
  if (record === undefined && requireConsumer) return 'unknown';
  return undefined;
}
