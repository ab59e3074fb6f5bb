import { createHash } from 'node:crypto';
import { AuditError } from './audit-error.js';

/**
 * One entry of the audit log and the exact bytes its hash covers. The serialization is the
 * contract between the writer and every verifier (ours, or an auditor's script), so it is fixed
 * here and documented in docs/audit.md: change it only with a new format version.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/**
 * What a caller records. Free-text fields must never carry a secret: pass a credential as its
 * `fingerprint()`, a request by its ID, a path without its query string. The log cannot tell a
 * secret from an id, so this is the caller's duty (docs/audit.md).
 */
export interface AuditEntryInput {
  /** Epoch milliseconds; the log's clock when left out. */
  readonly time?: number;
  /** Who acted: `admin:alice`, `cli`, or the gateway component that decided (`gateway`). */
  readonly actor: string;
  /** What happened: `consumer.create`, `key.revoke`, `config.reload`, `request.denied`... */
  readonly action: string;
  /** What it was done to: `consumer:acme`, `route:orders`, a canonical path. */
  readonly target?: string | null;
  /** The outcome: `ok`, `refused`, `failed`, `deny`, `block`, `detect`, `shadow-deny`... */
  readonly decision: string;
  /** The reason id (`blocks.ip.denied`) or error code. */
  readonly reason?: string | null;
  readonly requestId?: string | null;
  readonly clientIp?: string | null;
  /** The consumer's id; never its credential. */
  readonly consumer?: string | null;
  /** Small JSON object (at most 16 KiB serialized, 16 levels deep): ids, counts, fingerprints. */
  readonly details?: JsonObject | null;
}

/** An entry as stored, without its chain fields. */
export interface AuditEntry {
  readonly seq: number;
  readonly time: number;
  readonly actor: string;
  readonly action: string;
  readonly target: string | null;
  readonly decision: string;
  readonly reason: string | null;
  readonly requestId: string | null;
  readonly clientIp: string | null;
  readonly consumer: string | null;
  readonly details: JsonObject | null;
}

/** An entry with its place in the chain. */
export interface AuditRecord extends AuditEntry {
  /** The hash of the entry before (GENESIS_HASH for the first). */
  readonly prevHash: string;
  /** SHA-256(prevHash || canonicalEntry(entry)), lowercase hex. */
  readonly hash: string;
}

/** What the first entry links to. */
export const GENESIS_HASH = '0'.repeat(64);

const MAX_TEXT = 1024;
// Room for an event's details (16 keys of 512 characters) and the fields around them.
const MAX_DETAILS_CHARS = 16_384;
const MAX_DEPTH = 16;

// A lone surrogate has no UTF-8 form: PostgreSQL would store U+FFFD and the stored entry would no
// longer match its hash. NUL cannot be stored in PostgreSQL text at all. Both are replaced before
// hashing, so what is hashed is what is stored. Linear: one code unit of look-around.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A field an attacker may influence (a path, a consumer name) is bounded and made storable rather
 * than refused: refusing would let hostile input keep a decision out of the trail.
 */
function storableText(value: string): string {
  const cut = value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT - 1)}…` : value;
  return cut.replace(LONE_SURROGATE, '\ufffd').replaceAll('\u0000', '\ufffd');
}

function required(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new AuditError(
      'PCL_AUDIT_ENTRY_INVALID',
      `audit entry: ${field} must be a non-empty string`,
    );
  }
  return storableText(value);
}

function optional(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    throw new AuditError(
      'PCL_AUDIT_ENTRY_INVALID',
      `audit entry: ${field} must be a string or null`,
    );
  }
  return storableText(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function canonical(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('a number that is not finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v: unknown) => canonical(v, depth + 1)).join(',')}]`;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k], depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`a value JSON cannot hold (${typeof value})`);
}

/**
 * JSON with object keys sorted (by UTF-16 code units) and no whitespace: one text per value.
 * Throws a TypeError for what JSON cannot hold (undefined in an array, NaN, a Date, a Map...);
 * an object property whose value is undefined is left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, 0);
}

/** The details as stored: canonical JSON text, or null. */
export function detailsText(details: unknown): string | null {
  if (details === undefined || details === null) return null;
  if (!isPlainObject(details)) {
    throw new AuditError('PCL_AUDIT_ENTRY_INVALID', 'audit entry: details must be a plain object');
  }
  let text: string;
  try {
    text = canonicalJson(details);
  } catch (err) {
    throw new AuditError(
      'PCL_AUDIT_ENTRY_INVALID',
      `audit entry: details hold ${(err as Error).message}`,
    );
  }
  if (text.length > MAX_DETAILS_CHARS) {
    throw new AuditError(
      'PCL_AUDIT_ENTRY_INVALID',
      `audit entry: details are ${text.length} characters serialized, more than ${MAX_DETAILS_CHARS}`,
    );
  }
  return text;
}

/**
 * Checks and bounds what a caller passed, and gives it its place: the entry exactly as it will be
 * stored and hashed. Throws AuditError (PCL_AUDIT_ENTRY_INVALID) for a caller's mistake.
 */
export function toAuditEntry(input: AuditEntryInput, seq: number, now: number): AuditEntry {
  const time = input.time ?? now;
  if (!Number.isSafeInteger(time) || time < 0) {
    throw new AuditError(
      'PCL_AUDIT_ENTRY_INVALID',
      'audit entry: time must be epoch milliseconds (a non-negative integer)',
    );
  }
  const details = detailsText(input.details);
  return {
    seq,
    time,
    actor: required(input.actor, 'actor'),
    action: required(input.action, 'action'),
    target: optional(input.target, 'target'),
    decision: required(input.decision, 'decision'),
    reason: optional(input.reason, 'reason'),
    requestId: optional(input.requestId, 'requestId'),
    clientIp: optional(input.clientIp, 'clientIp'),
    consumer: optional(input.consumer, 'consumer'),
    // Parsed back from its canonical text: the stored entry holds no undefined properties.
    details: details === null ? null : (JSON.parse(details) as JsonObject),
  };
}

/**
 * The text an entry's hash covers: a JSON object of every field (details as a nested object)
 * with sorted keys and no whitespace. Every field is present; an absent value is null.
 */
export function canonicalEntry(entry: AuditEntry): string {
  return canonicalJson({
    action: entry.action,
    actor: entry.actor,
    clientIp: entry.clientIp,
    consumer: entry.consumer,
    decision: entry.decision,
    details: entry.details,
    reason: entry.reason,
    requestId: entry.requestId,
    seq: entry.seq,
    target: entry.target,
    time: entry.time,
  });
}

/** SHA-256 over the previous entry's hash (64 hex characters) followed by the canonical entry. */
export function entryHash(prevHash: string, entry: AuditEntry): string {
  return createHash('sha256')
    .update(prevHash, 'utf8')
    .update(canonicalEntry(entry), 'utf8')
    .digest('hex');
}
