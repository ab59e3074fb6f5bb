import { timingSafeEqual } from 'node:crypto';
import type { ApiKeysConfig, RouteAuthConfig } from '../../../config/authn-schema.js';
import type { Denial, DenialAudit } from '../../../gateway/problems.js';
import { requestHeader, type RequestContext } from '../../../gateway/stage.js';
import { fingerprint } from '../../../state/audit/fingerprint.js';
import type { AuthnDeps, AuthOutcome, Authenticator, Presented } from '../authenticator.js';
import { unauthenticated } from '../refusal.js';
import { parseApiKey } from './api-key-format.js';
import type { StoredApiKey } from '../../../state/consumers/api-key-store.js';
import type { ApiKeyLookup } from './api-key-index.js';

export interface ApiKeyAuthenticatorDeps extends AuthnDeps {
  /** The keys, answered from memory: an ApiKeyIndex opened at gateway start. */
  readonly keys: ApiKeyLookup;
}

const SCHEME = 'ApiKey';
/** `where` of a credential found in several places at once: the places joined with `+`. */
const JOIN = '+';

/** Every value of the query parameter `name` (names and values percent-decoded). */
function queryValues(query: string, name: string): string[] {
  const values: string[] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (decoded(eq === -1 ? part : part.slice(0, eq)) !== name) continue;
    values.push(eq === -1 ? '' : decoded(part.slice(eq + 1)));
  }
  return values;
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    // A malformed escape stays as sent: it cannot spell a name, and as a value it fails parsing.
    return raw;
  }
}

/**
 * The `api-key` method: keys the gateway issued (api-key-format.ts), checked against the
 * in-memory index of their keyed hashes. Synchronous: a request never waits on the store.
 *
 * Where a key is read: `Authorization: ApiKey <key>` when `authorization` is in
 * `settings.headers` (another Authorization scheme is not this method's credential), every other
 * header of `settings.headers` (`X-API-Key: <key>`), and the query parameter
 * `settings.queryParam`. A key in the query string is found on every route, so that a route that
 * does not allow it refuses it (`authn.api_key.in_query`) rather than ignoring it: the key is in
 * logs and browser histories by now, and its owner should hear of it.
 */
