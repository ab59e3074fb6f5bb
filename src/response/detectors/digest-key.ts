import { createHash } from 'node:crypto';

/**
 * What an attacker chose (a path, a username) never becomes a cluster-state key as such: a
 * short digest does, of fixed length and alphabet, whatever was sent. `label` keeps the digests
 * of different things apart.
 */
export function digestKey(label: string, value: string): string {
  return createHash('sha256')
    .update(label)
    .update('\0')
    .update(value)
    .digest('base64url')
    .slice(0, 16);
}
