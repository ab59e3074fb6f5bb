import type { Db } from '../db.js';

/** One row of `data_keys`: a data key wrapped under a master key. */
export interface DataKeyRow {
  readonly id: string;
  readonly wrapped: Buffer;
  readonly masterKeyId: string;
  readonly createdAt: number;
  readonly retired: boolean;
}

// Any fixed number, distinct from the migration lock.
const DATA_KEYS_LOCK = 7_343_013;

/**
 * Inside a transaction: waits for any other node creating or re-wrapping data keys. On SQLite
 * the transaction's BEGIN IMMEDIATE already excludes other writers.
 */
export async function lockDataKeys(tx: Db): Promise<void> {
  if (tx.dialect === 'postgres') await tx.query(`SELECT pg_advisory_xact_lock(${DATA_KEYS_LOCK})`);
}

export async function readDataKeys(db: Db): Promise<DataKeyRow[]> {
  const rows = await db.query(
    'SELECT id, wrapped, master_key_id, created_at, retired_at FROM data_keys ORDER BY created_at, id',
  );
  return rows.map((r) => ({
    id: String(r.id),
    wrapped: bytes(r.wrapped),
    masterKeyId: String(r.master_key_id),
    createdAt: Number(r.created_at),
    retired: r.retired_at !== null && r.retired_at !== undefined,
  }));
}

/** SQLite's worker hands BLOBs back as Uint8Array, node-postgres as Buffer. */
function bytes(value: unknown): Buffer {
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return Buffer.alloc(0);
}
