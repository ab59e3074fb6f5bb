import type { BatchResult, LimitCheck, LimitOutcome } from './limit-check.js';

/**
 * The wire format of the Redis limits: the Lua scripts, the arguments they take and the replies
 * they give. One call carries the checks of one request or of many (docs/limits.md, batching).
 *
 * KEYS: each key once, however many checks of the call name it.
 * ARGV: first five values per key, in the order of KEYS: kind (g gcra, w window, f fixed,
 * c concurrency), shadow (0/1), p1, p2, p3:
 *   g: interval ms, burst            w: limit, window ms, bucket ms
 *   f: limit, ttl ms                 c: limit, lease ms
 * then the number of requests; then, per request, its number of checks and two values per
 * check: the key's index (into KEYS) and its cost (a concurrency check: the lease's token,
 * its cost being 1).
 * A key names one policy (its name is part of the key), so what describes the policy is sent
 * once per key, not once per check.
 */
const PER_KEY = 5;

/**
 * Checks and consumes the requests of a call in order, atomically (a script runs alone), as if
 * each had come in a call of its own: a request sees what the requests before it consumed, and
 * a refused request consumes from none of its checks. Time is Redis's own (TIME), one instant
 * for the whole call. Each key is read once and written once per call, however many requests
 * name it: the state of every key lives in `st` while the call runs.
 * Returns, per request: admitted (0/1), then three integers per check: remaining, reset ms and
 * retry ms, which is 0 exactly when the check allowed the request (a refusal's retry is at
 * least 1 ms): fewer integers for Redis to encode and the client to parse.
 */
