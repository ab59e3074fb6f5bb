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
