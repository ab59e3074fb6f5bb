import { randomBytes } from 'node:crypto';
import type { Db } from '../db.js';
import { nextChange } from '../change-counter.js';
import { parseBlockSubject, type BlockKind } from './block-subject.js';

/** One block as the store keeps it. Times are epoch milliseconds. */
export interface BlockRecord {
  /** `blk_` and 16 hex digits: what `blocks list` shows and `blocks remove` takes. */
  readonly id: string;
  readonly kind: BlockKind;
  /** The canonical subject (block-subject.ts). */
  readonly subject: string;
  /** Why: free text of the operator, or the detection that asked for it. */
  readonly reason: string;
  /** Who: `cli:<user>`, `playbook:<name>`, or `cli:<user> (approved prp_...)`. */
  readonly actor: string;
  readonly createdAt: number;
  /** Undefined: until removed. */
  readonly expiresAt: number | undefined;
  readonly removedAt: number | undefined;
  readonly removedBy: string | undefined;
  /** The change marker of the block's last write. */
  readonly changeSeq: number;
  /** `block`: refused with 403; `throttle`: held to `throttle` (docs/response.md). */
  readonly action: BlockAction;
  /** A throttle's rate; undefined for a block. */
  readonly throttle: ThrottleRate | undefined;
  /** The incident whose playbook or approved proposal made it. */
  readonly incidentId: string | undefined;
}

/** What a block does to its subject: refuse it, or hold it to a lower rate. */
export type BlockAction = 'block' | 'throttle';

/** At most `limit` requests in any `windowSeconds`, on every node together. */
export interface ThrottleRate {
  readonly limit: number;
  readonly windowSeconds: number;
}

export interface NewBlock {
  readonly kind: BlockKind;
  /** Any spelling parseBlockSubject accepts; stored in canonical form. */
  readonly subject: string;
  readonly reason: string;
  readonly actor: string;
  /** How long the block lasts; undefined: until removed. */
  readonly ttlMs?: number;
  /** A throttle instead of a block: the rate its subject is held to. */
  readonly throttle?: ThrottleRate;
  /** The incident it answers, when a playbook or an approved proposal makes it. */
  readonly incidentId?: string;
}

