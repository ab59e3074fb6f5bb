import type { Db } from '../db.js';
import { nextChange } from '../change-counter.js';

/**
 * An API key as the store keeps it (table `api_keys`, migration 0004): never the key, only its
 * keyed hash and its fingerprint.
 */
export interface StoredApiKey {
  /** The public key id (`key_...`): what `keys list` shows and `keys revoke` takes. */
  readonly id: string;
  readonly consumerId: string;
  /** HMAC-SHA-256 of the key under the server key (api-key-hmac.ts): 32 bytes. */
  readonly hash: Buffer;
  /** `fp:` and 12 hex digits of the key's SHA-256, as events carry it. */
  readonly fingerprint: string;
  readonly environment: 'live' | 'test';
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
  /** The key this one replaced (`keys rotate`). */
  readonly rotatedFrom: string | undefined;
  /** Set on a key that was rotated: it keeps working until then, beside its successor. */
  readonly rotatedUntil: number | undefined;
  /** The change marker of its last write: see change-counter.ts. */
  readonly changeSeq: number;
}

/** What a new key is stored with; the key itself is not among it. */
export interface NewApiKey {
  readonly id: string;
  readonly consumerId: string;
  readonly hash: Buffer;
  readonly fingerprint: string;
  readonly environment: 'live' | 'test';
  readonly expiresAt?: number | undefined;
}

/** Why a key can no longer be rotated (or used); undefined while it is in force at `now`. */
export type ApiKeyEnd = 'revoked' | 'expired' | 'rotated';

export function apiKeyEnd(key: StoredApiKey, now: number): ApiKeyEnd | undefined {
  if (key.revokedAt !== undefined) return 'revoked';
  if (key.expiresAt !== undefined && key.expiresAt <= now) return 'expired';
  if (key.rotatedUntil !== undefined) return 'rotated';
  return undefined;
}

export type RotateOutcome =
  | { readonly outcome: 'ok'; readonly previous: StoredApiKey; readonly next: StoredApiKey }
  | { readonly outcome: 'missing' }
  | { readonly outcome: ApiKeyEnd; readonly previous: StoredApiKey };

const COLUMNS =
  'id, consumer_id, hash, fingerprint, environment, created_at, expires_at, revoked_at,' +
  ' rotated_from, rotated_until, change_seq';

const optionalNumber = (v: unknown): number | undefined =>
  v === null || v === undefined ? undefined : Number(v);

function fromRow(r: Record<string, unknown>): StoredApiKey {
  return {
    id: String(r.id),
    consumerId: String(r.consumer_id),
    hash: Buffer.from(String(r.hash), 'hex'),
    fingerprint: String(r.fingerprint),
    environment: r.environment === 'test' ? 'test' : 'live',
    createdAt: Number(r.created_at),
    expiresAt: optionalNumber(r.expires_at),
    revokedAt: optionalNumber(r.revoked_at),
    rotatedFrom: typeof r.rotated_from === 'string' ? r.rotated_from : undefined,
    rotatedUntil: optionalNumber(r.rotated_until),
    changeSeq: Number(r.change_seq),
  };
}

const HASH_BYTES = 32;

async function insert(
  tx: Db,
  key: NewApiKey,
  now: number,
  seq: number,
  rotatedFrom: string | null,
): Promise<StoredApiKey> {
  if (key.hash.length !== HASH_BYTES) throw new RangeError('an API key hash is 32 bytes');
  const rows = await tx.query(
    `INSERT INTO api_keys (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, NULL, $9)
     RETURNING ${COLUMNS}`,
    [
      key.id,
      key.consumerId,
      key.hash.toString('hex'),
      key.fingerprint,
      key.environment,
      now,
      key.expiresAt ?? null,
      rotatedFrom,
      seq,
    ],
  );
  return fromRow(rows[0] as Record<string, unknown>);
}

