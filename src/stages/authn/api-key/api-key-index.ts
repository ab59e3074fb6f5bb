import type { Logger } from 'pino';
import type { Clock } from '../../../gateway/stage.js';
import type { ClusterState } from '../../../state/cluster/cluster-state.js';
import { ApiKeyHmac } from '../../../state/consumers/api-key-hmac.js';
import { ApiKeyStore, type StoredApiKey } from '../../../state/consumers/api-key-store.js';
import {
  API_KEYS_CHANNEL,
  REVOKED_API_KEYS_SET,
} from '../../../state/consumers/change-announcements.js';
import type { KeyRing } from '../../../state/crypto/key-ring.js';
import type { Db } from '../../../state/db.js';
import { StoreFollower } from '../../../state/store-follower.js';

/** What the API key authenticator asks of the keys, all answered from memory. */
export interface ApiKeyLookup {
  /** The keyed hash (HMAC-SHA-256 under the server key) of a presented key. */
  digest(apiKey: string): Buffer;
  /** The stored key whose hash is `digest`; undefined when there is none. */
  find(digest: Buffer): StoredApiKey | undefined;
  /** Whether a node marked the key revoked in cluster state (a revocation not yet read). */
  revokedInCluster(keyId: string): boolean;
  /** The current record of a key that matched before; undefined when it did not. */
  recall(apiKey: string): StoredApiKey | undefined;
  /** Remembers that `apiKey` matched `key`, so that its next use skips the parse and HMAC. */
  remember(apiKey: string, key: StoredApiKey): void;
}

export interface ApiKeyIndexDeps {
  readonly db: Db;
  readonly cluster: ClusterState;
  /** The key ring that decrypts the secret store: the server key is a secret. */
  readonly keyRing: KeyRing;
  readonly clock: Clock;
  readonly log: Logger;
  /** The longest time between two reads of the store (default 500 ms). */
  readonly pollIntervalMs?: number;
}

const PAGE = 1000;
/** Keys remembered as matched; a miss only costs the parse and HMAC again. */
const MAX_MATCHED = 10_000;

/**
 * Every API key of the store, in memory by hash, so that checking a key never waits on the
 * store: loaded when the gateway starts, then kept in sync by change marker (a read at least
 * every 500 ms, and at once when the CLI or another node announces a change). Revoked,
 * expired and rotated keys stay in it, so that a refusal names why. A revocation is also
 * checked against cluster state's mirrored set, which every node sees within one second.
 */
export class ApiKeyIndex implements ApiKeyLookup {
  readonly #hmac: ApiKeyHmac;
  readonly #cluster: ClusterState;
  readonly #byHash = new Map<string, StoredApiKey>();
  /**
   * Keys that matched a stored hash, by their text, to the hash: a repeat caller skips parsing
   * and the HMAC. Only keys that exist get in (a guess never does, so a flood of guesses cannot
   * evict the callers), and what a hit returns is the record as the store has it now, so a
   * revocation or expiry still applies. It holds keys in use in memory, as serving them does
   * anyway (docs/security.md). Bounded: the oldest entry goes first.
   */
  readonly #matched = new Map<string, string>();
  #seen = 0;
  #follower: StoreFollower | undefined;

  private constructor(hmac: ApiKeyHmac, cluster: ClusterState) {
    this.#hmac = hmac;
    this.#cluster = cluster;
  }

  /**
   * Loads the server key (creating it in an empty store) and every key, mirrors the revoked
   * set, and starts following the store. Rejects when the store cannot be read: call it once
   * at gateway start, after the state is open; `close` it before the state closes.
   */
  static async open(deps: ApiKeyIndexDeps): Promise<ApiKeyIndex> {
    const { db, cluster, log } = deps;
    const hmac = await ApiKeyHmac.load(db, deps.keyRing, () => deps.clock.now());
    try {
      await cluster.mirrorSet(REVOKED_API_KEYS_SET);
    } catch (err) {
      // The set stays declared and loads once Redis is back; revocations in the store are
      // still read every 500 ms meanwhile.
      log.warn(
        { event: 'authn.revoked_set_unavailable', err: err instanceof Error ? err.message : '' },
        'revoked API keys are not yet mirrored from cluster state; relying on the store',
      );
    }
    const index = new ApiKeyIndex(hmac, cluster);
    const store = new ApiKeyStore(db);
    index.#follower = await StoreFollower.start({
      name: 'api keys',
      pull: () => index.#pull(store),
      cluster,
      channel: API_KEYS_CHANNEL,
      intervalMs: deps.pollIntervalMs ?? 500,
      log,
    });
    return index;
  }

  async #pull(store: ApiKeyStore): Promise<void> {
    for (;;) {
      const rows = await store.changedSince(this.#seen, PAGE);
      for (const row of rows) {
        // A key's hash never changes: a later write of the same key replaces its record.
        this.#byHash.set(row.hash.toString('hex'), row);
        this.#seen = row.changeSeq;
      }
      if (rows.length < PAGE) return;
    }
  }

  digest(apiKey: string): Buffer {
    return this.#hmac.digest(apiKey);
  }

  find(digest: Buffer): StoredApiKey | undefined {
    return this.#byHash.get(digest.toString('hex'));
  }

  /** The record of a key that matched before (see `remember`), or undefined. */
  recall(apiKey: string): StoredApiKey | undefined {
    const hex = this.#matched.get(apiKey);
    return hex === undefined ? undefined : this.#byHash.get(hex);
  }

  /** Remembers that `apiKey` matched `key` (after a constant-time comparison of digests). */
  remember(apiKey: string, key: StoredApiKey): void {
    if (this.#matched.size >= MAX_MATCHED) {
      const oldest = this.#matched.keys().next();
      if (oldest.done !== true) this.#matched.delete(oldest.value);
    }
    this.#matched.set(apiKey, key.hash.toString('hex'));
  }

  revokedInCluster(keyId: string): boolean {
    return this.#cluster.has(REVOKED_API_KEYS_SET, keyId);
  }

  /** How many keys are held (every state). */
  get size(): number {
    return this.#byHash.size;
  }

  /** Reads the store now; resolves once this node's copy has every change made before. */
  refresh(): Promise<void> {
    return this.#follower?.refresh() ?? Promise.resolve();
  }

  /** Stops following the store; the copy keeps answering. */
  async close(): Promise<void> {
    await this.#follower?.close();
  }
}
