import type {
  BatchResult,
  Lease,
  LimitAlgorithm,
  LimitCheck,
  LimitOutcome,
  LocalLimits,
} from './limit-check.js';

/** What the table reads of the gateway's clock. */
export interface WallClock {
  now(): number;
}

type Entry =
  /**
   * GCRA keeps its debt at `at`, the time it was written: how far its theoretical arrival time
   * ran ahead of `at`, in intervals. Whole requests add whole units, exactly. As an absolute time
   * in ms (about 1.8e12) it would lose what a fast limit adds per request: an interval of 1e-6 ms
   * is below that number's precision.
   */
  | { kind: 'gcra'; debt: number; at: number; expires: number }
  | { kind: 'window'; buckets: Map<number, number>; expires: number }
  | { kind: 'fixed'; count: number; expires: number }
  | { kind: 'concurrency'; leases: Map<string, number>; expires: number };

/** Expired entries are dropped as the table is used: at most this many per call. */
const SWEEP_PER_CALL = 16;

/**
 * The in-process backend: every limit of one node, exact. Each call runs to completion
 * synchronously, so a batch is atomic without locks; the cluster primary holds the one table
 * its workers share (limit-table-host.ts).
 */
export class LimitTable implements LocalLimits {
  readonly #clock: WallClock;
  readonly #entries = new Map<string, Entry>();
  #sweep: Iterator<[string, Entry]> | undefined;

  constructor(clock: WallClock) {
    this.#clock = clock;
  }

  get size(): number {
    return this.#entries.size;
  }

  consume(checks: readonly LimitCheck[]): BatchResult {
    const now = this.#clock.now();
    this.#sweepSome(now);
    const outcomes = checks.map((c) => this.#decide(c, now));
    let admitted = true;
    checks.forEach((c, i) => {
      if (!c.shadow && outcomes[i]?.allowed !== true) admitted = false;
    });
    if (admitted) {
      checks.forEach((c, i) => {
        if (outcomes[i]?.allowed === true) this.#apply(c, now, 1);
      });
    }
    return { admitted, outcomes };
  }

  refund(checks: readonly LimitCheck[]): void {
    const now = this.#clock.now();
    for (const c of checks) this.#apply(c, now, -1);
  }

  release(leases: readonly Lease[]): void {
    for (const { key, token } of leases) {
      const e = this.#entries.get(key);
      if (e?.kind === 'concurrency') e.leases.delete(token);
    }
  }

  #sweepSome(now: number): void {
    for (let i = 0; i < SWEEP_PER_CALL; i++) {
      this.#sweep ??= this.#entries.entries();
      const next = this.#sweep.next();
      if (next.done === true) {
        this.#sweep = undefined;
        return;
      }
      const [key, e] = next.value;
      if (e.expires <= now) this.#entries.delete(key);
    }
  }

