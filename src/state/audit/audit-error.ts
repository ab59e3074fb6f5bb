/**
 * Failures of the audit log, with a stable code an operator can look up in docs/errors.md. No
 * message holds key material or an entry's contents: only file paths, field names and sequence
 * numbers.
 */
export type AuditErrorCode = 'PCL_AUDIT_ENTRY_INVALID' | 'PCL_AUDIT_KEY_INVALID';

export class AuditError extends Error {
  constructor(
    readonly code: AuditErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AuditError';
  }
}
