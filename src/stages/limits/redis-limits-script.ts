import type { BatchResult, LimitCheck, LimitOutcome } from './limit-check.js';

/**
 * The wire format of the Redis limits: the Lua scripts, the arguments they take and the replies
 * they give. One call carries the checks of one request or of many (docs/limits.md, batching).
 *
 * KEYS: each key once, however many checks of the call name it.
 * ARGV[1]: one string of tokens separated by spaces, so that a call is a few arguments however
 * many requests it carries (ioredis and Redis both pay per argument). First five tokens per key,
 * in the order of KEYS: kind (g gcra, w window, f fixed, c concurrency), shadow (0/1), p1, p2, p3:
 *   g: interval ms, burst, 0         w: limit, window ms, bucket ms
 *   f: limit, ttl ms, 0              c: limit, lease ms, 0
 * then one record per request: its number of checks and two tokens per check: the key's index
 * (into KEYS) and its cost (a concurrency check: the lease's token, its cost being 1). A record
 * whose first token is negative, -r, stands for r consecutive requests with the same checks
 * (the same keys and costs, no lease): its number of checks and its checks follow once. A hot
 * key under load then costs a few tokens per call rather than a few per request.
 * A key names one policy (its name is part of the key), so what describes the policy is sent
 * once per key, not once per check.
 */
const PER_KEY = 5;

/**
 * Splits ARGV[1] into `tok` (its `nt` tokens); `pos` is the first token after the keys, where
 * `record()` reads each record's head.
 */
const TOKENS = `
local tok, nt = {}, 0
for w in string.gmatch(ARGV[1], '%S+') do
  nt = nt + 1
  tok[nt] = w
end
local pos = #KEYS * ${PER_KEY} + 1
-- Reads the head of the record at pos: how many requests it stands for and its number of
-- checks; pos moves to its first check.
local function record()
  local n, times = tonumber(tok[pos]), 1
  if n < 0 then
    times, n = -n, tonumber(tok[pos + 1])
    pos = pos + 1
  end
  pos = pos + 1
  return times, n
end`;

/**
 * Redis's clock in integer microseconds (exact in a double until the year 2255) and in whole
 * ms. A GCRA key stores its debt when written: how far its theoretical arrival time ran ahead of
 * that time, in intervals, packed as a byte 1 and two doubles (written µs, debt): packing costs
 * Lua less than formatting and parsing decimal text, once per key per call. Whole requests add
 * whole units, exactly. Kept as an absolute time in ms (about 1.8e12), it would lose what a
 * fast limit adds per request (an interval of 1e-6 ms is below its precision). `debtOf` reads a
 * key's debt now: below zero once it was idle longer than it owed; a decimal number (which
 * never starts with byte 1) is an absolute time in ms, as an earlier version wrote it; anything
 * else is unreadable (nil).
 *
 * `readable` runs a command that fails on a key of another type. Such a key, and one whose
 * value the script cannot read (see `load`), holds what no limit wrote (a hand edit, another
 * application under the same prefix): it is deleted and counted afresh, rather than failing the
 * call, which would fail every request the call carries, of every client.
 */
const CLOCK = `
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(nowUs / 1000)
local function debtOf(v, interval)
  if not v then return 0 end
  if string.byte(v, 1) ~= 1 then
    local ms = tonumber(v)
    if ms == nil then return nil end
    return (ms - now) / interval
  end
  if #v ~= 17 then return nil end
  local _, at, d = struct.unpack('<Bdd', v)
  return d - (nowUs - at) / 1000 / interval
end
local function readable(key, ...)
  local v = redis.pcall(...)
  if type(v) == 'table' and v.err then
    redis.call('DEL', key)
    return false
  end
  return v
end
local function saveDebt(key, debt, ...)
  redis.call('SET', key, struct.pack('<Bdd', 1, nowUs, debt), ...)
end`;

/**
 * Checks and consumes the requests of a call in order, atomically (a script runs alone), as if
 * each had come in a call of its own: a request sees what the requests before it consumed, and
 * a refused request consumes from none of its checks. Time is Redis's own (TIME), one instant
 * for the whole call. Each key is read once and written once per call, however many requests
 * name it: the state of every key lives in `st` while the call runs; a GCRA key's `debt` is
 * its theoretical arrival time less now, in intervals.
 * Returns integers, per record: for a single request, admitted (0/1), then three per check:
 * remaining, reset ms and retry ms, which is 0 exactly when the check allowed the request (a
 * refusal's retry is at least 1 ms); for a run, the number of its requests admitted (they come
 * first), then the three values per check of its first admitted request (when one was) and of
 * its refused ones (when one was). Redis writes integers cheaply; Lua formats numbers as text
 * slowly, and a run costs the same however long it is.
 */