  #entry<K extends Entry['kind']>(
    key: string,
    kind: K,
    now: number,
  ): Extract<Entry, { kind: K }> | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || e.kind !== kind || e.expires <= now) return undefined;
    return e as Extract<Entry, { kind: K }>;
  }

  #decide(c: LimitCheck, now: number): LimitOutcome {
    const a = c.algorithm;
    switch (a.kind) {
      case 'gcra':
        return gcraOutcome(a, debtOf(this.#entry(c.key, 'gcra', now), a, now), c.cost);
      case 'window':
        return windowOutcome(a, this.#entry(c.key, 'window', now)?.buckets, c.cost, now);
      case 'fixed': {
        const used = this.#entry(c.key, 'fixed', now)?.count ?? 0;
        const left = a.limit - used;
        const resetMs = Math.max(0, a.endsAt - now);
        return c.cost <= left
          ? { allowed: true, remaining: left - c.cost, resetMs, retryMs: 0 }
          : { allowed: false, remaining: left, resetMs, retryMs: resetMs };
      }
      case 'concurrency': {
        const leases = this.#entry(c.key, 'concurrency', now)?.leases;
        let held = 0;
        if (leases !== undefined) {
          for (const [token, until] of leases) {
            if (until <= now) leases.delete(token);
            else held++;
          }
        }
        const left = a.limit - held;
        // A slot frees when a request ends: no time can be promised, one second is a fair hint.
        return left >= 1
          ? { allowed: true, remaining: left - 1, resetMs: 0, retryMs: 0 }
          : { allowed: false, remaining: 0, resetMs: 1_000, retryMs: 1_000 };
      }
    }
  }

  /** Applies a consumption (sign 1) or takes it back (sign -1). */
  #apply(c: LimitCheck, now: number, sign: 1 | -1): void {
    const a: LimitAlgorithm = c.algorithm;
    switch (a.kind) {
      case 'gcra': {
        const debt = debtOf(this.#entry(c.key, 'gcra', now), a, now);
        const next = sign === 1 ? Math.max(debt, 0) + c.cost : debt - c.cost;
        if (next <= 0) this.#entries.delete(c.key);
        else {
          // At least 1 ms: added to a time near 1.8e12, a smaller span would vanish.
          const expires = now + Math.ceil(next * a.intervalMs);
          this.#entries.set(c.key, { kind: 'gcra', debt: next, at: now, expires });
        }
        return;
      }
      case 'window': {
        let e = this.#entry(c.key, 'window', now);
        if (e === undefined) {
          if (sign === -1) return;
          e = { kind: 'window', buckets: new Map(), expires: 0 };
          this.#entries.set(c.key, e);
        }
        const bucket = Math.floor(now / a.bucketMs);
        if (sign === 1) {
          e.buckets.set(bucket, (e.buckets.get(bucket) ?? 0) + c.cost);
          e.expires = (bucket + 1) * a.bucketMs + a.windowMs;
        } else {
          // The newest bucket that holds enough: the one this request was counted in, or later.
          const newest = Math.max(...e.buckets.keys());
          const n = (e.buckets.get(newest) ?? 0) - c.cost;
          if (n > 0) e.buckets.set(newest, n);
          else e.buckets.delete(newest);
        }
        return;
      }
      case 'fixed': {
        const e = this.#entry(c.key, 'fixed', now);
        const count = (e?.count ?? 0) + sign * c.cost;
        if (count <= 0) this.#entries.delete(c.key);
        else this.#entries.set(c.key, { kind: 'fixed', count, expires: a.endsAt });
        return;
      }
      case 'concurrency': {
        if (c.token === undefined) return;
        let e = this.#entry(c.key, 'concurrency', now);
        if (sign === -1) {
          e?.leases.delete(c.token);
          return;
        }
        if (e === undefined) {
          e = { kind: 'concurrency', leases: new Map(), expires: 0 };
          this.#entries.set(c.key, e);
        }
        e.leases.set(c.token, now + a.leaseMs);
        e.expires = Math.max(e.expires, now + a.leaseMs);
        return;
      }
    }
  }
}

type Gcra = Extract<LimitAlgorithm, { kind: 'gcra' }>;

/** A GCRA key's debt now, in intervals: below zero once idle for longer than it owed. */
function debtOf(e: Extract<Entry, { kind: 'gcra' }> | undefined, a: Gcra, now: number): number {
  return e === undefined ? 0 : e.debt - (now - e.at) / a.intervalMs;
}

/**
 * GCRA (the generic cell rate algorithm): the theoretical arrival time moves one interval per
 * unit; a request is admitted while it stays within `burst` intervals of now. Smooth, and no
 * window edge to straddle: at most `burst + t / interval` units in any span of t. Here the
 * theoretical arrival time is `debt`, counted in intervals from now.
 */
function gcraOutcome(a: Gcra, debt: number, cost: number): LimitOutcome {
  const tat = Math.max(debt, 0);
  const next = tat + cost;
  const allowAt = next - a.burst;
  if (allowAt <= 0) {
    return {
      allowed: true,
      remaining: Math.floor(-allowAt + 1e-9),
      resetMs: Math.ceil(next * a.intervalMs),
      retryMs: 0,
    };
  }
  return {
    allowed: false,
    remaining: Math.max(0, Math.floor(a.burst - tat + 1e-9)),
    resetMs: Math.ceil(tat * a.intervalMs),
    retryMs: Math.ceil(allowAt * a.intervalMs),
  };
}

function windowOutcome(
  a: Extract<LimitAlgorithm, { kind: 'window' }>,
  buckets: Map<number, number> | undefined,
  cost: number,
  now: number,
): LimitOutcome {
  const oldest = Math.floor((now - a.windowMs) / a.bucketMs);
  const counted: [number, number][] = [];
  let used = 0;
  if (buckets !== undefined) {
    for (const [b, n] of buckets) {
      if (b < oldest) buckets.delete(b);
      else {
        used += n;
        counted.push([b, n]);
      }
    }
  }
  counted.sort((x, y) => x[0] - y[0]);
  // When the oldest counted bucket leaves the window.
  const leaves = (b: number): number => (b + 1) * a.bucketMs + a.windowMs - now;
  // Whole again once the newest bucket counted (this request's, when admitted) has left.
  const newest =
    counted.length === 0 ? undefined : (counted[counted.length - 1] as [number, number])[0];
  const resetMs = newest === undefined ? 0 : Math.max(0, leaves(newest));
  if (used + cost <= a.limit) {
    const resetAdmitted = leaves(Math.floor(now / a.bucketMs));
    return { allowed: true, remaining: a.limit - used - cost, resetMs: resetAdmitted, retryMs: 0 };
  }
  let freed = 0;
  let retryMs = a.windowMs;
  for (const [b, n] of counted) {
    freed += n;
    if (used - freed + cost <= a.limit) {
      retryMs = Math.max(1, leaves(b));
      break;
    }
  }
  return { allowed: false, remaining: Math.max(0, a.limit - used), resetMs, retryMs };
}
