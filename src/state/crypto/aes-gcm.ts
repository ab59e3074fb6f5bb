import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';

/** AES-256-GCM with a 96-bit IV and a full 128-bit tag: the one AEAD of encryption at rest. */
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** Encrypts and authenticates `plaintext` and `aad`; returns ciphertext followed by the tag. */
export function seal(key: KeyObject, iv: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or undefined when the key, IV, AAD, ciphertext or tag do not all match. */
export function open(key: KeyObject, iv: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (iv.length !== IV_BYTES || sealed.length < TAG_BYTES) return undefined;
  // authTagLength pins the tag at 16 bytes: without it Node accepts a tag cut to 4 bytes, and a
  // forger needs only 2^32 tries.
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return undefined;
  }
}
