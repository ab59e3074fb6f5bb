import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
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
import { ClusterError, closedError } from './cluster-error.js';
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
import { redisKeyLayout, type RedisKeyLayout } from './redis-key-layout.js';

export interface RedisClusterOptions {
  /** redis:// or rediss:// URL (state.cluster.redisUrl). */
  readonly url: string;
  /** state.cluster.keyPrefix. */
  readonly keyPrefix: string;
  /** Names this node's connections in CLIENT LIST: `<nodeName>:cmd` and `<nodeName>:sub`. */
  readonly nodeName?: string;
  /** Longest wait for one Redis command, connection loss included, before it fails. */
  readonly commandTimeoutMs?: number;
  /** Longest wait of `ready()` and `mirrorSet()`. */
  readonly readyTimeoutMs?: number;
  /** How often every mirrored set is compared with Redis, repairing a missed message. */
  readonly resyncIntervalMs?: number;
  /** How often expired members are dropped from the mirrors (`has` checks expiry itself). */
  readonly pruneIntervalMs?: number;
}

const DEFAULTS = {
  commandTimeoutMs: 500,
  readyTimeoutMs: 5_000,
  resyncIntervalMs: 10_000,
  pruneIntervalMs: 1_000,
};
/** A failed resync or subscription is retried this much later. */
const RETRY_MS = 1_000;
/** Members read per ZSCAN page during a resync: each page is one short command. */
const SCAN_COUNT = 1_000;

interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

const lua = (source: string): LuaScript => ({
  lua: source,
  sha: createHash('sha1').update(source).digest('hex'),
});

// One round trip, atomic. PTTL < 0 means no expiry yet: set it on the first increment only,
// so a busy key never lives forever and a window is never extended.
const INCREMENT = lua(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`);

// KEYS: the key added to, then the others counted along. ARGV: ttl, members. PFADD with no
// member still creates the key, so the expiry is only set when there is something to count.
const ADD_DISTINCT = lua(`
if #ARGV > 1 then
  redis.call('PFADD', KEYS[1], unpack(ARGV, 2))
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
end
return redis.call('PFCOUNT', unpack(KEYS))`);

// KEYS: set, version. ARGV: member, score (expiry or +inf), now, channel, payload.
// The change, its version and its message are one atomic step, so versions on the channel
// arrive in order and a gap means a message was missed. Expired members are pruned here and
// at every resync: nothing else deletes them in Redis.
const MARK = lua(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], v .. '|' .. ARGV[5])
return v`);

