import { generateApiKey, generateApiKeyId } from '../../stages/authn/api-key/api-key-format.js';
import { fingerprint } from '../audit/fingerprint.js';
import type { ApiKeyHmac } from './api-key-hmac.js';
import type { NewApiKey } from './api-key-store.js';

/**
 * A fresh key and the row that stands for it: the key itself goes to whoever asked, once; the
 * row keeps only its HMAC under the server key and its fingerprint.
 */
export function newApiKey(
  hmac: ApiKeyHmac,
  consumerId: string,
  environment: 'live' | 'test',
  expiresAt?: number,
): { key: string; row: NewApiKey } {
  const key = generateApiKey(environment);
  return {
    key,
    row: {
      id: generateApiKeyId(),
      consumerId,
      hash: hmac.digest(key),
      fingerprint: fingerprint(key),
      environment,
      expiresAt,
    },
  };
}
