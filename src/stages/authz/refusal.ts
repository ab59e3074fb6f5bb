import type { Denial } from '../../gateway/problems.js';
import type { Identity } from '../../gateway/stage.js';

/**
 * One text per kind of authorization refusal: which rule refused, and for which object, is for
 * the security event (its reason and details), never the response.
 */
const FORBIDDEN_DETAIL = 'The caller may not perform this operation.';
const OBJECT_DETAIL = 'The caller may not access this object.';
// The same answer for an object that is someone else's and one that does not exist.
const HIDDEN_DETAIL = 'No such object.';

/** Object ids are the client's text: an event keeps enough of one to find it, no more. */
const MAX_OBJECT_CHARS = 256;

/** Where a refusal comes from: `reason` is written at the one site that refuses. */
export interface RefusalSite {
  readonly reason: string;
  /** The rule that refused, as events name it: `scopes.allOf`, `owner.tenant`, `ownerLookup`. */
  readonly rule: string;
  /** The object id the request named, for object-level refusals. */
  readonly object?: string;
}

function audit(identity: Identity | undefined, site: RefusalSite): Denial['audit'] {
  const details: Record<string, string> = { rule: site.rule };
  if (site.object !== undefined) details.object = site.object.slice(0, MAX_OBJECT_CHARS);
  return identity === undefined
    ? { details }
    : { consumer: identity.consumerId, credential: identity.credential, details };
}

/** A function-level refusal: 403, whatever the route says about existence. */
export function forbidden(identity: Identity | undefined, site: RefusalSite): Denial {
  return {
    kind: 'forbidden',
    reason: site.reason,
    detail: FORBIDDEN_DETAIL,
    audit: audit(identity, site),
  };
}

/**
 * An object-level refusal: 403 where the caller may know the object exists, 404 where the
 * route hides existence (enumerating ids then tells an attacker nothing).
 */
export function objectRefused(identity: Identity, site: RefusalSite, hide: boolean): Denial {
  return hide
    ? {
        kind: 'not-found',
        reason: site.reason,
        detail: HIDDEN_DETAIL,
        audit: audit(identity, site),
      }
    : {
        kind: 'forbidden',
        reason: site.reason,
        detail: OBJECT_DETAIL,
        audit: audit(identity, site),
      };
}

/** The owner could not be asked: fail closed with 503, never let the request through. */
export function lookupUnavailable(identity: Identity, site: RefusalSite, cause: string): Denial {
  const base = audit(identity, site);
  return {
    kind: 'service-unavailable',
    reason: site.reason,
    detail: 'Authorization could not be decided; try again later.',
    audit: { ...base, details: { ...base?.details, cause } },
  };
}
