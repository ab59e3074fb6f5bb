/**
 * Failures of encryption at rest, with a stable code an operator can look up in docs/errors.md.
 * No message ever holds key material, a plaintext or a ciphertext: only key ids (fingerprints),
 * file paths and secret names.
 */
export type CryptoErrorCode =
  | 'PCL_MASTER_KEY_MISSING'
  | 'PCL_MASTER_KEY_INVALID'
  | 'PCL_MASTER_KEY_CONFLICT'
  | 'PCL_MASTER_KEY_MISMATCH'
  | 'PCL_DECRYPT_FAILED'
  | 'PCL_SECRET_NAME_INVALID';

export class CryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CryptoError';
  }
}
