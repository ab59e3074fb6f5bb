// What the in-process benchmarks (bench/authz-inprocess.mjs, bench/detect-inprocess.mjs) share:
// the clock, the percentiles of a set of per-call samples, and their text table.

/** Nanoseconds, as a bigint: subtract two readings, then Number() the difference. */
export const now = () => process.hrtime.bigint();

/** The sample at percentile `p` (0-100) of ascending `sorted`; NaN when there is none. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** p50, p99, max and mean, in µs, of per-call samples in ns; `extra` is copied into the row. */
export function summarize(name, kind, samples, extra) {
  const sorted = Float64Array.from(samples).sort();
  return {
    name,
    kind,
    samples: sorted.length,
    p50: percentile(sorted, 50) / 1000,
    p99: percentile(sorted, 99) / 1000,
    max: sorted[sorted.length - 1] / 1000,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length / 1000,
    ...extra,
  };
}

/** The rows of summarize() as a text table: name, samples, p50, p99, max, then `tail` columns. */
export function formatRows(rows, tail = []) {
  const header = ['', 'samples', 'p50 µs', 'p99 µs', 'max µs', ...tail.map((t) => t.header)];
  const cells = rows.map((r) => [
    r.name,
    String(r.samples),
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(1),
    ...tail.map((t) => t.cell(r)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const left = (i) => i === 0 || i >= 5;
  const line = (row) =>
    row
      .map((c, i) => (left(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}
