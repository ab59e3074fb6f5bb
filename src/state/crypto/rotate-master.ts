import type { Db } from '../db.js';
import { CryptoError } from './crypto-error.js';
import { lockDataKeys, readDataKeys } from './data-keys-table.js';
import type { MasterKey } from './master-key.js';

export interface RotateMasterResult {
  /** Data keys re-wrapped from the old master key to the new one. */
  readonly rewrapped: number;
  /** Data keys already under the new master key (a rotation run again after a partial switch). */
  readonly alreadyNew: number;
  /** Data keys of a dev-mode master key: unreadable by anyone, left as they are. */
  readonly lost: number;
}

/**
 * Re-wraps every data key under `newKey`, in one transaction: afterwards a process started with
 * only the new key reads everything, and nothing in the store refers to the old key. The data
 * keys themselves do not change, so no ciphertext is rewritten and running processes, which
 * hold the unwrapped keys, keep decrypting. Refused, with nothing changed, when a data key is
 * wrapped under neither key or does not unwrap.
 */
export async function rotateMaster(
  db: Db,
  oldKey: MasterKey,
  newKey: MasterKey,
): Promise<RotateMasterResult> {
  if (newKey.ephemeral) {
    throw new CryptoError(
      'PCL_MASTER_KEY_INVALID',
      'the new master key is a dev-mode throwaway key: everything wrapped under it would be lost',
    );
  }
  if (newKey.id === oldKey.id) {
    throw new CryptoError(
      'PCL_MASTER_KEY_INVALID',
      `the new master key is the current one (${newKey.id}): create a new one with openssl rand -base64 32`,
    );
  }
  return db.transaction(async (tx) => {
    // No node creates a data key under the old master key while this runs.
    await lockDataKeys(tx);
    const rows = await readDataKeys(tx);
    let rewrapped = 0;
    let alreadyNew = 0;
    let lost = 0;
    for (const row of rows) {
      const { id, masterKeyId: masterId, wrapped } = row;
      if (masterId.startsWith('dev-')) {
        lost += 1;
        continue;
      }
      const under = masterId === newKey.id ? newKey : masterId === oldKey.id ? oldKey : undefined;
      if (under === undefined) {
        throw new CryptoError(
          'PCL_MASTER_KEY_MISMATCH',
          `data key ${id} is wrapped under master key ${masterId}, neither the current key (${oldKey.id}) nor the new one (${newKey.id}): nothing was changed`,
        );
      }
      const raw = under.unwrap(id, wrapped);
      if (raw === undefined) {
        throw new CryptoError(
          'PCL_MASTER_KEY_MISMATCH',
          `data key ${id} does not unwrap with master key ${masterId}: the data_keys row was altered; nothing was changed`,
        );
      }
      if (under === newKey) {
        raw.fill(0);
        alreadyNew += 1;
        continue;
      }
      const rewrappedBlob = newKey.wrap(id, raw);
      // Check the new wrapping before it replaces the only copy of this data key.
      const check = newKey.unwrap(id, rewrappedBlob);
      const ok = check?.equals(raw) === true;
      check?.fill(0);
      raw.fill(0);
      if (!ok) throw new Error(`re-wrapping data key ${id} did not round-trip`);
      const changed = await tx.run(
        'UPDATE data_keys SET wrapped = $1, master_key_id = $2 WHERE id = $3 AND master_key_id = $4',
        [rewrappedBlob, newKey.id, id, oldKey.id],
      );
      if (changed !== 1) throw new Error(`data key ${id} changed during the rotation`);
      rewrapped += 1;
    }
    return { rewrapped, alreadyNew, lost };
  });
}
