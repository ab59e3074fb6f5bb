import { createHash } from 'node:crypto';

/**
 * How a credential appears in the audit trail and in events: `fp:` and the first 12 hex digits
 * of its SHA-256. Enough to tell keys apart and to match an entry with a key an operator holds;
 * not enough to use. Meant for high-entropy secrets (API keys, tokens, client secrets): a
 * password or PIN would be guessed back from it, so never fingerprint one.
 */
export function fingerprint(secret: string | Uint8Array): string {
  return `fp:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;
}
