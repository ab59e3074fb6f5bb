import type { Denial } from '../../gateway/problems.js';
import type { BlockHit } from './active-blocks.js';

/** The same words whatever was blocked: the client learns nothing about which block or why. */
const DETAIL = 'The client is blocked.';

/** Before routing: the client IP is blocked (docs/blocks.md). */
export function ipBlocked(block: BlockHit): Denial {
  return {
    kind: 'forbidden',
    reason: 'blocks.blocked.ip',
    detail: DETAIL,
    audit: { details: { block: block.id, subject: block.subject } },
  };
}

/** As soon as authentication names the caller: its consumer or its credential is blocked. */
export function identityBlocked(block: BlockHit): Denial {
  return block.kind === 'consumer'
    ? {
        kind: 'forbidden',
        reason: 'blocks.blocked.consumer',
        detail: DETAIL,
        audit: { consumer: block.subject, details: { block: block.id } },
      }
    : {
        kind: 'forbidden',
        reason: 'blocks.blocked.credential',
        detail: DETAIL,
        audit: { credential: block.subject, details: { block: block.id } },
      };
}
