import type { SqlValue } from '../db.js';
import type { AuditCheckpoint } from './checkpoint.js';
import {
  canonicalJson,
  type AuditEntry,
  type AuditRecord,
  type JsonObject,
} from './audit-entry.js';

/**
 * How entries and checkpoints map to the `audit_log` and `audit_checkpoints` tables
 * (migrations/0002-audit.ts), in both directions. Reading is defensive: whoever tampered with a
 * row may have put anything in it, and a row that is not a well-formed entry is reported, not
 * thrown on.
 */

export const ENTRY_COLUMNS =
  'seq, time, actor, action, target, decision, reason, request_id, client_ip, consumer, details, prev_hash, hash';

const ENTRY_COLUMN_COUNT = 13;

export function entryParams(r: AuditRecord): SqlValue[] {
  return [
    r.seq,
    r.time,
    r.actor,
    r.action,
    r.target,
    r.decision,
    r.reason,
    r.requestId,
    r.clientIp,
    r.consumer,
    r.details === null ? null : canonicalJson(r.details),
    r.prevHash,
    r.hash,
  ];
}

/** `INSERT ... VALUES ($1..$13), ($14..$26), ...` for `rows` entries. */
export function insertEntriesSql(rows: number): string {
  const groups: string[] = [];
  for (let i = 0; i < rows; i++) {
    const base = i * ENTRY_COLUMN_COUNT;
    const params = Array.from({ length: ENTRY_COLUMN_COUNT }, (_, j) => `$${base + j + 1}`);
    groups.push(`(${params.join(', ')})`);
  }
  return `INSERT INTO audit_log (${ENTRY_COLUMNS}) VALUES ${groups.join(', ')}`;
}

export const CHECKPOINT_COLUMNS = 'seq, hash, signature, key_id, time';

export function checkpointParams(c: AuditCheckpoint): SqlValue[] {
  return [c.seq, c.hash, c.signature, c.keyId, c.time];
}

/** A row as the store returned it: any column may hold anything after tampering. */
export type StoredRow = Record<string, unknown>;

const HEX64 = /^[0-9a-f]{64}$/;

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function nullableText(v: unknown): string | null | undefined {
  return v === null ? null : text(v);
}

/**
 * The details column back as an object, only if it is exactly the canonical text of one: any
 * other spelling of the same value was not written by the log.
 */
function detailsFrom(v: unknown): JsonObject | null | undefined {
  if (v === null) return null;
  if (typeof v !== 'string') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  try {
    return canonicalJson(parsed) === v ? (parsed as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/** The record a row holds, or undefined when some column is not what the log writes. */
export function recordFromRow(row: StoredRow): AuditRecord | undefined {
  const seq = row.seq;
  const time = row.time;
  const actor = text(row.actor);
  const action = text(row.action);
  const target = nullableText(row.target);
  const decision = text(row.decision);
  const reason = nullableText(row.reason);
  const requestId = nullableText(row.request_id);
  const clientIp = nullableText(row.client_ip);
  const consumer = nullableText(row.consumer);
  const details = detailsFrom(row.details);
  const prevHash = text(row.prev_hash);
  const hash = text(row.hash);
  if (
    !isSeq(seq) ||
    !isSeq(time) ||
    actor === undefined ||
    action === undefined ||
    target === undefined ||
    decision === undefined ||
    reason === undefined ||
    requestId === undefined ||
    clientIp === undefined ||
    consumer === undefined ||
    details === undefined ||
    prevHash === undefined ||
    !HEX64.test(prevHash) ||
    hash === undefined ||
    !HEX64.test(hash)
  ) {
    return undefined;
  }
  const entry: AuditEntry = {
    seq,
    time,
    actor,
    action,
    target,
    decision,
    reason,
    requestId,
    clientIp,
    consumer,
    details,
  };
  return { ...entry, prevHash, hash };
}

/** The checkpoint a row holds, or undefined when some column is not what the log writes. */
export function checkpointFromRow(row: StoredRow): AuditCheckpoint | undefined {
  const { seq, time } = row;
  const hash = text(row.hash);
  const signature = text(row.signature);
  const keyId = text(row.key_id);
  if (!isSeq(seq) || !isSeq(time) || hash === undefined || signature === undefined)
    return undefined;
  if (keyId === undefined) return undefined;
  return { seq, hash, signature, keyId, time };
}