const CHECK = `${CLOCK}${TOKENS}
local floor, ceil = math.floor, math.ceil
local st = {}
local function load(k)
  local key = KEYS[k]
  local b = (k - 1) * ${PER_KEY}
  local kind = tok[b + 1]
  local s = { kind = kind, shadow = tok[b + 2] == '1', p1 = tonumber(tok[b + 3]),
    p2 = tonumber(tok[b + 4]), p3 = tonumber(tok[b + 5]) }
  if kind == 'g' then
    s.debt = debtOf(readable(key, 'GET', key), s.p1)
    if s.debt == nil then
      redis.call('DEL', key)
      s.debt = 0
    end
  elseif kind == 'w' then
    local oldest = math.floor((now - s.p2) / s.p3)
    local h = readable(key, 'HGETALL', key) or {}
    s.b, s.add, s.stale, s.used = {}, {}, {}, 0
    for j = 1, #h, 2 do
      local idx, c = tonumber(h[j]), tonumber(h[j + 1])
      -- A field no limit wrote (not two integers) goes with the stale ones.
      if idx == nil or c == nil or c ~= floor(c) or idx < oldest then s.stale[#s.stale + 1] = h[j]
      else
        s.b[idx] = c
        s.used = s.used + c
      end
    end
  elseif kind == 'f' then
    local used = tonumber(readable(key, 'GET', key) or '0')
    if used == nil or used ~= floor(used) then
      redis.call('DEL', key)
      used = 0
    end
    s.used, s.add = used, 0
  else
    readable(key, 'ZREMRANGEBYSCORE', key, '-inf', now)
    s.held = redis.call('ZCARD', key)
    s.add = {}
  end
  st[k] = s
  return s
end
local out, no = {}, 0
-- The checks of the record being decided, read once however many requests it stands for:
-- state, token and cost per check; apply is what an admitted request writes.
local ss, vs, cs, apply = {}, {}, {}, {}
local function read(p, n)
  for i = 1, n do
    local k = tonumber(tok[p])
    ss[i], vs[i], cs[i] = st[k] or load(k), tok[p + 1], tonumber(tok[p + 1])
    p = p + 2
  end
  return p
end
-- Decides one request: writes three values per check, returns 1 when admitted (then consumed).
local function decide(n)
  local admitted = 1
  for i = 1, n do
    local s, cost = ss[i], cs[i]
    apply[i] = nil
    local kind, p1, p2 = s.kind, s.p1, s.p2
    local ok, remaining, reset, retry = false, 0, 0, 0
    if kind == 'g' then
      local tat = s.debt
      if tat < 0 then tat = 0 end
      local nxt = tat + cost
      local allowAt = nxt - p2
      if allowAt <= 0 then
        ok = true
        remaining = floor(-allowAt + 1e-9)
        reset = ceil(nxt * p1)
        apply[i] = nxt
      else
        remaining = floor(p2 - tat + 1e-9)
        if remaining < 0 then remaining = 0 end
        reset = ceil(tat * p1)
        retry = ceil(allowAt * p1)
      end
    elseif kind == 'w' then
      local bucketMs = s.p3
      local oldest = floor((now - p2) / bucketMs)
      local cur = floor(now / bucketMs)
      local used = s.used
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
    if not ok and not s.shadow then admitted = 0 end
    if not ok and retry < 1 then retry = 1 end
    out[no + 1], out[no + 2], out[no + 3] = remaining, reset, retry
    no = no + 3
  end
  if admitted == 1 then
    for i = 1, n do
      local a = apply[i]
      if a ~= nil then
        local s, cost = ss[i], cs[i]
        if s.kind == 'g' then
          s.debt = a
          s.dirty = true
        elseif s.kind == 'w' then
          s.b[a] = (s.b[a] or 0) + cost
          s.add[a] = (s.add[a] or 0) + cost
          s.used = s.used + cost
          s.dirty = true
        elseif s.kind == 'f' then
          s.used = s.used + cost
          s.add = s.add + cost
        else
          s.held = s.held + 1
          s.add[#s.add + 1] = now + s.p2
          s.add[#s.add + 1] = vs[i]
        end
      end
    end
  end
  return admitted
end
-- How many more requests of this cost the key would admit now.
local function capacity(s, cost)
  local kind = s.kind
  if kind == 'g' then
    local tat = s.debt
    if tat < 0 then tat = 0 end
    return floor((s.p2 - tat) / cost + 1e-9)
  elseif kind == 'w' or kind == 'f' then
    return floor((s.p1 - s.used) / cost)
  end
  return 1
end
-- Consumes what so many more admitted requests of this cost take, at once.
local function consume(s, cost, times)
  local units = times * cost
  if s.kind == 'g' then
    s.debt = s.debt + units
  elseif s.kind == 'w' then
    local cur = floor(now / s.p3)
    s.b[cur] = (s.b[cur] or 0) + units
    s.add[cur] = (s.add[cur] or 0) + units
    s.used = s.used + units
  elseif s.kind == 'f' then
    s.used = s.used + units
    s.add = s.add + units
  end
end
while pos <= nt do
  local times, n = record()
  pos = read(pos, n)
  local head = no + 1
  no = head
  if times == 1 then
    out[head] = decide(n)
  else
    -- A run: the same checks, none in shadow mode, no lease (encodeRequests). Nothing changes
    -- between its requests but what they consume, so the admitted ones come first, and once
    -- one is refused every later one is, alike. Out: how many were admitted, the values of the
    -- first admitted, those of the refused; the client derives the rest (decodeReply).
    local admitted = times
    for i = 1, n do
      local c = capacity(ss[i], cs[i])
      if c < admitted then admitted = c end
    end
    if admitted < 0 then admitted = 0 end
    out[head] = admitted
    if admitted > 0 then
      decide(n)
      for i = 1, n do consume(ss[i], cs[i], admitted - 1) end
    end
    if admitted < times then decide(n) end
  end
end
for k, s in pairs(st) do
  local key = KEYS[k]
  if s.kind == 'g' then
    if s.dirty then saveDebt(key, s.debt, 'PX', ceil(s.debt * s.p1) + 1000) end
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
const REFUND = `${CLOCK}${TOKENS}
local requests = 0
while pos <= nt do
  local times, n = record()
  requests = requests + times
  for i = 1, n do
    local k = tonumber(tok[pos])
    local back = tonumber(tok[pos + 1]) or 1
    local v = tok[pos + 1]
    pos = pos + 2
    local key = KEYS[k]
    local b = (k - 1) * ${PER_KEY}
    local kind = tok[b + 1]
    -- Best effort: a key that holds what no limit wrote (see readable) has nothing to give back.
    if kind == 'g' then
      local stored = readable(key, 'GET', key)
      local debt = stored and debtOf(stored, tonumber(tok[b + 3]))
      if debt then saveDebt(key, debt - times * back, 'KEEPTTL') end
    elseif kind == 'w' then
      local h = readable(key, 'HGETALL', key) or {}
      local newest = nil
      for j = 1, #h, 2 do
        local idx = tonumber(h[j])
        if idx ~= nil and (newest == nil or idx > newest) then newest = idx end
      end
      if newest ~= nil then redis.pcall('HINCRBY', key, newest, -times * back) end
    elseif kind == 'f' then
      if redis.call('EXISTS', key) == 1 then redis.pcall('DECRBY', key, times * back) end
    else
      redis.pcall('ZREM', key, v)
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

