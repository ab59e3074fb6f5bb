/**
 * A per (consumer, route) baseline of requests per interval, learned online: an exponentially
 * weighted mean and variance. Until it has seen 1/smoothing intervals the weight of a new one
 * is 1/(n+1), so the first intervals give a plain mean and variance rather than one that
 * remembers the very first interval for ever.
 */
export interface Baseline {
  /** Weighted mean of requests per interval. */
  readonly mean: number;
  /** Weighted variance. */
  readonly variance: number;
  /** Intervals learned. */
  readonly intervals: number;
  /** The last interval learned (its index since the epoch). */
  readonly last: number;
}

/**
 * The spread a count is judged against: never below the square root of the mean (the noise of
 * a steady random rate), nor below 1, so that a perfectly regular client is not "infinitely"
 * anomalous when it sends one request more.
 */
export function spread(b: Baseline): number {
  return Math.max(Math.sqrt(b.variance), Math.sqrt(b.mean), 1);
}

/** The count above which an interval is anomalous, `deviations` spreads above the mean. */
export function ceiling(b: Baseline, deviations: number): number {
  return b.mean + deviations * spread(b);
}

/**
 * The baseline after interval `index` with `count` requests. Once warm, a count above the
 * ceiling is learned as the ceiling: a scraper that ramps up slowly cannot drag the baseline
 * along with it faster than the ceiling allows.
 */
export function learn(
  b: Baseline | undefined,
  count: number,
  index: number,
  opts: { smoothing: number; deviations: number; warmupIntervals: number },
): Baseline {
  if (b === undefined) return { mean: count, variance: 0, intervals: 1, last: index };
  const x =
    b.intervals >= opts.warmupIntervals ? Math.min(count, ceiling(b, opts.deviations)) : count;
  const weight = Math.max(opts.smoothing, 1 / (b.intervals + 1));
  const diff = x - b.mean;
  return {
    mean: b.mean + weight * diff,
    variance: (1 - weight) * (b.variance + weight * diff * diff),
    intervals: b.intervals + 1,
    last: index,
  };
}

/** A baseline as cluster state keeps it, or undefined for anything else. */
export function parseBaseline(text: string | undefined): Baseline | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 4 || !v.every((n) => Number.isFinite(n))) return undefined;
  const [mean, variance, intervals, last] = v as number[];
  if ((mean as number) < 0 || (variance as number) < 0 || (intervals as number) < 1)
    return undefined;
  return {
    mean: mean as number,
    variance: variance as number,
    intervals: intervals as number,
    last: last as number,
  };
}

export function formatBaseline(b: Baseline): string {
  return JSON.stringify([b.mean, b.variance, b.intervals, b.last]);
}