/**
 * The API keys kept in the store. Keys are created, revoked and rotated, never deleted or
 * edited otherwise: every node's in-memory index follows them by change marker alone. Each
 * write takes the change counter first, which also makes concurrent writers (two operators
 * rotating the same key) take turns.
 */
export class ApiKeyStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Stores a new key; a taken id or hash fails with StoreError (PCL_STORE_QUERY_FAILED). */
  async create(key: NewApiKey): Promise<StoredApiKey> {
    const now = this.#now();
    return this.#db.transaction(async (tx) =>
      insert(tx, key, now, await nextChange(tx, 'authn_changes'), null),
    );
  }

  async get(id: string): Promise<StoredApiKey | undefined> {
    const rows = await this.#db.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    const row = rows[0];
    return row === undefined ? undefined : fromRow(row);
  }

  /** The keys whose fingerprint (`fp:...`, as events name a credential) is `fp`. */
  async withFingerprint(fp: string): Promise<StoredApiKey[]> {
    const rows = await this.#db.query(`SELECT ${COLUMNS} FROM api_keys WHERE fingerprint = $1`, [
      fp,
    ]);
    return rows.map(fromRow);
  }

  /** The keys of one consumer, or all, oldest first. */
  async list(consumerId?: string): Promise<StoredApiKey[]> {
    const rows =
      consumerId === undefined
        ? await this.#db.query(`SELECT ${COLUMNS} FROM api_keys`)
        : await this.#db.query(`SELECT ${COLUMNS} FROM api_keys WHERE consumer_id = $1`, [
            consumerId,
          ]);
    return rows
      .map(fromRow)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Revokes the key: refused from then on, for good. Resolves with the key as it now is and
   * whether this call revoked it (false: it already was); undefined when there is no such key.
   */
  async revoke(id: string): Promise<{ key: StoredApiKey; changed: boolean } | undefined> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const seq = await nextChange(tx, 'authn_changes');
      const rows = await tx.query(
        `UPDATE api_keys SET revoked_at = $2, change_seq = $3 WHERE id = $1 AND revoked_at IS NULL
         RETURNING ${COLUMNS}`,
        [id, now, seq],
      );
      const row = rows[0];
      if (row !== undefined) return { key: fromRow(row), changed: true };
      const existing = await tx.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
      const found = existing[0];
      return found === undefined ? undefined : { key: fromRow(found), changed: false };
    });
  }

  /**
   * Replaces the key `id` with `next` (of the same consumer): `next` works at once, and `id`
   * keeps working until `overlapUntil` (epoch ms), so that clients can switch without an
   * outage. Only a key in force can be rotated: not a revoked, expired or already rotated one
   * (rotate its successor instead).
   */
  async rotate(
    id: string,
    next: Omit<NewApiKey, 'consumerId'>,
    overlapUntil: number,
  ): Promise<RotateOutcome> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const seq = await nextChange(tx, 'authn_changes');
      const rows = await tx.query(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
      const row = rows[0];
      if (row === undefined) return { outcome: 'missing' };
      const previous = fromRow(row);
      const end = apiKeyEnd(previous, now);
      if (end !== undefined) return { outcome: end, previous };
      const created = await insert(tx, { ...next, consumerId: previous.consumerId }, now, seq, id);
      // A marker per row: a reader pages by marker, and a page must never end between two
      // rows of one marker.
      const updated = await tx.query(
        `UPDATE api_keys SET rotated_until = $2, change_seq = $3 WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, overlapUntil, await nextChange(tx, 'authn_changes')],
      );
      return {
        outcome: 'ok',
        previous: fromRow(updated[0] as Record<string, unknown>),
        next: created,
      };
    });
  }

  /** Keys written after marker `since`, in marker order, at most `limit` of them. */
  async changedSince(since: number, limit: number): Promise<StoredApiKey[]> {
    const rows = await this.#db.query(
      `SELECT ${COLUMNS} FROM api_keys WHERE change_seq > $1 ORDER BY change_seq LIMIT $2`,
      [since, limit],
    );
    return rows.map(fromRow);
  }
}
