import type { BatchResult, LimitCheck, LimitOutcome } from './limit-check.js';

/**
 * The wire format of the Redis limits: the Lua scripts, the arguments they take and the replies
 * they give. One call carries the checks of one request or of many (docs/limits.md, batching).
 *
 * KEYS: each key once, however many checks of the call name it.
 * ARGV[1]: the number of requests; then, per request, its number of checks and seven values per
 * check: key index (into KEYS), kind (g gcra, w window, f fixed, c concurrency), cost,
 * shadow (0/1), p1, p2, p3:
 *   g: interval ms, burst            w: limit, window ms, bucket ms
 *   f: limit, ttl ms                 c: limit, lease ms, token
 */
const PER_CHECK = 7;

/**
 * Checks and consumes the requests of a call in order, atomically (a script runs alone), as if
 * each had come in a call of its own: a request sees what the requests before it consumed, and
 * a refused request consumes from none of its checks. Time is Redis's own (TIME), one instant
 * for the whole call. Each key is read once and written once per call, however many requests
 * name it: the state of every key lives in `st` while the call runs.
 * Returns, per request: admitted (0/1), then four integers per check: allowed, remaining,
 * reset ms, retry ms.
 */
const CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = {}
local function load(k, kind, p2, p3)
  local key = KEYS[k]
  local s = { kind = kind }
  if kind == 'g' then
    s.tat = tonumber(redis.call('GET', key) or '0')
  elseif kind == 'w' then
    local oldest = math.floor((now - p2) / p3)
    local h = redis.call('HGETALL', key)
    s.b, s.add, s.stale = {}, {}, {}
    for j = 1, #h, 2 do
      local idx = tonumber(h[j])
      if idx < oldest then s.stale[#s.stale + 1] = h[j]
      else s.b[idx] = tonumber(h[j + 1]) end
    end
  elseif kind == 'f' then
    s.used = tonumber(redis.call('GET', key) or '0')
    s.add = 0
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    s.held = redis.call('ZCARD', key)
    s.add = {}
  end
  st[k] = s
  return s
end
local out = {}
local pos = 2
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[pos])
  pos = pos + 1
  local head = #out + 1
  out[head] = 0
  local admitted = 1
  local apply = {}
  for i = 1, n do
    local b = pos + (i - 1) * ${PER_CHECK}
    local k = tonumber(ARGV[b])
    local kind = ARGV[b + 1]
    local cost = tonumber(ARGV[b + 2])
    local p1 = tonumber(ARGV[b + 4])
    local p2 = tonumber(ARGV[b + 5])
    local s = st[k] or load(k, kind, p2, tonumber(ARGV[b + 6]))
    local ok, remaining, reset, retry = false, 0, 0, 0
    if kind == 'g' then
      local tat = s.tat
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
      local cur = math.floor(now / bucketMs)
      local used = 0
      for idx, c in pairs(s.b) do
        if idx >= oldest then used = used + c end
      end
      if used + cost <= p1 then
        ok = true
        remaining = p1 - used - cost
        reset = (cur + 1) * bucketMs + p2 - now
        apply[i] = cur
      else
        remaining = p1 - used
        if remaining < 0 then remaining = 0 end
        local counted = {}
        for idx, c in pairs(s.b) do
          if idx >= oldest then counted[#counted + 1] = { idx, c } end
        end
        table.sort(counted, function(x, y) return x[1] < y[1] end)
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
      reset = p2
      if s.used + cost <= p1 then
        ok = true
        remaining = p1 - s.used - cost
        apply[i] = true
      else
        remaining = p1 - s.used
        if remaining < 0 then remaining = 0 end
        retry = p2
      end
    else
      if s.held + 1 <= p1 then
        ok = true
        remaining = p1 - s.held - 1
        apply[i] = true
      else
        reset = 1000
        retry = 1000
      end
    end
    if not ok and ARGV[b + 3] ~= '1' then admitted = 0 end
    out[#out + 1] = ok and 1 or 0
    out[#out + 1] = remaining
    out[#out + 1] = reset
    out[#out + 1] = retry
  end
  if admitted == 1 then
    for i = 1, n do
      local v = apply[i]
      if v ~= nil then
        local b = pos + (i - 1) * ${PER_CHECK}
        local s = st[tonumber(ARGV[b])]
        local cost = tonumber(ARGV[b + 2])
        local p2 = tonumber(ARGV[b + 5])
        if s.kind == 'g' then
          s.tat = v
          s.dirty = true
        elseif s.kind == 'w' then
          s.b[v] = (s.b[v] or 0) + cost
          s.add[v] = (s.add[v] or 0) + cost
          s.ttl = p2 + tonumber(ARGV[b + 6]) + 1000
        elseif s.kind == 'f' then
          s.used = s.used + cost
          s.add = s.add + cost
          if s.ttl == nil or p2 + 60000 > s.ttl then s.ttl = p2 + 60000 end
        else
          s.held = s.held + 1
          s.add[#s.add + 1] = now + p2
          s.add[#s.add + 1] = ARGV[b + 6]
          s.ttl = p2 + 1000
        end
      end
    end
  end
  out[head] = admitted
  pos = pos + n * ${PER_CHECK}
end
for k, s in pairs(st) do
  local key = KEYS[k]
  if s.kind == 'g' then
    if s.dirty then
      redis.call('SET', key, string.format('%.3f', s.tat), 'PX', math.ceil(s.tat - now) + 1000)
    end
  elseif s.kind == 'w' then
    if #s.stale > 0 then redis.call('HDEL', key, unpack(s.stale)) end
    if s.ttl ~= nil then
      for idx, c in pairs(s.add) do redis.call('HINCRBY', key, idx, c) end
      redis.call('PEXPIRE', key, s.ttl)
    end
  elseif s.kind == 'f' then
    if s.add > 0 then
      redis.call('INCRBY', key, s.add)
      redis.call('PEXPIRE', key, s.ttl)
    end
  elseif #s.add > 0 then
    redis.call('ZADD', key, unpack(s.add))
    redis.call('PEXPIRE', key, s.ttl)
  end
end
return out`;

/**
 * Takes back what admitted requests consumed (a local limit refused them after Redis admitted
 * them). The arguments of the check; returns the number of requests.
 */
const REFUND = `
local pos = 2
local requests = tonumber(ARGV[1])
for r = 1, requests do
  local n = tonumber(ARGV[pos])
  pos = pos + 1
  for i = 1, n do
    local b = pos + (i - 1) * ${PER_CHECK}
    local key = KEYS[tonumber(ARGV[b])]
    local kind = ARGV[b + 1]
    local cost = tonumber(ARGV[b + 2])
    local p1 = tonumber(ARGV[b + 4])
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
  pos = pos + n * ${PER_CHECK}
end
return requests`;

export const LIMITS_SCRIPTS = { check: CHECK, refund: REFUND } as const;

export class RedisLimitsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RedisLimitsError';
  }
}

/**
 * The arguments of one call for `requests` (each the checks of one request), in order: the
 * number of keys, the keys, then ARGV.
 */
export function encodeRequests(
  prefix: string,
  requests: readonly (readonly LimitCheck[])[],
): [number, ...(string | number)[]] {
  const index = new Map<string, number>();
  const keys: string[] = [];
  const argv: (string | number)[] = [requests.length];
  for (const checks of requests) {
    argv.push(checks.length);
    for (const c of checks) {
      let k = index.get(c.key);
      if (k === undefined) {
        keys.push(prefix + c.key);
        k = keys.length;
        index.set(c.key, k);
      }
      const shadow = c.shadow ? 1 : 0;
      const a = c.algorithm;
      if (a.kind === 'gcra') argv.push(k, 'g', c.cost, shadow, a.intervalMs, a.burst, '');
      else if (a.kind === 'window')
        argv.push(k, 'w', c.cost, shadow, a.limit, a.windowMs, a.bucketMs);
      else if (a.kind === 'fixed')
        // The period's end by this node's clock: a calendar boundary, where a few ms of skew
        // between nodes change nothing that matters.
        argv.push(k, 'f', c.cost, shadow, a.limit, Math.max(1, a.endsAt - Date.now()), '');
      else argv.push(k, 'c', 1, shadow, a.limit, a.leaseMs, c.token ?? '');
    }
  }
  return [keys.length, ...keys, ...argv];
}

const malformed = (): RedisLimitsError =>
  new RedisLimitsError('unexpected reply from the limits script');

/** The result of each request of a call, from the script's reply. */
export function decodeReply(
  reply: unknown,
  requests: readonly (readonly LimitCheck[])[],
): BatchResult[] {
  if (!Array.isArray(reply)) throw malformed();
  const values: readonly unknown[] = reply;
  let at = 0;
  const n = (): number => {
    const v = values[at++];
    if (typeof v !== 'number') throw malformed();
    return v;
  };
  const results: BatchResult[] = [];
  for (const checks of requests) {
    const admitted = n() === 1;
    const outcomes: LimitOutcome[] = [];
    for (let i = 0; i < checks.length; i++)
      outcomes.push({ allowed: n() === 1, remaining: n(), resetMs: n(), retryMs: n() });
    results.push({ admitted, outcomes });
  }
  if (at !== values.length) throw malformed();
  return results;
}
