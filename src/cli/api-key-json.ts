import type { StoredApiKey } from '../state/consumers/api-key-store.js';

/**
 * A key's state at a time: `active`; `overlap` (rotated, still working beside its successor
 * until `rotatedUntil`); `rotated` (the overlap is over); `expired`; `revoked`.
 */
export type ApiKeyState = 'active' | 'overlap' | 'rotated' | 'expired' | 'revoked';

export function apiKeyState(k: StoredApiKey, now: number): ApiKeyState {
  if (k.revokedAt !== undefined) return 'revoked';
  if (k.expiresAt !== undefined && now >= k.expiresAt) return 'expired';
  if (k.rotatedUntil !== undefined) return now >= k.rotatedUntil ? 'rotated' : 'overlap';
  return 'active';
}

/** How the key commands print a key with `--json`: never its hash, and never the key. */
export interface ApiKeyJson {
  readonly id: string;
  readonly consumer: string;
  readonly fingerprint: string;
  readonly environment: 'live' | 'test';
  readonly state: ApiKeyState;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly rotatedFrom: string | null;
  readonly rotatedUntil: string | null;
}

const iso = (ms: number | undefined): string | null =>
  ms === undefined ? null : new Date(ms).toISOString();

export function apiKeyJson(k: StoredApiKey, now: number): ApiKeyJson {
  return {
    id: k.id,
    consumer: k.consumerId,
    fingerprint: k.fingerprint,
    environment: k.environment,
    state: apiKeyState(k, now),
    createdAt: new Date(k.createdAt).toISOString(),
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
    rotatedFrom: k.rotatedFrom ?? null,
    rotatedUntil: iso(k.rotatedUntil),
  };
}

/** The columns of `keys list` and `consumers show`. */
export const API_KEY_COLUMNS = ['KEY ID', 'CONSUMER', 'FINGERPRINT', 'STATE', 'CREATED', 'EXPIRES'];

export function apiKeyRow(k: ApiKeyJson): string[] {
  const state =
    k.state === 'overlap' && k.rotatedUntil !== null ? `overlap until ${k.rotatedUntil}` : k.state;
  return [k.id, k.consumer, k.fingerprint, state, k.createdAt, k.expiresAt ?? 'never'];
}
