import type { SqlValue } from './db.js';

/** Store failures, with a stable code an operator can look up in docs/errors.md. */
export type StoreErrorCode =
  'PCL_STORE_UNAVAILABLE' | 'PCL_STORE_QUERY_FAILED' | 'PCL_STORE_MIGRATION_FAILED';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

// Shorter values are left alone: redacting "1" or "id" would garble every message, and a
// database never quotes a parameter outside the value errors handled by `withoutQuotedValue`.
const MIN_REDACTED_LENGTH = 4;

/**
 * A driver's error message without the statement's parameter values. Parameters carry API keys,
 * tokens and personal data, and error messages end up in logs: a value the database echoes back
 * (PostgreSQL's `invalid input syntax for type bigint: "..."`) must not.
 */
export function redactParams(message: string, params: readonly SqlValue[]): string {
  let out = message;
  for (const p of params) {
    if (p === null || typeof p === 'boolean') continue;
    const forms =
      typeof p === 'string'
        ? [p]
        : typeof p === 'number' || typeof p === 'bigint'
          ? [String(p)]
          : [p.toString('utf8'), p.toString('hex')];
    for (const form of forms) {
      if (form.length >= MIN_REDACTED_LENGTH) out = out.split(form).join('[redacted]');
    }
  }
  return out;
}

/**
 * Removes everything between the first and the last double quote: PostgreSQL's data exceptions
 * (SQLSTATE class 22) quote the offending value, which may itself contain quotes.
 */
export function withoutQuotedValue(message: string): string {
  const first = message.indexOf('"');
  const last = message.lastIndexOf('"');
  if (first === -1) return message;
  if (first === last) return `${message.slice(0, first)}"[redacted]`;
  return `${message.slice(0, first)}"[redacted]"${message.slice(last + 1)}`;
}
