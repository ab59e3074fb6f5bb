import type { Db } from '../db.js';
import { nextChange } from '../change-counter.js';
import {
  consumerFieldsProblem,
  type ConsumerFields,
  type ConsumerProfile,
} from './consumer-fields.js';

/** A consumer as the store keeps it (table `consumers`, migration 0004). */
export interface StoredConsumer extends ConsumerProfile {
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The change marker of its last write: see change-counter.ts. */
  readonly changeSeq: number;
}

const COLUMNS = 'id, name, scopes, roles, metadata, disabled, created_at, updated_at, change_seq';

/**
 * A JSON column as written by this module; anything else (a row edited by hand) reads as empty:
 * fewer scopes, never more, and one bad row does not stop every node from following the rest.
 */
function json(text: unknown): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    return undefined;
  }
}

function stringList(text: unknown): string[] {
  const v = json(text);
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function stringRecord(text: unknown): Record<string, string> {
  const v = json(text);
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, value] of Object.entries(v)) if (typeof value === 'string') out[k] = value;
  return out;
}

function fromRow(r: Record<string, unknown>): StoredConsumer {
  return {
    id: String(r.id),
    name: typeof r.name === 'string' ? r.name : undefined,
    scopes: stringList(r.scopes),
    roles: stringList(r.roles),
    metadata: stringRecord(r.metadata),
    disabled: Number(r.disabled) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    changeSeq: Number(r.change_seq),
  };
}

/**
 * The consumers kept in the store: created, read, disabled and enabled (never deleted, so that
 * every node's copy follows the changes by their marker alone, and the audit trail's consumer
 * ids keep meaning one consumer). Used by the CLI (and later the admin API) to write, and by the
 * consumer directory of each gateway to follow.
 */
export class ConsumerStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Stores a new consumer; resolves with it, or with undefined when the id is taken. Throws a
   * RangeError naming the field when a field cannot be stored (check with
   * consumerFieldsProblem first to tell a user).
   */
  async create(fields: ConsumerFields): Promise<StoredConsumer | undefined> {
    const problem = consumerFieldsProblem(fields);
    if (problem !== undefined) throw new RangeError(problem);
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const seq = await nextChange(tx, 'authn_changes');
      const rows = await tx.query(
        `INSERT INTO consumers (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7)
         ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
        [
          fields.id,
          fields.name ?? null,
          JSON.stringify(fields.scopes),
          JSON.stringify(fields.roles),
          JSON.stringify(fields.metadata),
          now,
          seq,
        ],
      );
      const row = rows[0];
      return row === undefined ? undefined : fromRow(row);
    });
  }

  async get(id: string): Promise<StoredConsumer | undefined> {
    const rows = await this.#db.query(`SELECT ${COLUMNS} FROM consumers WHERE id = $1`, [id]);
    const row = rows[0];
    return row === undefined ? undefined : fromRow(row);
  }

  /** Every consumer, sorted by id (in code: the backends' collations disagree). */
  async list(): Promise<StoredConsumer[]> {
    const rows = await this.#db.query(`SELECT ${COLUMNS} FROM consumers`);
    return rows.map(fromRow).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Disables (every credential of the consumer is refused) or enables it again. Resolves with
   * the consumer as it now is and whether this call changed it; undefined when there is none.
   */
  async setDisabled(
    id: string,
    disabled: boolean,
  ): Promise<{ consumer: StoredConsumer; changed: boolean } | undefined> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const current = await tx.query(`SELECT ${COLUMNS} FROM consumers WHERE id = $1`, [id]);
      const row = current[0];
      if (row === undefined) return undefined;
      const before = fromRow(row);
      if (before.disabled === disabled) return { consumer: before, changed: false };
      const seq = await nextChange(tx, 'authn_changes');
      const rows = await tx.query(
        `UPDATE consumers SET disabled = $2, updated_at = $3, change_seq = $4 WHERE id = $1
         RETURNING ${COLUMNS}`,
        [id, disabled ? 1 : 0, now, seq],
      );
      return { consumer: fromRow(rows[0] as Record<string, unknown>), changed: true };
    });
  }

  /** Consumers written after marker `since`, in marker order, at most `limit` of them. */
  async changedSince(since: number, limit: number): Promise<StoredConsumer[]> {
    const rows = await this.#db.query(
      `SELECT ${COLUMNS} FROM consumers WHERE change_seq > $1 ORDER BY change_seq LIMIT $2`,
      [since, limit],
    );
    return rows.map(fromRow);
  }
}