/** The arguments of one call: the number of keys, the keys, then ARGV[1]. */
export type ScriptArgs = [number, string[], string];

/** A call's arguments, and the requests each of its records stands for (1, or a run). */
export interface EncodedCall {
  readonly args: ScriptArgs;
  readonly runs: readonly number[];
}

/** The arguments of one call for `requests` (each the checks of one request), in order. */
export function encodeRequests(
  prefix: string,
  requests: readonly (readonly LimitCheck[])[],
): EncodedCall {
  const index = new Map<string, number>();
  const keys: string[] = [];
  const specs: (string | number)[] = [];
  const records: (string | number)[] = [];
  const runs: number[] = [];
  for (let r = 0; r < requests.length;) {
    const checks = requests[r] as readonly LimitCheck[];
    let run = 1;
    while (r + run < requests.length && sameChecks(checks, requests[r + run] as LimitCheck[]))
      run++;
    runs.push(run);
    if (run > 1) records.push(-run);
    records.push(checks.length);
    for (const c of checks) {
      let k = index.get(c.key);
      if (k === undefined) {
        keys.push(prefix + c.key);
        k = keys.length;
        index.set(c.key, k);
        pushSpec(specs, c);
      }
      records.push(k, c.algorithm.kind === 'concurrency' ? leaseToken(c) : c.cost);
    }
    r += run;
  }
  return { args: [keys.length, keys, `${specs.join(' ')} ${records.join(' ')}`], runs };
}

