import type { Logger } from 'pino';
import type { Clock } from '../../gateway/stage.js';
import {
  checkDistinct,
  checkIncrement,
  checkKey,
  checkMember,
  checkName,
  checkPayload,
  checkTtl,
  notMirrored,
} from './argument-checks.js';
import { ClusterError, closedError as closed } from './cluster-error.js';
import type {
  ClusterState,
  HealthListener,
  MessageHandler,
  SetChange,
  SetChangeListener,
  Unsubscribe,
} from './cluster-state.js';
import { Listeners, NamedListeners } from './listeners.js';
import { MarkedSetMirror, type Expiry } from './marked-set-mirror.js';

export interface MemoryClusterOptions {
  /** How often expired values and set members are forgotten (they read as absent anyway). */
  readonly pruneIntervalMs?: number;
}

interface Entry {
  value: string;
  expiresAt: Expiry;
}

interface DistinctEntry {
  readonly members: Set<string>;
  readonly expiresAt: number;
}

/** Members counted per distinct key in process: a bound where Redis has its 12 KiB HyperLogLog. */
const MAX_DISTINCT_MEMBERS = 65_536;

interface LocalSet {
  readonly mirror: MarkedSetMirror;
  mirrored: boolean;
}

// Like Redis INCRBY: a decimal integer with no sign on zero and no leading zeros.
const INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

/**
 * Cluster state in this process, for a single node: nothing is shared, every call answers at
 * once, and "every node" is this one. It behaves like the Redis implementation so that a stage
 * tested against it works unchanged on several nodes.
 */
export class MemoryClusterState implements ClusterState {
  readonly kind = 'memory' as const;
  readonly #clock: Clock;
  readonly #values = new Map<string, Entry>();
  readonly #distinct = new Map<string, DistinctEntry>();
  readonly #sets = new Map<string, LocalSet>();
  readonly #changes: NamedListeners<SetChange>;
  readonly #channels: NamedListeners<string>;
  readonly #health: Listeners<boolean>;
  readonly #pruneTimer: NodeJS.Timeout;
  #closed = false;

  constructor(deps: { clock: Clock; log: Logger }, opts: MemoryClusterOptions = {}) {
    this.#clock = deps.clock;
    const onError = (err: unknown): void =>
      deps.log.error({ err }, 'cluster state: a listener failed');
    this.#changes = new NamedListeners(onError);
    this.#channels = new NamedListeners(onError);
    this.#health = new Listeners(onError);
    this.#pruneTimer = setInterval(() => this.#prune(), opts.pruneIntervalMs ?? 1000);
    this.#pruneTimer.unref();
  }

  get healthy(): boolean {
    return !this.#closed;
  }

  onHealthChange(listener: HealthListener): Unsubscribe {
    // In process the state is never lost, so the listener is never called; kept for the contract.
    return this.#health.add(listener);
  }

