import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Db } from '../db.js';
import { IV_BYTES, KEY_BYTES, open, seal, TAG_BYTES } from './aes-gcm.js';
import { CryptoError } from './crypto-error.js';
import { lockDataKeys, readDataKeys } from './data-keys-table.js';
import type { MasterKey } from './master-key.js';

/** Where a ciphertext belongs: it decrypts only there. */
export interface AssociatedData {
  readonly table: string;
  readonly row: string;
  readonly column: string;
}

const VERSION = 'pcl1';
const KEY_ID = /^[0-9a-f]{16}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

// One message for every cause (malformed, unknown version or key, wrong key, altered bytes,
// another row): a caller, or whoever reads its errors, learns nothing about which check failed.
const DECRYPT_FAILED =
  'the value cannot be decrypted: it is damaged, altered, or belongs elsewhere';

function decryptFailed(): CryptoError {
  return new CryptoError('PCL_DECRYPT_FAILED', DECRYPT_FAILED);
}

interface DataKey {
  readonly key: KeyObject;
  readonly createdAt: number;
  retired: boolean;
}

/**
 * The data keys, unwrapped once and kept in memory. Values are encrypted with AES-256-GCM under
 * the active data key into `pcl1.<keyId>.<iv>.<ciphertext+tag>` (base64url), with the version,
 * the key id and the value's table, row and column as associated data.
 *
 * Because unwrapped keys stay cached, a running process keeps decrypting after
 * `portcullis keys rotate-master` re-wraps the keys under a new master key (a live reader); it
 * needs the new master key only when it restarts.
 */
export class KeyRing {
  readonly #db: Db;
  readonly #master: MasterKey;
  readonly #now: () => number;
  readonly #keys = new Map<string, DataKey>();
  #activeId = '';
  #refreshing: Promise<void> | undefined;

  private constructor(db: Db, master: MasterKey, now: () => number) {
    this.#db = db;
    this.#master = master;
    this.#now = now;
  }

