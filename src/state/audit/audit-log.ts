import { isAbsolute, resolve } from 'node:path';
import type { StateConfig } from '../../config/schema.js';
import type { Db } from '../db.js';
import type { EventRecord } from '../events/event.js';
import {
  entryHash,
  GENESIS_HASH,
  toAuditEntry,
  type AuditEntryInput,
  type AuditRecord,
} from './audit-entry.js';
import {
  CHECKPOINT_COLUMNS,
  checkpointParams,
  entryParams,
  insertEntriesSql,
} from './audit-table.js';
import { signCheckpoint, type AuditCheckpoint } from './checkpoint.js';
import { loadCheckpointSigningKey, type CheckpointSigningKey } from './checkpoint-key.js';
import { auditEntryFromEvent } from './event-entry.js';

/**
 * What can be appended: an entry, or a security or admin event of the event pipeline (mapped by
 * `auditEntryFromEvent`), so that the pipeline hands its batches over as they are.
 */
export type AuditInput = AuditEntryInput | EventRecord;

function entryOf(input: AuditInput): AuditEntryInput {
  return 'kind' in input ? auditEntryFromEvent(input) : input;
}

export interface AuditLogOptions {
  /** Sign a checkpoint at every entry whose seq is a multiple of this (default 1000). */
  readonly checkpointEvery?: number;
  /** Without a key no checkpoint is written, and `verify` warns that none vouches for the log. */
  readonly signingKey?: CheckpointSigningKey;
  /** Epoch milliseconds, for entries without a time and for checkpoints. */
  readonly clock?: () => number;
  /**
   * Called after the commit with each checkpoint written: log it somewhere the database's
   * administrators cannot edit (the gateway's log, a SIEM), and a truncation that also deletes
   * checkpoints is caught against that copy. An exception it throws is ignored.
   */
  readonly onCheckpoint?: (checkpoint: AuditCheckpoint) => void;
}

// Two int4 keys: this class of lock, and the schema, so that two stores sharing one PostgreSQL
// database in different schemas do not wait for each other. (The two-key space does not overlap
// the one-bigint space that migrations lock in.)
const APPEND_LOCK = 7_343_013;

// Rows per INSERT statement: few round trips, well under either backend's parameter limit.
const ROWS_PER_INSERT = 100;

/**
 * The append-only, hash-chained audit log. Each entry carries the SHA-256 of the one before it;
 * every `checkpointEvery` entries a checkpoint signed with a key held outside the database
 * vouches for the chain so far. Several instances (gateway nodes) may append to one PostgreSQL
 * store at once: appends take turns on a lock, so the chain never forks.
 */
export class AuditLog {
  readonly #db: Db;
  readonly #every: number;
  readonly #key: CheckpointSigningKey | undefined;
  readonly #clock: () => number;
  readonly #onCheckpoint: ((checkpoint: AuditCheckpoint) => void) | undefined;

  constructor(db: Db, options: AuditLogOptions = {}) {
    const every = options.checkpointEvery ?? 1000;
    if (!Number.isSafeInteger(every) || every < 1) {
      throw new RangeError('checkpointEvery must be a positive integer');
    }
    this.#db = db;
    this.#every = every;
    this.#key = options.signingKey;
    this.#clock = options.clock ?? Date.now;
    this.#onCheckpoint = options.onCheckpoint;
  }

  /**
   * The log as `state.audit` configures it; a relative key file is relative to the config
   * file's folder. Throws AuditError (PCL_AUDIT_KEY_INVALID) when the key cannot be used.
   */
  static fromConfig(
    db: Db,
    state: Pick<StateConfig, 'audit'>,
    configDir: string,
    options: Pick<AuditLogOptions, 'clock' | 'onCheckpoint'> = {},
  ): AuditLog {
    const file = auditKeyFile(state, configDir);
    return new AuditLog(db, {
      ...options,
      checkpointEvery: state.audit.checkpointEvery,
      ...(file === undefined ? {} : { signingKey: loadCheckpointSigningKey(file) }),
    });
  }

  /** Whether checkpoints are signed. */
  get signsCheckpoints(): boolean {
    return this.#key !== undefined;
  }

  /** Appends one entry; resolves with it, chained, once it is committed. */
  async append(input: AuditInput): Promise<AuditRecord> {
    const [record] = await this.#append([entryOf(input)]);
    return record as AuditRecord;
  }

  /**
   * Appends entries in order, in one transaction: all are committed or none; resolves once they
   * are. This is what the event pipeline calls with each batch of security and admin events.
   * An invalid entry (AuditError PCL_AUDIT_ENTRY_INVALID: a caller's mistake; an event record
   * always maps to a valid one) is found before anything is written. A store failure rejects
   * with StoreError, and nothing of the batch is in the log: the caller may retry the batch.
   */
  async appendMany(inputs: readonly AuditInput[]): Promise<void> {
    await this.#append(inputs.map(entryOf));
  }

  async #append(entries: readonly AuditEntryInput[]): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    const now = this.#clock();
    // Checked before the transaction: a caller's mistake never holds the lock or half a batch.
    entries.forEach((e) => toAuditEntry(e, 1, now));
    const checkpoints: AuditCheckpoint[] = [];
    const records = await this.#db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') {
        await tx.query(`SELECT pg_advisory_xact_lock(${APPEND_LOCK}, hashtext(current_schema()))`);
      }
      const [head] = await tx.query<{ seq: unknown; hash: unknown }>(
        'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
      );
      let seq = head === undefined ? 0 : Number(head.seq);
      let prevHash = head === undefined ? GENESIS_HASH : String(head.hash);
      const chained: AuditRecord[] = entries.map((input) => {
        seq += 1;
        const entry = toAuditEntry(input, seq, now);
        const hash = entryHash(prevHash, entry);
        const record: AuditRecord = { ...entry, prevHash, hash };
        prevHash = hash;
        return record;
      });
      for (let i = 0; i < chained.length; i += ROWS_PER_INSERT) {
        const rows = chained.slice(i, i + ROWS_PER_INSERT);
        await tx.run(insertEntriesSql(rows.length), rows.flatMap(entryParams));
      }
      const key = this.#key;
      if (key !== undefined) {
        for (const r of chained) {
          if (r.seq % this.#every !== 0) continue;
          const checkpoint = signCheckpoint(key, r.seq, r.hash, this.#clock());
          await tx.run(
            `INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
            checkpointParams(checkpoint),
          );
          checkpoints.push(checkpoint);
        }
      }
      return chained;
    });
    for (const checkpoint of checkpoints) {
      try {
        this.#onCheckpoint?.(checkpoint);
      } catch {
        // A witness that fails must not make a committed append look failed.
      }
    }
    return records;
  }
}

/** `state.audit.checkpointKeyFile` as a path, relative to the config file's folder. */
export function auditKeyFile(
  state: Pick<StateConfig, 'audit'>,
  configDir: string,
): string | undefined {
  const file = state.audit.checkpointKeyFile;
  if (file === undefined) return undefined;
  return isAbsolute(file) ? file : resolve(configDir, file);
}