  ready(): Promise<void> {
    return answer(() => {
      if (this.#closed) throw closed('ready');
    });
  }

  increment(key: string, by: number, ttlMs: number): Promise<number> {
    return answer(() => {
      checkKey(key);
      checkIncrement(by);
      checkTtl(ttlMs);
      if (this.#closed) throw closed('increment');
      const now = this.#clock.now();
      if (this.#liveDistinct(key, now) !== undefined) {
        throw failed('increment', 'the value at the key is not an integer');
      }
      const entry = this.#live(key, now);
      if (entry === undefined) {
        this.#values.set(key, { value: String(by), expiresAt: now + ttlMs });
        return by;
      }
      if (!INTEGER.test(entry.value)) {
        throw failed('increment', 'the value at the key is not an integer');
      }
      const next = Number(entry.value) + by;
      if (!Number.isSafeInteger(next)) {
        throw failed('increment', 'the counter would overflow');
      }
      entry.value = String(next);
      if (!Number.isFinite(entry.expiresAt)) entry.expiresAt = now + ttlMs;
      return next;
    });
  }

  addDistinct(
    key: string,
    members: readonly string[],
    ttlMs: number,
    alsoCount: readonly string[] = [],
  ): Promise<number> {
    return answer(() => {
      checkKey(key);
      checkTtl(ttlMs);
      checkDistinct(members, alsoCount);
      if (this.#closed) throw closed('addDistinct');
      const now = this.#clock.now();
      if (this.#live(key, now) !== undefined) {
        throw failed('addDistinct', 'the key holds a counter or a value');
      }
      let entry = this.#liveDistinct(key, now);
      if (entry === undefined && members.length > 0) {
        entry = { members: new Set(), expiresAt: now + ttlMs };
        this.#distinct.set(key, entry);
      }
      for (const m of members) {
        if (entry === undefined || entry.members.size >= MAX_DISTINCT_MEMBERS) break;
        entry.members.add(m);
      }
      const union = new Set(entry?.members);
      for (const other of alsoCount) {
        for (const m of this.#liveDistinct(other, now)?.members ?? []) union.add(m);
      }
      return union.size;
    });
  }

  get(key: string): Promise<string | undefined> {
    return answer(() => {
      checkKey(key);
      if (this.#closed) throw closed('get');
      return this.#live(key, this.#clock.now())?.value;
    });
  }

  set(key: string, value: string, ttlMs?: number): Promise<void> {
    return answer(() => {
      checkKey(key);
      checkPayload('value', value);
      if (ttlMs !== undefined) checkTtl(ttlMs);
      if (this.#closed) throw closed('set');
      const expiresAt = ttlMs === undefined ? Infinity : this.#clock.now() + ttlMs;
      this.#distinct.delete(key);
      this.#values.set(key, { value, expiresAt });
    });
  }

  delete(key: string): Promise<boolean> {
    return answer(() => {
      checkKey(key);
      if (this.#closed) throw closed('delete');
      const now = this.#clock.now();
      const existed =
        this.#live(key, now) !== undefined || this.#liveDistinct(key, now) !== undefined;
      this.#values.delete(key);
      this.#distinct.delete(key);
      return existed;
    });
  }

  mirrorSet(name: string): Promise<void> {
    return answer(() => {
      checkName('set', name);
      if (this.#closed) throw closed('mirrorSet');
      this.#set(name).mirrored = true;
    });
  }

  markSet(name: string, member: string, ttlMs?: number): Promise<void> {
    return answer(() => {
      checkName('set', name);
      checkMember(member);
      if (ttlMs !== undefined) checkTtl(ttlMs);
      if (this.#closed) throw closed('markSet');
      const expiresAt = ttlMs === undefined ? Infinity : this.#clock.now() + ttlMs;
      this.#set(name).mirror.add(member, expiresAt, 'write');
    });
  }

  unmarkSet(name: string, member: string): Promise<void> {
    return answer(() => {
      checkName('set', name);
      checkMember(member);
      if (this.#closed) throw closed('unmarkSet');
      this.#sets.get(name)?.mirror.remove(member, 'write');
    });
  }

  has(name: string, member: string): boolean {
    return this.#mirrored(name).mirror.has(member);
  }

  onChange(name: string, listener: SetChangeListener): Unsubscribe {
    this.#mirrored(name);
    return this.#changes.add(name, listener);
  }

  publish(channel: string, message: string): Promise<void> {
    return answer(() => {
      checkName('channel', channel);
      checkPayload('message', message);
      if (this.#closed) throw closed('publish');
      // Delivered later, never inside the publisher's call, as with Redis.
      queueMicrotask(() => this.#channels.emit(channel, message));
    });
  }

  subscribe(channel: string, handler: MessageHandler): Promise<Unsubscribe> {
    return answer(() => {
      checkName('channel', channel);
      if (this.#closed) throw closed('subscribe');
      return this.#channels.add(channel, handler);
    });
  }

  close(): Promise<void> {
    return answer(() => {
      this.#closed = true;
      clearInterval(this.#pruneTimer);
    });
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#values.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry;
    this.#values.delete(key);
    return undefined;
  }

  #liveDistinct(key: string, now: number): DistinctEntry | undefined {
    const entry = this.#distinct.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry;
    this.#distinct.delete(key);
    return undefined;
  }

  #set(name: string): LocalSet {
    let set = this.#sets.get(name);
    if (set === undefined) {
      set = {
        mirror: new MarkedSetMirror(name, this.#clock, (change) =>
          this.#changes.emit(name, change),
        ),
        mirrored: false,
      };
      this.#sets.set(name, set);
    }
    return set;
  }

  #mirrored(name: string): LocalSet {
    const set = this.#sets.get(name);
    if (set === undefined || !set.mirrored) throw notMirrored(name);
    return set;
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [key, entry] of this.#values) {
      if (entry.expiresAt <= now) this.#values.delete(key);
    }
    for (const [key, entry] of this.#distinct) {
      if (entry.expiresAt <= now) this.#distinct.delete(key);
    }
    for (const set of this.#sets.values()) set.mirror.prune();
  }
}

function failed(op: string, why: string): ClusterError {
  return new ClusterError('PCL_CLUSTER_COMMAND_FAILED', `cluster state: ${op} refused: ${why}`);
}

/** Runs `fn` now and answers through a promise: a failure rejects instead of throwing, as with Redis. */
function answer<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}