  /**
   * Loads and unwraps every data key; creates the first one in an empty store. Refuses
   * (PCL_MASTER_KEY_MISMATCH) when a data key is wrapped under another master key: a process
   * that cannot read all of the store's secrets does not start.
   */
  static async open(db: Db, master: MasterKey, now: () => number = Date.now): Promise<KeyRing> {
    const ring = new KeyRing(db, master, now);
    await ring.#load(true);
    if (ring.#activeId === '') {
      await ring.#addKey(false);
      await ring.#load(true);
    }
    if (ring.#activeId === '') throw new Error('key ring opened without an active data key');
    return ring;
  }

  /** The data key new values are encrypted under. */
  get activeKeyId(): string {
    return this.#activeId;
  }

  /** The master key this ring was opened with. */
  get masterKeyId(): string {
    return this.#master.id;
  }

  encrypt(plaintext: Buffer | string, ad: AssociatedData): string {
    if (!validAd(ad))
      throw new TypeError('associated data needs a non-empty table, row and column');
    const entry = this.#keys.get(this.#activeId);
    if (entry === undefined) throw new Error('key ring has no active data key');
    const iv = randomBytes(IV_BYTES);
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const sealed = seal(entry.key, iv, data, valueAad(this.#activeId, ad));
    return `${VERSION}.${this.#activeId}.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
  }

  /**
   * The plaintext of a value `encrypt` produced for the same table, row and column. A key id this
   * ring does not hold (another node rotated the data key) reloads the keys once. Every failure
   * is the same PCL_DECRYPT_FAILED.
   */
  async decrypt(ciphertext: string, ad: AssociatedData): Promise<Buffer> {
    const parsed = parse(ciphertext);
    if (parsed === undefined || !validAd(ad)) throw decryptFailed();
    let entry = this.#keys.get(parsed.keyId);
    if (entry === undefined) {
      await this.refresh();
      entry = this.#keys.get(parsed.keyId);
      if (entry === undefined) throw decryptFailed();
    }
    const plaintext = open(entry.key, parsed.iv, parsed.sealed, valueAad(parsed.keyId, ad));
    if (plaintext === undefined) throw decryptFailed();
    return plaintext;
  }

  /**
   * A new active data key; the old ones are marked retired (no longer used to encrypt) and still
   * decrypt. Returns the new key's id. Refused when the store's keys have been re-wrapped under
   * another master key since this ring opened: restart with the new master key first.
   */
  async rotateDataKey(): Promise<string> {
    const id = await this.#addKey(true);
    await this.#load(false);
    return id;
  }

  /**
   * Reads data keys added or retired by other processes. Keys already in memory stay (even when
   * they are now wrapped under a master key this process does not have); new keys this master
   * key cannot unwrap are left out.
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#load(false).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #load(strict: boolean): Promise<void> {
    const foreign = new Set<string>();
    for (const row of await readDataKeys(this.#db)) {
      const { id, masterKeyId: masterId, retired } = row;
      const known = this.#keys.get(id);
      if (known !== undefined) {
        known.retired = retired;
        continue;
      }
      // Dev-mode master keys are never written down: what they wrapped is gone for good.
      if (isLost(masterId, this.#master)) continue;
      const raw = masterId === this.#master.id ? this.#master.unwrap(id, row.wrapped) : undefined;
      if (raw === undefined) {
        if (masterId === this.#master.id && strict) {
          throw new CryptoError(
            'PCL_MASTER_KEY_MISMATCH',
            `data key ${id} is recorded under master key ${masterId} but does not unwrap with it: the data_keys row was altered`,
          );
        }
        foreign.add(masterId);
        continue;
      }
      this.#keys.set(id, {
        key: createSecretKey(raw),
        createdAt: row.createdAt,
        retired,
      });
      raw.fill(0);
    }
    if (strict && foreign.size > 0) {
      throw new CryptoError(
        'PCL_MASTER_KEY_MISMATCH',
        `the store's data keys are wrapped under master key ${[...foreign].sort().join(', ')}, not under this master key (${this.#master.id}): start with the key they were wrapped with, or finish \`portcullis keys rotate-master\``,
      );
    }
    this.#activeId = newestActive(this.#keys) ?? this.#activeId;
  }

  /**
   * Inserts a new data key wrapped under this ring's master key, in one transaction that holds
   * the key ring lock. `rotate`: retire the others; otherwise (the first key) insert only if no
   * active key under this master key exists by now (another node may have just created one).
   */
  #addKey(rotate: boolean): Promise<string> {
    return this.#db.transaction(async (tx) => {
      await lockDataKeys(tx);
      const rows = await readDataKeys(tx);
      const foreign = rows
        .map((r) => r.masterKeyId)
        .filter((m) => m !== this.#master.id && !isLost(m, this.#master));
      if (foreign.length > 0) {
        // A data key wrapped under the old master key after rotate-master would be unreadable
        // to every process started with the new one.
        throw new CryptoError(
          'PCL_MASTER_KEY_MISMATCH',
          `the store's data keys are now wrapped under master key ${[...new Set(foreign)].sort().join(', ')}, not ${this.#master.id}: restart with the current master key before creating data keys`,
        );
      }
      if (!rotate) {
        const usable = rows.find((r) => r.masterKeyId === this.#master.id && !r.retired);
        if (usable !== undefined) return usable.id;
      }
      const id = randomBytes(8).toString('hex');
      const raw = randomBytes(KEY_BYTES);
      // Strictly after every existing key: the newest key is the active one, even within a ms.
      const createdAt = Math.max(this.#now(), ...rows.map((r) => r.createdAt + 1));
      await tx.run(
        'INSERT INTO data_keys (id, wrapped, master_key_id, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)',
        [id, this.#master.wrap(id, raw), this.#master.id, createdAt],
      );
      raw.fill(0);
      if (rotate) {
        await tx.run('UPDATE data_keys SET retired_at = $1 WHERE retired_at IS NULL AND id <> $2', [
          createdAt,
          id,
        ]);
      }
      return id;
    });
  }
}

function isLost(masterKeyId: string, current: MasterKey): boolean {
  return masterKeyId.startsWith('dev-') && masterKeyId !== current.id;
}

function newestActive(keys: ReadonlyMap<string, DataKey>): string | undefined {
  let best: [string, DataKey] | undefined;
  for (const entry of keys) {
    if (entry[1].retired) continue;
    if (
      best === undefined ||
      entry[1].createdAt > best[1].createdAt ||
      (entry[1].createdAt === best[1].createdAt && entry[0] > best[0])
    ) {
      best = entry;
    }
  }
  return best?.[0];
}

function validAd(ad: AssociatedData): boolean {
  return [ad.table, ad.row, ad.column].every((v) => typeof v === 'string' && v !== '');
}

/**
 * JSON of an array of strings is injective (lone surrogates are escaped), so no two different
 * (table, row, column) triples give the same bytes: `a.b`/`c` cannot pose as `a`/`b.c`.
 */
function valueAad(keyId: string, ad: AssociatedData): Buffer {
  return Buffer.from(JSON.stringify([VERSION, keyId, ad.table, ad.row, ad.column]), 'utf8');
}

interface Parsed {
  readonly keyId: string;
  readonly iv: Buffer;
  readonly sealed: Buffer;
}

/** The parts of `pcl1.<keyId>.<iv>.<sealed>`, or undefined for anything not exactly that. */
function parse(text: unknown): Parsed | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const [version, keyId, iv, sealed] = parts as [string, string, string, string];
  if (version !== VERSION || !KEY_ID.test(keyId)) return undefined;
  const ivBytes = strictBase64url(iv);
  const sealedBytes = strictBase64url(sealed);
  if (ivBytes?.length !== IV_BYTES || sealedBytes === undefined || sealedBytes.length < TAG_BYTES) {
    return undefined;
  }
  return { keyId, iv: ivBytes, sealed: sealedBytes };
}

/**
 * Base64url without padding, in its one canonical spelling: Node's decoder skips characters it
 * does not know and ignores a last character's unused bits, so two strings could decode alike.
 */
function strictBase64url(text: string): Buffer | undefined {
  if (!B64URL.test(text)) return undefined;
  const decoded = Buffer.from(text, 'base64url');
  return decoded.toString('base64url') === text ? decoded : undefined;
}