/**
 * Requests that one run-length record can stand for: the same keys and costs, no lease, and no
 * shadow check (whose refusal would not end the run's admitted requests).
 */
function sameChecks(a: readonly LimitCheck[], b: readonly LimitCheck[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as LimitCheck;
    const y = b[i] as LimitCheck;
    if (x.key !== y.key || x.cost !== y.cost || x.shadow || x.token !== undefined) return false;
  }
  return true;
}

/** A lease token is one token of ARGV[1]: it may hold no space. */
function leaseToken(c: LimitCheck): string {
  const token = c.token ?? '';
  if (!/^[!-~]+$/.test(token)) throw new RedisLimitsError('a lease token must be printable ASCII');
  return token;
}

function pushSpec(specs: (string | number)[], c: LimitCheck): void {
  const shadow = c.shadow ? 1 : 0;
  const a = c.algorithm;
  if (a.kind === 'gcra') specs.push('g', shadow, a.intervalMs, a.burst, 0);
  else if (a.kind === 'window') specs.push('w', shadow, a.limit, a.windowMs, a.bucketMs);
  else if (a.kind === 'fixed')
    // The period's end by this node's clock: a calendar boundary, where a few ms of skew
    // between nodes change nothing that matters.
    specs.push('f', shadow, a.limit, Math.max(1, a.endsAt - Date.now()), 0);
  else specs.push('c', shadow, a.limit, a.leaseMs, 0);
}

const malformed = (): RedisLimitsError =>
  new RedisLimitsError('unexpected reply from the limits script');

/** The result of each request of a call, from the script's reply to `call`. */
export function decodeReply(
  reply: unknown,
  requests: readonly (readonly LimitCheck[])[],
  runs: readonly number[],
): BatchResult[] {
  if (!Array.isArray(reply)) throw malformed();
  const values: readonly unknown[] = reply;
  let at = 0;
  const n = (): number => {
    const v = values[at++];
    if (typeof v !== 'number') throw malformed();
    return v;
  };
  const outcomesOf = (checks: readonly LimitCheck[]): LimitOutcome[] => {
    const outcomes: LimitOutcome[] = [];
    for (let i = 0; i < checks.length; i++) {
      const remaining = n();
      const resetMs = n();
      const retryMs = n();
      outcomes.push({ allowed: retryMs === 0, remaining, resetMs, retryMs });
    }
    return outcomes;
  };
  const results: BatchResult[] = [];
  let r = 0;
  for (const run of runs) {
    const checks = requests[r] as readonly LimitCheck[];
    r += run;
    if (run === 1) {
      const admitted = n() === 1;
      results.push({ admitted, outcomes: outcomesOf(checks) });
      continue;
    }
    const admitted = n();
    if (admitted < 0 || admitted > run) throw malformed();
    if (admitted > 0) {
      const first = outcomesOf(checks);
      for (let i = 0; i < admitted; i++)
        results.push({ admitted: true, outcomes: i === 0 ? first : later(checks, first, i) });
    }
    if (admitted < run) {
      const refused = { admitted: false, outcomes: outcomesOf(checks) };
      for (let i = admitted; i < run; i++) results.push(refused);
    }
  }
  if (at !== values.length || r !== requests.length) throw malformed();
  return results;
}

/**
 * What the `i`-th admitted request of a run was told, from what the first was: each consumed
 * its cost from every check. A GCRA check's reset moves one cost of intervals per request
 * (rounded up to the ms, so it may read 1 ms more than the script would have said); a window
 * or quota ends when it ends.
 */
function later(
  checks: readonly LimitCheck[],
  first: readonly LimitOutcome[],
  i: number,
): LimitOutcome[] {
  return first.map((o, j) => {
    const c = checks[j] as LimitCheck;
    const a = c.algorithm;
    const resetMs =
      a.kind === 'gcra' ? Math.ceil(o.resetMs + i * c.cost * a.intervalMs) : o.resetMs;
    return { allowed: true, remaining: o.remaining - i * c.cost, resetMs, retryMs: 0 };
  });
}
