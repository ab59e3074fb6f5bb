import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CheckCoalescer, type Decided } from './check-coalescer.js';
import type { BatchResult, Lease, LimitCheck } from './limit-check.js';
import {
  decodeReply,
  encodeRequests,
  LIMITS_SCRIPTS,
  RedisLimitsError,
  type ScriptArgs,
} from './redis-limits-script.js';

export { RedisLimitsError } from './redis-limits-script.js';

/** ioredis flattens the argument lists (one level) into the command's arguments. */
interface LimitsRedis extends Redis {
  pclLimitCheck(...args: ScriptArgs): Promise<unknown>;
  pclLimitRefund(...args: ScriptArgs): Promise<unknown>;
}

/**
 * The Redis backend. Commands never wait in an offline queue: while Redis is down a check fails
 * at once, and a slow answer is given up after the policy's timeout; either way the policy's
 * `onBackendFailure` decides. The connection comes back by itself.
 */
export class RedisLimits {
  readonly #redis: LimitsRedis;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #checks: CheckCoalescer;
  #errorLogged = false;
  #slowLoggedAt = -Infinity;

  constructor(opts: { url: string; keyPrefix: string; log: Logger }) {
    this.#prefix = `${opts.keyPrefix}rl:`;
    this.#log = opts.log;
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      connectTimeout: 2_000,
      connectionName: `portcullis-limits-${process.pid}`,
      // Reconnect forever, quickly: shared limiting resumes as soon as Redis is back.
      retryStrategy: (times) => Math.min(times * 50, 500),
    }) as LimitsRedis;
    this.#redis.defineCommand('pclLimitCheck', { lua: LIMITS_SCRIPTS.check });
    this.#redis.defineCommand('pclLimitRefund', { lua: LIMITS_SCRIPTS.refund });
    this.#checks = new CheckCoalescer({
      send: (requests) => {
        const { args, runs } = encodeRequests(this.#prefix, requests);
        return this.#redis
          .pclLimitCheck(...args)
          .then((reply) => decodeReply(reply, requests, runs));
      },
      ready: () => this.ready,
      onTimeout: (timeoutMs) => this.#logSlow(timeoutMs),
    });
    this.#redis.on('error', (err: unknown) => {
      if (this.#errorLogged) return;
      this.#errorLogged = true;
      this.#log.warn({ err }, 'rate limits: Redis unavailable; onBackendFailure applies');
    });
    this.#redis.on('ready', () => {
      if (this.#errorLogged) this.#log.info('rate limits: Redis is back; shared limits resume');
      this.#errorLogged = false;
    });
  }

  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Waits up to `ms` for the first connection; limits work (by their failure policy) without. */
  waitReady(ms: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#redis.once('ready', done);
    });
  }

  /**
   * Decides a request's checks atomically, in one round trip that concurrent requests share
   * (CheckCoalescer); rejects with RedisLimitsError `timeoutMs` after the call at the latest.
   */
  consume(checks: readonly LimitCheck[], timeoutMs: number): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      this.check(checks, timeoutMs, (err, result) => {
        if (result !== undefined) resolve(result);
        else reject(err ?? new RedisLimitsError('no result from the limits script'));
      });
    });
  }

  /** As `consume`, with a callback: the limits stage makes the only promise of its request. */
  check(checks: readonly LimitCheck[], timeoutMs: number, done: Decided): void {
    if (!this.ready) done(new RedisLimitsError('Redis is not connected'), undefined);
    else this.#checks.submit(checks, timeoutMs, done);
  }

  /** A slow Redis is said at most every 10 s: during an outage every request would say it. */
  #logSlow(timeoutMs: number): void {
    const now = performance.now();
    if (now - this.#slowLoggedAt < 10_000) return;
    this.#slowLoggedAt = now;
    this.#log.warn(
      { timeoutMs },
      'rate limits: Redis answers too slowly; onBackendFailure applies',
    );
  }

  /** Best effort: a refund that cannot be made leaves the limit stricter, never looser. */
  refund(checks: readonly LimitCheck[]): void {
    if (!this.ready || checks.length === 0) return;
    const { args } = encodeRequests(this.#prefix, [checks]);
    this.#redis.pclLimitRefund(...args).catch(() => undefined);
  }

  release(leases: readonly Lease[]): void {
    if (!this.ready || leases.length === 0) return;
    const multi = this.#redis.multi();
    for (const l of leases) multi.zrem(this.#prefix + l.key, l.token);
    multi.exec().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
    return Promise.resolve();
  }
}
