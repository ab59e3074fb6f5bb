import { sign, verify } from 'node:crypto';
import type { CheckpointSigningKey, CheckpointVerifyKey } from './checkpoint-key.js';

/**
 * A signed statement "the chain's entry `seq` has hash `hash`". Because each hash covers every
 * entry before it, one valid checkpoint vouches for the whole log up to `seq`: rewriting any of
 * those entries, even with every later hash recomputed, no longer matches it.
 */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  /** Base64 Ed25519 signature of `checkpointMessage(seq, hash, time)`. */
  readonly signature: string;
  readonly keyId: string;
  /** Epoch milliseconds when it was signed. */
  readonly time: number;
}

/** The signed bytes: a fixed label (so no other signature of this key can pass), then the fields. */
export function checkpointMessage(seq: number, hash: string, time: number): Buffer {
  return Buffer.from(`portcullis-audit-checkpoint-v1\n${seq}\n${hash}\n${time}\n`, 'utf8');
}

export function signCheckpoint(
  key: CheckpointSigningKey,
  seq: number,
  hash: string,
  time: number,
): AuditCheckpoint {
  const signature = sign(null, checkpointMessage(seq, hash, time), key.privateKey);
  return { seq, hash, signature: signature.toString('base64'), keyId: key.keyId, time };
}

/** Whether `key` signed this checkpoint exactly as it is stored. */
export function checkpointSignatureValid(
  key: CheckpointVerifyKey,
  checkpoint: AuditCheckpoint,
): boolean {
  const signature = Buffer.from(checkpoint.signature, 'base64');
  // Base64 decoding skips what it cannot read: insist that the text is exactly the signature's.
  if (signature.length !== 64 || signature.toString('base64') !== checkpoint.signature)
    return false;
  try {
    return verify(
      null,
      checkpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.time),
      key.publicKey,
      signature,
    );
  } catch {
    return false;
  }
}