const CHECK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = {}
local function load(k)
  local key = KEYS[k]
  local b = (k - 1) * ${PER_KEY}
  local kind = ARGV[b + 1]
  local s = { kind = kind, shadow = ARGV[b + 2] == '1', p1 = tonumber(ARGV[b + 3]),
    p2 = tonumber(ARGV[b + 4]), p3 = tonumber(ARGV[b + 5]) }
  if kind == 'g' then
    s.tat = tonumber(redis.call('GET', key) or '0')
  elseif kind == 'w' then
    local oldest = math.floor((now - s.p2) / s.p3)
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
-- Per check of the request being decided; reused from request to request rather than three
-- new tables for every request of the call.
local ss, vs, apply = {}, {}, {}
local pos = #KEYS * ${PER_KEY} + 1
local requests = tonumber(ARGV[pos])
pos = pos + 1
for r = 1, requests do
  local n = tonumber(ARGV[pos])
  pos = pos + 1
  local head = #out + 1
  out[head] = 0
  local admitted = 1
  for i = 1, n do
    local k = tonumber(ARGV[pos])
    local s = st[k] or load(k)
    local v = ARGV[pos + 1]
    pos = pos + 2
    ss[i], vs[i], apply[i] = s, v, nil
    local kind, p1, p2 = s.kind, s.p1, s.p2
    local ok, remaining, reset, retry = false, 0, 0, 0
    if kind == 'g' then
      local cost = tonumber(v)
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
      local cost = tonumber(v)
      local bucketMs = s.p3
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
      local cost = tonumber(v)
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
    if not ok and not s.shadow then admitted = 0 end
    if not ok and retry < 1 then retry = 1 end
    out[#out + 1] = remaining
    out[#out + 1] = reset
    out[#out + 1] = retry
  end
  if admitted == 1 then
    for i = 1, n do
      local a = apply[i]
      if a ~= nil then
        local s, v = ss[i], vs[i]
        if s.kind == 'g' then
          s.tat = a
          s.dirty = true
        elseif s.kind == 'w' then
          local cost = tonumber(v)
          s.b[a] = (s.b[a] or 0) + cost
          s.add[a] = (s.add[a] or 0) + cost
          s.dirty = true
        elseif s.kind == 'f' then
          s.used = s.used + tonumber(v)
          s.add = s.add + tonumber(v)
        else
          s.held = s.held + 1
          s.add[#s.add + 1] = now + s.p2
          s.add[#s.add + 1] = v
        end
      end
    end
  end
  out[head] = admitted
end
for k, s in pairs(st) do
  local key = KEYS[k]
  if s.kind == 'g' then
    if s.dirty then
      redis.call('SET', key, string.format('%.3f', s.tat), 'PX', math.ceil(s.tat - now) + 1000)
    end
  elseif s.kind == 'w' then
    if #s.stale > 0 then redis.call('HDEL', key, unpack(s.stale)) end
    if s.dirty then
      for idx, c in pairs(s.add) do redis.call('HINCRBY', key, idx, c) end
      redis.call('PEXPIRE', key, s.p2 + s.p3 + 1000)
    end
  elseif s.kind == 'f' then
    if s.add > 0 then
      redis.call('INCRBY', key, s.add)
      redis.call('PEXPIRE', key, s.p2 + 60000)
    end
  elseif #s.add > 0 then
    redis.call('ZADD', key, unpack(s.add))
    redis.call('PEXPIRE', key, s.p2 + 1000)
  end
end
return out`;

/**
 * Takes back what admitted requests consumed (a local limit refused them after Redis admitted
 * them). The arguments of the check; returns the number of requests.
 */
const REFUND = `
local pos = #KEYS * ${PER_KEY} + 1
local requests = tonumber(ARGV[pos])
pos = pos + 1
for r = 1, requests do
  local n = tonumber(ARGV[pos])
  pos = pos + 1
  for i = 1, n do
    local k = tonumber(ARGV[pos])
    local v = ARGV[pos + 1]
    pos = pos + 2
    local key = KEYS[k]
    local b = (k - 1) * ${PER_KEY}
    local kind = ARGV[b + 1]
    if kind == 'g' then
      local tat = tonumber(redis.call('GET', key) or '0')
      local back = tonumber(v) * tonumber(ARGV[b + 3])
      if tat > 0 then redis.call('SET', key, string.format('%.3f', tat - back), 'KEEPTTL') end
    elseif kind == 'w' then
      local h = redis.call('HGETALL', key)
      local newest = nil
      for j = 1, #h, 2 do
        local idx = tonumber(h[j])
        if newest == nil or idx > newest then newest = idx end
      end
      if newest ~= nil then redis.call('HINCRBY', key, newest, -tonumber(v)) end
    elseif kind == 'f' then
      if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, tonumber(v)) end
    else
      redis.call('ZREM', key, v)
    end
  end
end
return requests`;

export const LIMITS_SCRIPTS = { check: CHECK, refund: REFUND } as const;

export class RedisLimitsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RedisLimitsError';
  }
}

/** The arguments of one call: the number of keys, the keys, then ARGV (unflattened). */
export type ScriptArgs = [number, string[], (string | number)[], (string | number)[]];

/** The arguments of one call for `requests` (each the checks of one request), in order. */
export function encodeRequests(
  prefix: string,
  requests: readonly (readonly LimitCheck[])[],
): ScriptArgs {
  const index = new Map<string, number>();
  const keys: string[] = [];
  const specs: (string | number)[] = [];
  const calls: (string | number)[] = [requests.length];
  for (const checks of requests) {
    calls.push(checks.length);
    for (const c of checks) {
      let k = index.get(c.key);
      if (k === undefined) {
        keys.push(prefix + c.key);
        k = keys.length;
        index.set(c.key, k);
        pushSpec(specs, c);
      }
      if (c.algorithm.kind === 'concurrency') calls.push(k, c.token ?? '');
      else calls.push(k, c.cost);
    }
  }
  return [keys.length, keys, specs, calls];
}

function pushSpec(specs: (string | number)[], c: LimitCheck): void {
  const shadow = c.shadow ? 1 : 0;
  const a = c.algorithm;
  if (a.kind === 'gcra') specs.push('g', shadow, a.intervalMs, a.burst, '');
  else if (a.kind === 'window') specs.push('w', shadow, a.limit, a.windowMs, a.bucketMs);
  else if (a.kind === 'fixed')
    // The period's end by this node's clock: a calendar boundary, where a few ms of skew
    // between nodes change nothing that matters.
    specs.push('f', shadow, a.limit, Math.max(1, a.endsAt - Date.now()), '');
  else specs.push('c', shadow, a.limit, a.leaseMs, '');
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
    for (let i = 0; i < checks.length; i++) {
      const [remaining, resetMs, retryMs] = [n(), n(), n()];
      outcomes.push({ allowed: retryMs === 0, remaining, resetMs, retryMs });
    }
    results.push({ admitted, outcomes });
  }
  if (at !== values.length) throw malformed();
  return results;
}