// KEYS: set, version. ARGV: member, channel, payload. Nothing is published when nothing changed.
const UNMARK = lua(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], v .. '|' .. ARGV[3])
return v`);

interface Change {
  readonly version: number;
  readonly add: boolean;
  readonly member: string;
  readonly expiresAt: Expiry;
}

interface MirroredSet {
  readonly name: string;
  readonly mirror: MarkedSetMirror;
  readonly channel: string;
  /**
   * The last change version applied from the channel or a resync; undefined until the first
   * resync and after the subscriber connection was lost (a resync is then on its way).
   */
  version: number | undefined;
  loaded: boolean;
  /** Set while a resync runs: the changes received meanwhile, replayed over its snapshot. */
  inflight: Change[] | undefined;
  /** Another resync was asked for while one ran. */
  again: boolean;
  retry: NodeJS.Timeout | undefined;
}

interface Waiter {
  readonly done: () => boolean;
  readonly resolve: () => void;
  readonly reject: (err: ClusterError) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Cluster state in Redis, shared by every node. One connection runs commands, another only
 * receives messages. Each mirrored set is kept in memory on every node (so `has` never waits):
 * a change is written and published in one Lua script, every node applies the message within
 * milliseconds, and a resync (on every reconnect, on a gap in versions, every
 * `resyncIntervalMs`) repairs whatever a lost message left behind.
 */
export class RedisClusterState implements ClusterState {
  readonly kind = 'redis' as const;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #layout: RedisKeyLayout;
  readonly #opts: typeof DEFAULTS;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #sets = new Map<string, MirroredSet>();
  readonly #setsByChannel = new Map<string, MirroredSet>();
  readonly #changes: NamedListeners<SetChange>;
  readonly #handlers: NamedListeners<string>;
  readonly #health: Listeners<boolean>;
  readonly #waiters = new Set<Waiter>();
  readonly #resyncTimer: NodeJS.Timeout;
  readonly #pruneTimer: NodeJS.Timeout;
  #attachRetry: NodeJS.Timeout | undefined;
  #subscribed = false;
  #healthy = false;
  #everHealthy = false;
  #errorLogged = false;
  #closed = false;

  constructor(opts: RedisClusterOptions, deps: { clock: Clock; log: Logger }) {
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#layout = redisKeyLayout(opts.keyPrefix);
    this.#opts = {
      commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      readyTimeoutMs: opts.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
      resyncIntervalMs: opts.resyncIntervalMs ?? DEFAULTS.resyncIntervalMs,
      pruneIntervalMs: opts.pruneIntervalMs ?? DEFAULTS.pruneIntervalMs,
    };
    const onError = (err: unknown): void =>
      this.#log.error({ err }, 'cluster state: a listener failed');
    this.#changes = new NamedListeners(onError);
    this.#handlers = new NamedListeners(onError);
    this.#health = new Listeners(onError);

    const nodeName = opts.nodeName ?? `portcullis-${hostname()}-${process.pid}`;
    const common: RedisOptions = {
      // A dead Redis must never hang a caller: every command, queued while reconnecting or
      // sent, fails after this long.
      commandTimeout: this.#opts.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      // A command whose connection dropped fails instead of being sent again after the
      // reconnect: an increment or a change is applied at most once.
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(this.#opts.commandTimeoutMs, 2_000),
      // Reconnect forever, quickly at first: the instance recovers without a restart.
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    };
    this.#cmd = new Redis(opts.url, { ...common, connectionName: `${nodeName}:cmd` });
    // Subscriptions are renewed by #attach after each reconnect, followed by a resync.
    this.#sub = new Redis(opts.url, {
      ...common,
      connectionName: `${nodeName}:sub`,
      autoResubscribe: false,
    });

    this.#cmd.on('error', (err: unknown) => this.#connectionError('command', err));
    this.#sub.on('error', (err: unknown) => this.#connectionError('subscriber', err));
    this.#cmd.on('ready', () => this.#updateHealth());
    this.#cmd.on('close', () => this.#updateHealth());
    this.#sub.on('ready', () => void this.#attach([...this.#sets.values()], this.#allChannels()));
    this.#sub.on('close', () => {
      this.#subscribed = false;
      // Messages may be lost until the resync that follows the next subscription.
      for (const set of this.#sets.values()) set.version = undefined;
      this.#updateHealth();
    });
    this.#sub.on('message', (channel: string, message: string) =>
      this.#onMessage(channel, message),
    );

    this.#resyncTimer = setInterval(() => {
      if (!this.#healthy) return; // reconnecting: the resync after it is on its way
      for (const set of this.#sets.values()) void this.#resync(set);
    }, this.#opts.resyncIntervalMs);
    this.#resyncTimer.unref();
    this.#pruneTimer = setInterval(() => {
      for (const set of this.#sets.values()) set.mirror.prune();
    }, this.#opts.pruneIntervalMs);
    this.#pruneTimer.unref();
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  onHealthChange(listener: HealthListener): Unsubscribe {
    return this.#health.add(listener);
  }

  ready(): Promise<void> {
    return this.#waitUntil(
      () => this.#healthy && [...this.#sets.values()].every((s) => s.loaded),
      'ready',
    );
  }

  async increment(key: string, by: number, ttlMs: number): Promise<number> {
    checkKey(key);
    checkIncrement(by);
    checkTtl(ttlMs);
    const n = await this.#command('increment', () =>
      this.#eval(INCREMENT, [this.#layout.valueKey(key)], [by, ttlMs]),
    );
    if (typeof n !== 'number') throw unexpectedReply('increment');
    return n;
  }

  async addDistinct(
    key: string,
    members: readonly string[],
    ttlMs: number,
    alsoCount: readonly string[] = [],
  ): Promise<number> {
    checkKey(key);
    checkTtl(ttlMs);
    checkDistinct(members, alsoCount);
    const keys = [key, ...alsoCount].map((k) => this.#layout.valueKey(k));
    const n = await this.#command('addDistinct', () =>
      this.#eval(ADD_DISTINCT, keys, [ttlMs, ...members]),
    );
    if (typeof n !== 'number') throw unexpectedReply('addDistinct');
    return n;
  }

  async get(key: string): Promise<string | undefined> {
    checkKey(key);
    const value = await this.#command('get', () => this.#cmd.get(this.#layout.valueKey(key)));
    return value ?? undefined;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkKey(key);
    checkPayload('value', value);
    if (ttlMs !== undefined) checkTtl(ttlMs);
    const k = this.#layout.valueKey(key);
    await this.#command('set', () =>
      ttlMs === undefined ? this.#cmd.set(k, value) : this.#cmd.set(k, value, 'PX', ttlMs),
    );
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const n = await this.#command('delete', () => this.#cmd.del(this.#layout.valueKey(key)));
    return n > 0;
  }

  async mirrorSet(name: string): Promise<void> {
    checkName('set', name);
    if (this.#closed) throw closedError('mirrorSet');
    let set = this.#sets.get(name);
    if (set === undefined) {
      set = {
        name,
        mirror: new MarkedSetMirror(name, this.#clock, (change) =>
          this.#changes.emit(name, change),
        ),
        channel: this.#layout.setChannel(name),
        version: undefined,
        loaded: false,
        inflight: undefined,
        again: false,
        retry: undefined,
      };
      this.#sets.set(name, set);
      this.#setsByChannel.set(set.channel, set);
      // Not connected yet: the subscriber's 'ready' attaches every declared set.
      if (this.#sub.status === 'ready') void this.#attach([set], [set.channel]);
    }
    const declared = set;
    await this.#waitUntil(() => declared.loaded, 'mirrorSet');
  }

  async markSet(name: string, member: string, ttlMs?: number): Promise<void> {
    checkName('set', name);
    checkMember(member);
    if (ttlMs !== undefined) checkTtl(ttlMs);
    const now = this.#clock.now();
    const expiresAt = ttlMs === undefined ? Infinity : now + ttlMs;
    const payload = JSON.stringify(['+', member, ttlMs === undefined ? null : expiresAt]);
    const score = ttlMs === undefined ? '+inf' : String(expiresAt);
    await this.#command('markSet', () =>
      this.#eval(
        MARK,
        [this.#layout.setKey(name), this.#layout.setVersionKey(name)],
        [member, score, now, this.#layout.setChannel(name), payload],
      ),
    );
    // Seen here at once; the message that follows changes nothing.
    this.#sets.get(name)?.mirror.add(member, expiresAt, 'write');
  }

  async unmarkSet(name: string, member: string): Promise<void> {
    checkName('set', name);
    checkMember(member);
    const payload = JSON.stringify(['-', member, null]);
    await this.#command('unmarkSet', () =>
      this.#eval(
        UNMARK,
        [this.#layout.setKey(name), this.#layout.setVersionKey(name)],
        [member, this.#layout.setChannel(name), payload],
      ),
    );
    this.#sets.get(name)?.mirror.remove(member, 'write');
  }

  has(name: string, member: string): boolean {
    const set = this.#sets.get(name);
    if (set === undefined) throw notMirrored(name);
    return set.mirror.has(member);
  }

  onChange(name: string, listener: SetChangeListener): Unsubscribe {
    if (!this.#sets.has(name)) throw notMirrored(name);
    return this.#changes.add(name, listener);
  }

  async publish(channel: string, message: string): Promise<void> {
    checkName('channel', channel);
    checkPayload('message', message);
    await this.#command('publish', () =>
      this.#cmd.publish(this.#layout.userChannel(channel), message),
    );
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<Unsubscribe> {
    checkName('channel', channel);
    if (this.#closed) throw closedError('subscribe');
    const redisChannel = this.#layout.userChannel(channel);
    const remove = this.#handlers.add(channel, handler);
    const unsubscribe = (): void => {
      remove();
      if (this.#handlers.count(channel) === 0 && !this.#closed) {
        this.#sub.unsubscribe(redisChannel).catch(() => undefined);
      }
    };
    try {
      await this.#command('subscribe', () => this.#sub.subscribe(redisChannel));
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#healthy = false;
    clearInterval(this.#resyncTimer);
    clearInterval(this.#pruneTimer);
    clearTimeout(this.#attachRetry);
    for (const set of this.#sets.values()) clearTimeout(set.retry);
    for (const waiter of [...this.#waiters]) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError('wait'));
    }
    this.#waiters.clear();
    await Promise.all([quit(this.#cmd), quit(this.#sub)]);
  }

  /** Runs one Redis call, turning any failure into a ClusterError that carries no argument. */
  async #command<T>(op: string, call: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError(op);
    try {
      return await call();
    } catch (err) {
      throw toClusterError(op, err);
    }
  }

  async #eval(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await this.#cmd.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // The script cache is empty after a Redis restart or SCRIPT FLUSH: send the source once.
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return await this.#cmd.eval(script.lua, keys.length, ...keys, ...args);
    }
  }

  #allChannels(): string[] {
    const userChannels = this.#handlers.names().map((c) => this.#layout.userChannel(c));
    return [...this.#setsByChannel.keys(), ...userChannels];
  }

  /**
   * Subscribes, then resyncs: a change made after the SUBSCRIBE is answered arrives as a
   * message, one made before is in the snapshot, so nothing falls between the two.
   */
  async #attach(sets: MirroredSet[], channels: string[]): Promise<void> {
    if (this.#closed) return;
    const all = sets.length === this.#sets.size;
    try {
      if (channels.length > 0) await this.#sub.subscribe(...channels);
    } catch (err) {
      if (this.#closed) return;
      this.#log.warn(
        { err: describe(err) },
        'cluster state: subscribing to Redis failed; retrying',
      );
      clearTimeout(this.#attachRetry);
      this.#attachRetry = setTimeout(() => {
        if (this.#sub.status === 'ready') {
          void this.#attach([...this.#sets.values()], this.#allChannels());
        }
      }, RETRY_MS);
      this.#attachRetry.unref();
      return;
    }
    if (all || this.#subscribed) {
      this.#subscribed = true;
      this.#updateHealth();
    }
    for (const set of sets) void this.#resync(set);
  }

  /**
   * Replaces a mirror with Redis's copy: the version first, then the members page by page
   * (ZSCAN returns every member present for the whole scan), then the changes received
   * meanwhile with a later version, so the result is Redis's state at the last of them.
   */
  async #resync(set: MirroredSet): Promise<void> {
    if (this.#closed) return;
    if (set.inflight !== undefined) {
      set.again = true;
      return;
    }
    clearTimeout(set.retry);
    set.retry = undefined;
    set.inflight = [];
    let failed = false;
    try {
      const now = this.#clock.now();
      const key = this.#layout.setKey(set.name);
      const replies = await this.#command('resync', () =>
        this.#cmd
          .multi()
          .zremrangebyscore(key, '-inf', now)
          .get(this.#layout.setVersionKey(set.name))
          .exec(),
      );
      const versionReply = replies?.[1];
      if (versionReply === undefined || versionReply[0] !== null) throw unexpectedReply('resync');
      const base = Number(versionReply[1] ?? 0);
      const members = new Map<string, Expiry>();
      let cursor = '0';
      do {
        const [next, flat] = await this.#command('resync', () =>
          this.#cmd.zscan(key, cursor, 'COUNT', SCAN_COUNT),
        );
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const expiresAt = parseScore(flat[i + 1] as string);
          if (expiresAt > now) members.set(flat[i] as string, expiresAt);
        }
        cursor = next;
      } while (cursor !== '0');
      let version = base;
      for (const change of set.inflight) {
        if (change.version <= base) continue;
        if (change.add) members.set(change.member, change.expiresAt);
        else members.delete(change.member);
        version = Math.max(version, change.version);
      }
      set.mirror.replace(members, 'resync');
      set.version = version;
      set.loaded = true;
      this.#notify();
    } catch (err) {
      failed = true;
      if (this.#closed) return;
      if (this.#healthy) {
        this.#log.warn(
          { set: set.name, err: describe(err) },
          'cluster state: resync failed; retrying',
        );
      }
      set.retry = setTimeout(() => void this.#resync(set), RETRY_MS);
      set.retry.unref();
    } finally {
      set.inflight = undefined;
      if (set.again) {
        set.again = false;
        if (!failed) void this.#resync(set);
      }
    }
  }

  #onMessage(channel: string, message: string): void {
    const set = this.#setsByChannel.get(channel);
    if (set !== undefined) {
      this.#onSetMessage(set, message);
      return;
    }
    const name = this.#layout.userChannelName(channel);
    if (name !== undefined) this.#handlers.emit(name, message);
  }

  #onSetMessage(set: MirroredSet, message: string): void {
    const change = parseChange(message);
    if (change === undefined) {
      // Not written by Portcullis (or a newer one): say so and trust Redis's copy instead.
      this.#log.warn({ set: set.name }, 'cluster state: unreadable change message; resyncing');
      void this.#resync(set);
      return;
    }
    set.inflight?.push(change);
    if (set.version !== undefined) {
      if (change.version <= set.version) return; // already applied (or older than a resync)
      if (change.version > set.version + 1) void this.#resync(set); // a message was missed
      set.version = change.version;
    }
    if (change.add) set.mirror.add(change.member, change.expiresAt, 'write');
    else set.mirror.remove(change.member, 'write');
  }

  #updateHealth(): void {
    const healthy = !this.#closed && this.#cmd.status === 'ready' && this.#subscribed;
    if (healthy === this.#healthy || this.#closed) return;
    this.#healthy = healthy;
    if (healthy) {
      this.#log.info(
        this.#everHealthy
          ? 'cluster state: Redis is back; mirrors are being resynced'
          : 'cluster state: connected to Redis',
      );
      this.#everHealthy = true;
      this.#errorLogged = false;
    } else {
      this.#log.warn(
        'cluster state: lost Redis; commands fail with PCL_CLUSTER_UNAVAILABLE and marked sets answer from their last state until it returns',
      );
    }
    this.#health.emit(healthy);
    this.#notify();
  }

  #connectionError(connection: string, err: unknown): void {
    // ioredis reports every failed reconnect: log the first of an outage, not each retry.
    if (this.#closed) return;
    const fields = { connection, err: describe(err) };
    if (this.#errorLogged) {
      this.#log.debug(fields, 'cluster state: Redis connection error');
    } else {
      this.#errorLogged = true;
      this.#log.warn(fields, 'cluster state: Redis connection error; reconnecting');
    }
  }

  #waitUntil(done: () => boolean, op: string): Promise<void> {
    if (this.#closed) return Promise.reject(closedError(op));
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const ms = this.#opts.readyTimeoutMs;
      const waiter: Waiter = {
        done,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new ClusterError(
              'PCL_CLUSTER_UNAVAILABLE',
              `cluster state: Redis was not ready within ${ms} ms (${op}); check state.cluster.redisUrl and the Redis server; the gateway keeps retrying`,
            ),
          );
        }, ms),
      };
      this.#waiters.add(waiter);
    });
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) {
      if (!waiter.done()) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      waiter.resolve();
    }
  }
}

function parseScore(score: string): Expiry {
  return score === 'inf' || score === '+inf' ? Infinity : Number(score);
}

/** `<version>|["+", member, expiresAt | null]` or `<version>|["-", member, null]`. */
function parseChange(message: string): Change | undefined {
  const bar = message.indexOf('|');
  if (bar < 1) return undefined;
  const version = Number(message.slice(0, bar));
  if (!Number.isSafeInteger(version) || version < 1) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(message.slice(bar + 1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(body) || body.length !== 3) return undefined;
  const [op, member, expiry] = body as unknown[];
  if (typeof member !== 'string' || member.length === 0) return undefined;
  if (op === '-') return { version, add: false, member, expiresAt: 0 };
  if (op !== '+') return undefined;
  if (expiry === null) return { version, add: true, member, expiresAt: Infinity };
  if (typeof expiry !== 'number' || !Number.isFinite(expiry)) return undefined;
  return { version, add: true, member, expiresAt: expiry };
}

// Redis replies that mean "not now" rather than "never": the server is starting, busy, a
// replica, or refuses our credentials.
const UNAVAILABLE_REPLIES = new Set([
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'READONLY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'NOAUTH',
  'WRONGPASS',
]);

/** The library's error without what it carries of the command (ioredis attaches its arguments). */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // Some Redis replies quote the command's arguments ("unknown command 'x', with args ..."):
  // keep what comes before the first quote.
  return (message.split(/['"`]/)[0] ?? '').trim().slice(0, 160);
}

function toClusterError(op: string, err: unknown): ClusterError {
  if (err instanceof ClusterError) return err;
  const what = describe(err);
  if (err instanceof Error && err.name === 'ReplyError') {
    const code = /^[A-Z]+/.exec(what)?.[0] ?? 'ERR';
    if (!UNAVAILABLE_REPLIES.has(code)) {
      return new ClusterError(
        'PCL_CLUSTER_COMMAND_FAILED',
        `cluster state: Redis refused ${op}: ${what}`,
      );
    }
  }
  return new ClusterError(
    'PCL_CLUSTER_UNAVAILABLE',
    `cluster state: Redis did not answer ${op} (${what}); check state.cluster.redisUrl and the Redis server; the gateway reconnects by itself`,
  );
}

function unexpectedReply(op: string): ClusterError {
  return new ClusterError(
    'PCL_CLUSTER_COMMAND_FAILED',
    `cluster state: unexpected Redis reply to ${op}`,
  );
}

async function quit(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