export function createApiKeyAuthenticator(
  settings: ApiKeysConfig,
  deps: ApiKeyAuthenticatorDeps,
): Authenticator {
  const headers = settings.headers.map((h) => h.toLowerCase());
  const readsAuthorization = headers.includes('authorization');
  const plainHeaders = headers.filter((h) => h !== 'authorization');
  const { keys, consumers, clock } = deps;

  const refused = (denial: Denial): AuthOutcome => ({ ok: false, denial });

  function find(ctx: RequestContext): Presented | undefined {
    const found: Presented[] = [];
    if (readsAuthorization) {
      const v = requestHeader(ctx, 'authorization');
      if (typeof v === 'string') {
        const space = v.indexOf(' ');
        const scheme = space === -1 ? v : v.slice(0, space);
        // RFC 7235: the scheme is case-insensitive. Exactly one space separates it from the key;
        // anything else stays in the value and fails the key's alphabet.
        if (scheme.toLowerCase() === 'apikey') {
          found.push({ value: space === -1 ? '' : v.slice(space + 1), where: 'authorization' });
        }
      }
    }
    for (const h of plainHeaders) {
      const v = requestHeader(ctx, h);
      if (v === undefined) continue;
      // Node joins a repeated header with ", ": the comma marks the ambiguity that
      // `authenticate` refuses. (An array only comes from a header Node keeps apart.)
      found.push({ value: Array.isArray(v) ? v.join(', ') : v, where: h });
    }
    if (ctx.query !== '') {
      const values = queryValues(ctx.query, settings.queryParam);
      if (values.length > 0) found.push({ value: values.join(', '), where: 'query' });
    }
    if (found.length <= 1) return found[0];
    return {
      value: found.map((f) => f.value).join(', '),
      where: found.map((f) => f.where).join(JOIN),
    };
  }

  function authenticate(
    presented: Presented,
    _ctx: RequestContext,
    route: RouteAuthConfig,
  ): AuthOutcome {
    const { value, where } = presented;
    // One place is the rule: only a credential found in several has its places joined.
    const places = where.includes(JOIN) ? where.split(JOIN) : undefined;
    const inQuery = places === undefined ? where === 'query' : places.includes('query');
    if (inQuery && !route.allowQueryKey) {
      return refused(
        unauthenticated('authn.api_key.in_query', SCHEME, { credential: fingerprint(value) }),
      );
    }
    // Two keys (a repeated header, a header and the query string, two headers): reading one
    // and ignoring the other would let a proxy and the gateway disagree on who is calling.
    if (places !== undefined || value.includes(',')) {
      return refused(
        unauthenticated('authn.api_key.ambiguous', SCHEME, {
          credential: fingerprint(value),
          details: { where },
        }),
      );
    }
    const key = keys.recall(value) ?? match(value);
    if (!('id' in key)) return key;
    if (key.environment !== settings.environment) {
      // Checked on the record too: a remembered key outlives a reload that changes the setting.
      return refused(
        unauthenticated('authn.api_key.environment', SCHEME, {
          credential: key.fingerprint,
          details: { environment: key.environment },
        }),
      );
    }
    return decide(key);
  }

  /** A key seen for the first time: parsed, then found by its HMAC (constant-time compared). */
  function match(value: string): StoredApiKey | AuthOutcome {
    // Before any lookup: a typo, a truncated paste or a guessed string never reaches the index.
    const parsed = parseApiKey(value);
    if (!parsed.ok) {
      if (parsed.problem === 'checksum') {
        return refused(
          unauthenticated('authn.api_key.checksum', SCHEME, { credential: fingerprint(value) }),
        );
      }
      return refused(
        unauthenticated('authn.api_key.malformed', SCHEME, {
          credential: fingerprint(value),
          details: { problem: parsed.problem },
        }),
      );
    }
    const digest = keys.digest(value);
    const key = keys.find(digest);
    // The map lookup is by the HMAC, which an attacker cannot steer without the server key;
    // the comparison of the digests is constant time anyway.
    if (
      key === undefined ||
      key.hash.length !== digest.length ||
      !timingSafeEqual(key.hash, digest)
    ) {
      return refused(
        unauthenticated('authn.api_key.unknown', SCHEME, { credential: fingerprint(value) }),
      );
    }
    keys.remember(value, key);
    return key;
  }

  /** What the event of a refused key says; built for a refusal only, never for an accepted key. */
  const auditOf = (key: StoredApiKey): DenialAudit => ({
    credential: key.fingerprint,
    consumer: key.consumerId,
    details: { keyId: key.id },
  });

  /** The decision on a key found in the index: its state now, and its consumer's. */
  function decide(key: StoredApiKey): AuthOutcome {
    if (key.revokedAt !== undefined || keys.revokedInCluster(key.id)) {
      return refused(unauthenticated('authn.api_key.revoked', SCHEME, auditOf(key)));
    }
    const now = clock.now();
    if (key.expiresAt !== undefined && now >= key.expiresAt) {
      return refused(unauthenticated('authn.api_key.expired', SCHEME, auditOf(key)));
    }
    // A rotated key works beside its successor until the overlap ends, then never again.
    if (key.rotatedUntil !== undefined && now >= key.rotatedUntil) {
      return refused(unauthenticated('authn.api_key.rotated', SCHEME, auditOf(key)));
    }
    const consumer = consumers.get(key.consumerId);
    if (consumer === undefined)
      return refused(unauthenticated('authn.api_key.consumer_unknown', SCHEME, auditOf(key)));
    if (consumer.disabled)
      return refused(unauthenticated('authn.api_key.consumer_disabled', SCHEME, auditOf(key)));
    return {
      ok: true,
      identity: {
        consumerId: consumer.id,
        method: 'api-key',
        credential: key.fingerprint,
        scopes: consumer.scopes,
        roles: consumer.roles,
        metadata: consumer.metadata,
      },
    };
  }

  return { method: 'api-key', challenge: SCHEME, find: (ctx) => find(ctx), authenticate };
}
