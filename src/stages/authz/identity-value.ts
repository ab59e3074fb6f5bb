import type { IdentityValueConfig } from '../../config/authz-schema.js';
import type { Identity } from '../../gateway/stage.js';

/** Reads one part of the caller's identity; undefined when the identity does not have it. */
export type IdentityReader = (identity: Identity) => string | undefined;

/**
 * What an ownership rule compares the request with: the consumer's id, a verified claim or a
 * metadata attribute. Only a string counts: a claim that is a number or a list is not turned
 * into text (`123` and `"123"`, `["a"]` and `"a"` would otherwise match), and a claim or
 * attribute inherited from Object.prototype (`constructor`) is not the identity's.
 */
export function identityReader(cfg: IdentityValueConfig): IdentityReader {
  if ('consumer' in cfg) return (identity) => identity.consumerId;
  if ('claim' in cfg) {
    const name = cfg.claim;
    return (identity) => {
      const claims = identity.claims;
      if (claims === undefined || !Object.hasOwn(claims, name)) return undefined;
      const v = claims[name];
      return typeof v === 'string' ? v : undefined;
    };
  }
  const key = cfg.metadata;
  return (identity) => {
    const metadata = identity.metadata;
    if (!Object.hasOwn(metadata, key)) return undefined;
    const v = metadata[key];
    return typeof v === 'string' ? v : undefined;
  };
}

/** `consumer`, `claim:sub`, `metadata:tenant`: how events name the identity value. */
export function identityLabel(cfg: IdentityValueConfig): string {
  if ('consumer' in cfg) return 'consumer';
  if ('claim' in cfg) return `claim:${cfg.claim}`;
  return `metadata:${cfg.metadata}`;
}
