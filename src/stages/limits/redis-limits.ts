import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BatchResult, Lease, LimitCheck, LimitOutcome } from './limit-check.js';

/**
 * Checks and consumes every Redis-backed limit of a request in one atomic round trip. Time is
 * Redis's own (TIME), so nodes whose clocks disagree still agree on every limit. Nothing is
 * written unless every enforced check passes: a refused request consumes from none.
 *
 * KEYS: one per check. ARGV[1]: the number of checks, then six per check:
 *   kind (g gcra, w window, f fixed, c concurrency), cost, shadow (0/1), p1, p2, p3
 *   g: interval ms, burst            w: limit, window ms, bucket ms
 *   f: limit, ttl ms                 c: limit, lease ms, token
 * Returns: admitted (0/1), then four integers per check: allowed, remaining, reset ms, retry ms.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local out = {}
local apply = {}
local admitted = 1
for i = 1, n do
  local b = 1 + (i - 1) * 6
  local kind = ARGV[b + 1]
  local cost = tonumber(ARGV[b + 2])
  local shadow = ARGV[b + 3] == '1'
  local p1 = tonumber(ARGV[b + 4])
  local p2 = tonumber(ARGV[b + 5])
  local key = KEYS[i]
  local ok, remaining, reset, retry = false, 0, 0, 0
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat < now then tat = now end
    local nxt = tat + cost * p1
    local allowAt = nxt - p2 * p1
    if allowAt <= now then
      ok = true
      remaining = math.floor((now - allowAt) / p1 + 1e-9)
      reset = math.ceil(nxt - now)
      apply[i] = nxt
    else
      remaining = math.floor((p2 * p1 - (tat - now)) / p1 + 1e-9)
      if remaining < 0 then remaining = 0 end
      reset = math.ceil(tat - now)
      retry = math.ceil(allowAt - now)
    end
  elseif kind == 'w' then
    local bucketMs = tonumber(ARGV[b + 6])
    local oldest = math.floor((now - p2) / bucketMs)
    local h = redis.call('HGETALL', key)
    local used = 0
    local counted = {}
    local stale = {}
    for j = 1, #h, 2 do
      local idx = tonumber(h[j])
      local c = tonumber(h[j + 1])
      if idx < oldest then stale[#stale + 1] = h[j]
      else
        used = used + c
        counted[#counted + 1] = { idx, c }
      end
    end
    if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
    table.sort(counted, function(x, y) return x[1] < y[1] end)
    local cur = math.floor(now / bucketMs)
    if used + cost <= p1 then
      ok = true
      remaining = p1 - used - cost
      reset = (cur + 1) * bucketMs + p2 - now
      apply[i] = cur
    else
      remaining = p1 - used
      if remaining < 0 then remaining = 0 end
      if #counted > 0 then reset = (counted[#counted][1] + 1) * bucketMs + p2 - now end
      retry = p2
      local freed = 0
      for j = 1, #counted do
        freed = freed + counted[j][2]
        if used - freed + cost <= p1 then
          retry = (counted[j][1] + 1) * bucketMs + p2 - now
          break
        end
      end
      if retry < 1 then retry = 1 end
    end
  elseif kind == 'f' then
    local used = tonumber(redis.call('GET', key) or '0')
    reset = p2
    if used + cost <= p1 then
      ok = true
      remaining = p1 - used - cost
      apply[i] = true
    else
      remaining = p1 - used
      if remaining < 0 then remaining = 0 end
      retry = p2
    end
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local held = redis.call('ZCARD', key)
    if held + 1 <= p1 then
      ok = true
      remaining = p1 - held - 1
      apply[i] = true
    else
      reset = 1000
      retry = 1000
    end
  end
  if not ok and not shadow then admitted = 0 end
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = remaining
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if admitted == 1 then
  for i = 1, n do
    local v = apply[i]
    if v ~= nil then
      local b = 1 + (i - 1) * 6
      local kind = ARGV[b + 1]
      local cost = tonumber(ARGV[b + 2])
      local p2 = tonumber(ARGV[b + 5])
      local key = KEYS[i]
      if kind == 'g' then
        redis.call('SET', key, string.format('%.3f', v), 'PX', math.ceil(v - now) + 1000)
      elseif kind == 'w' then
        local bucketMs = tonumber(ARGV[b + 6])
        redis.call('HINCRBY', key, v, cost)
        redis.call('PEXPIRE', key, p2 + bucketMs + 1000)
      elseif kind == 'f' then
        redis.call('INCRBY', key, cost)
        redis.call('PEXPIRE', key, p2 + 60000)
      elseif kind == 'c' then
        redis.call('ZADD', key, now + p2, ARGV[b + 6])
        redis.call('PEXPIRE', key, p2 + 1000)
      end
    end
  end
end
table.insert(out, 1, admitted)
return out`;

// Takes back an admitted batch (a local limit refused the request after Redis admitted it).
// Same arguments as the check.
const REFUND = `
local n = tonumber(ARGV[1])
for i = 1, n do
  local b = 1 + (i - 1) * 6
  local kind = ARGV[b + 1]
  local cost = tonumber(ARGV[b + 2])
  local p1 = tonumber(ARGV[b + 4])
  local key = KEYS[i]
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', key) or '0')
    if tat > 0 then redis.call('SET', key, string.format('%.3f', tat - cost * p1), 'KEEPTTL') end
  elseif kind == 'w' then
    local h = redis.call('HGETALL', key)
    local newest = nil
    for j = 1, #h, 2 do
      local idx = tonumber(h[j])
      if newest == nil or idx > newest then newest = idx end
    end
    if newest ~= nil then redis.call('HINCRBY', key, newest, -cost) end
  elseif kind == 'f' then
    if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, cost) end
  elseif kind == 'c' then
    redis.call('ZREM', key, ARGV[b + 6])
  end
end
return n`;

interface LimitsRedis extends Redis {
  pclLimitCheck(numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  pclLimitRefund(numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export class RedisLimitsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RedisLimitsError';
  }
}

function argsOf(prefix: string, checks: readonly LimitCheck[]): (string | number)[] {
  const keys: string[] = [];
  const argv: (string | number)[] = [checks.length];
  for (const c of checks) {
    keys.push(prefix + c.key);
    const shadow = c.shadow ? 1 : 0;
    const a = c.algorithm;
    if (a.kind === 'gcra') argv.push('g', c.cost, shadow, a.intervalMs, a.burst, '');
    else if (a.kind === 'window') argv.push('w', c.cost, shadow, a.limit, a.windowMs, a.bucketMs);
    else if (a.kind === 'fixed')
      // The period's end by this node's clock: a calendar boundary, where a few ms of skew between
      // nodes change nothing that matters.
      argv.push('f', c.cost, shadow, a.limit, Math.max(1, a.endsAt - Date.now()), '');
    else argv.push('c', 1, shadow, a.limit, a.leaseMs, c.token ?? '');
  }
  return [...keys, ...argv];
}

function parseReply(reply: unknown, count: number): BatchResult {
  if (!Array.isArray(reply) || reply.length !== 1 + 4 * count)
    throw new RedisLimitsError('unexpected reply from the limits script');
  const n = (i: number): number => {
    const v: unknown = reply[i];
    if (typeof v !== 'number')
      throw new RedisLimitsError('unexpected reply from the limits script');
    return v;
  };
  const outcomes: LimitOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const at = 1 + i * 4;
    outcomes.push({
      allowed: n(at) === 1,
      remaining: n(at + 1),
      resetMs: n(at + 2),
      retryMs: n(at + 3),
    });
  }
  return { admitted: n(0) === 1, outcomes };
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
    this.#redis.defineCommand('pclLimitCheck', { lua: SCRIPT });
    this.#redis.defineCommand('pclLimitRefund', { lua: REFUND });
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

  /** One atomic round trip; rejects with RedisLimitsError after `timeoutMs`. */
  consume(checks: readonly LimitCheck[], timeoutMs: number): Promise<BatchResult> {
    if (!this.ready) return Promise.reject(new RedisLimitsError('Redis is not connected'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#logSlow(timeoutMs);
        reject(new RedisLimitsError(`Redis did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#redis.pclLimitCheck(checks.length, ...argsOf(this.#prefix, checks)).then(
        (reply) => {
          clearTimeout(timer);
          try {
            resolve(parseReply(reply, checks.length));
          } catch (err) {
            reject(err instanceof Error ? err : new RedisLimitsError(String(err)));
          }
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new RedisLimitsError('the limits script failed', { cause: err }));
        },
      );
    });
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
    this.#redis
      .pclLimitRefund(checks.length, ...argsOf(this.#prefix, checks))
      .catch(() => undefined);
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
