/**
 * Why an admin command (consumers, API keys) refused, with a stable code an operator can look
 * up in docs/errors.md. Messages name ids, never a key.
 */
export type AdminErrorCode = 'PCL_ADMIN_INVALID' | 'PCL_ADMIN_NOT_FOUND' | 'PCL_ADMIN_CONFLICT';

export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}
