/**
 * One limit as a request meets it, ready for a backend: plain data, so that it crosses the IPC
 * channel to the cluster primary and becomes the arguments of the Redis script unchanged.
 */
export type LimitAlgorithm =
  /** GCRA: one unit every `intervalMs`, up to `burst` units at once from an idle key. */
  | { readonly kind: 'gcra'; readonly intervalMs: number; readonly burst: number }
  /**
   * Sliding window in buckets of `bucketMs`: the bucket that holds `now - windowMs` still counts
   * whole, so no window of `windowMs` ever admits more than `limit` (it may admit a little less).
   */
  | {
      readonly kind: 'window';
      readonly limit: number;
      readonly windowMs: number;
      readonly bucketMs: number;
    }
  /** A counter for one calendar period (the key names the period), ending at `endsAt`. */
  | { readonly kind: 'fixed'; readonly limit: number; readonly endsAt: number }
  /** Leases: at most `limit` held, each released when its request ends or after `leaseMs`. */
  | { readonly kind: 'concurrency'; readonly limit: number; readonly leaseMs: number };

export interface LimitCheck {
  /** The storage key: policy name and the fingerprint of the key parts, never their text. */
  readonly key: string;
  readonly algorithm: LimitAlgorithm;
  /** Units this request consumes (always 1 for concurrency). */
  readonly cost: number;
  /** Shadow mode: its refusal is recorded but blocks nothing (and it then consumes nothing). */
  readonly shadow: boolean;
  /** The lease of a concurrency check: unique per request. */
  readonly token?: string;
}

export interface LimitOutcome {
  readonly allowed: boolean;
  /** Units left after this request (what was left, when refused). */
  readonly remaining: number;
  /** Milliseconds until the limit is whole again (the window or period ends). */
  readonly resetMs: number;
  /** When refused: milliseconds until this request could be admitted. */
  readonly retryMs: number;
}

export interface BatchResult {
  /** True when no enforced check refused: then every allowed check consumed. */
  readonly admitted: boolean;
  readonly outcomes: readonly LimitOutcome[];
}

/** A held concurrency slot. */
export interface Lease {
  readonly key: string;
  readonly token: string;
}

/**
 * Where the counters of one node live: in this process, or (cluster workers) in the primary.
 * `consume` is all or nothing: a refused batch consumes from none of its checks.
 */
export interface LocalLimits {
  consume(checks: readonly LimitCheck[]): BatchResult | Promise<BatchResult>;
  /** Gives back what an admitted batch consumed (another backend refused the request). */
  refund(checks: readonly LimitCheck[]): void;
  release(leases: readonly Lease[]): void;
}

export function leasesOf(checks: readonly LimitCheck[]): Lease[] {
  const leases: Lease[] = [];
  for (const c of checks) if (c.token !== undefined) leases.push({ key: c.key, token: c.token });
  return leases;
}