/** Operator text in a block: bounded, one line, no control characters (it reaches terminals). */
function isReason(text: string): boolean {
  if (text.length === 0 || text.length > 200) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

const COLUMNS =
  'id, subject_kind, subject, reason, actor, created_at, expires_at, removed_at, removed_by, change_seq, action, throttle_limit, throttle_window_seconds, incident_id';

/** A throttle's rate: whole numbers, at least one request per window of one second to a day. */
function isRate(rate: ThrottleRate): boolean {
  return (
    Number.isInteger(rate.limit) &&
    rate.limit >= 1 &&
    rate.limit <= 1_000_000 &&
    Number.isInteger(rate.windowSeconds) &&
    rate.windowSeconds >= 1 &&
    rate.windowSeconds <= 86_400
  );
}

function optionalNumber(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : Number(v);
}

function optionalText(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function fromRow(row: Record<string, unknown>): BlockRecord {
  return {
    id: String(row.id),
    kind: String(row.subject_kind) as BlockKind,
    subject: String(row.subject),
    reason: String(row.reason),
    actor: String(row.actor),
    createdAt: Number(row.created_at),
    expiresAt: optionalNumber(row.expires_at),
    removedAt: optionalNumber(row.removed_at),
    removedBy: optionalText(row.removed_by),
    changeSeq: Number(row.change_seq),
    action: row.action === 'throttle' ? 'throttle' : 'block',
    throttle:
      row.action === 'throttle'
        ? { limit: Number(row.throttle_limit), windowSeconds: Number(row.throttle_window_seconds) }
        : undefined,
    incidentId: optionalText(row.incident_id),
  };
}

/** Whether the block refuses requests at `now`. */
export function isActive(block: BlockRecord, now: number): boolean {
  return block.removedAt === undefined && (block.expiresAt === undefined || block.expiresAt > now);
}

/**
 * The blocks of the store: written by `portcullis blocks` and by response playbooks,
 * followed by every gateway through their change markers. Nothing is deleted: removing a block
 * stamps it, so the history stays readable and every node's copy sees the removal.
 */
export class BlockStore {
  readonly #db: Db;
  readonly #now: () => number;

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /** Stores a new block. Throws a RangeError saying which field cannot be stored. */
  async add(input: NewBlock): Promise<BlockRecord> {
    const subject = parseBlockSubject(input.kind, input.subject);
    if (!subject.ok) throw new RangeError(`subject: ${subject.message}`);
    if (!isReason(input.reason)) {
      throw new RangeError('reason: 1 to 200 characters on one line, no control characters');
    }
    const ttl = input.ttlMs;
    if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 1000)) {
      throw new RangeError('ttl: a whole number of milliseconds, at least one second');
    }
    const rate = input.throttle;
    if (rate !== undefined && !isRate(rate)) {
      throw new RangeError('throttle: 1 to 1000000 requests per 1 to 86400 seconds');
    }
    if (rate !== undefined && subject.subject.includes('/')) {
      // Each throttle has its own count: a range would share one among all its addresses.
      throw new RangeError('subject: a throttle names one address, not a range');
    }
    const now = this.#now();
    const id = `blk_${randomBytes(8).toString('hex')}`;
    return this.#db.transaction(async (tx) => {
      const seq = await nextChange(tx, 'block_changes');
      const rows = await tx.query(
        `INSERT INTO blocks (${COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, $9, $10, $11, $12)
         RETURNING ${COLUMNS}`,
        [
          id,
          input.kind,
          subject.subject,
          input.reason,
          input.actor,
          now,
          ttl === undefined ? null : now + ttl,
          seq,
          rate === undefined ? 'block' : 'throttle',
          rate?.limit ?? null,
          rate?.windowSeconds ?? null,
          input.incidentId ?? null,
        ],
      );
      return fromRow(rows[0] as Record<string, unknown>);
    });
  }

  /**
   * Ends a block now. Resolves with the block as it now is and whether this call ended it (a
   * block already removed or expired is left as it was); undefined when there is no such block.
   */
  async remove(
    id: string,
    actor: string,
  ): Promise<{ block: BlockRecord; changed: boolean } | undefined> {
    const now = this.#now();
    return this.#db.transaction(async (tx) => {
      const current = await tx.query(`SELECT ${COLUMNS} FROM blocks WHERE id = $1`, [id]);
      const row = current[0];
      if (row === undefined) return undefined;
      const before = fromRow(row);
      if (!isActive(before, now)) return { block: before, changed: false };
      const seq = await nextChange(tx, 'block_changes');
      const rows = await tx.query(
        `UPDATE blocks SET removed_at = $2, removed_by = $3, change_seq = $4 WHERE id = $1
         RETURNING ${COLUMNS}`,
        [id, now, actor, seq],
      );
      return { block: fromRow(rows[0] as Record<string, unknown>), changed: true };
    });
  }

  /** The blocks in force now, or every block ever made (`all`), oldest first. */
  async list(opts: { all?: boolean } = {}): Promise<BlockRecord[]> {
    const now = this.#now();
    const rows =
      opts.all === true
        ? await this.#db.query(`SELECT ${COLUMNS} FROM blocks`)
        : await this.#db.query(
            `SELECT ${COLUMNS} FROM blocks
             WHERE removed_at IS NULL AND (expires_at IS NULL OR expires_at > $1)`,
            [now],
          );
    return rows
      .map(fromRow)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Claims the blocks that expired by now and whose expiry nobody recorded yet, at most `limit`:
   * one atomic UPDATE ... RETURNING, so that of several nodes sweeping at once exactly one gets
   * each block (a removed block ended by hand: its removal is its record).
   */
  async claimExpired(limit: number): Promise<BlockRecord[]> {
    const now = this.#now();
    const due = `expiry_recorded_at IS NULL AND removed_at IS NULL
         AND expires_at IS NOT NULL AND expires_at <= $1`;
    // A read first: most sweeps find nothing, and a read takes no write lock.
    const [any] = await this.#db.query(`SELECT id FROM blocks WHERE ${due} LIMIT 1`, [now]);
    if (any === undefined) return [];
    const rows = await this.#db.query(
      `UPDATE blocks SET expiry_recorded_at = $1
       WHERE id IN (SELECT id FROM blocks WHERE ${due} ORDER BY expires_at LIMIT $2)
         AND expiry_recorded_at IS NULL
       RETURNING ${COLUMNS}`,
      [now, limit],
    );
    return rows.map(fromRow).sort((a, b) => (a.expiresAt ?? 0) - (b.expiresAt ?? 0));
  }

  /** Blocks written after marker `since`, in marker order, at most `limit` of them. */
  async changedSince(since: number, limit: number): Promise<BlockRecord[]> {
    const rows = await this.#db.query(
      `SELECT ${COLUMNS} FROM blocks WHERE change_seq > $1 ORDER BY change_seq LIMIT $2`,
      [since, limit],
    );
    return rows.map(fromRow);
  }
}
