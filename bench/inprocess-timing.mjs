// What the in-process measurements (bench/authz-inprocess.mjs, bench/authn-inprocess.mjs,
// bench/detect-inprocess.mjs) share: the clock, timing one call of a stage, their command-line
// flags, summarizing samples into p50/p99 rows, and the console table of those rows.
import { parseArgs } from 'node:util';

/** Nanoseconds, as a bigint: subtract two readings, then Number() the difference. */
export const now = () => process.hrtime.bigint();

/**
 * Calls `call()` and times it, awaiting its answer when it is a promise: the answer, its cost in
 * ns (the wait included) and whether it had to be awaited. A synchronous answer costs no
 * microtask, as in the gateway's pipeline.
 */
export async function timeCall(call) {
  const t0 = now();
  let value = call();
  let waited = false;
  if (value instanceof Promise) {
    waited = true;
    value = await value;
  }
  return { value, ns: Number(now() - t0), waited };
}

/** Times a synchronous `call()`: its answer and its cost in ns. */
export function timeSync(call) {
  const t0 = now();
  const value = call();
  return { value, ns: Number(now() - t0) };
}

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

/** `--iterations N --warmup N --json`, with the measurement's own defaults. */
export function parseInProcessFlags(argv, defaults) {
  const { values } = parseArgs({
    args: argv,
    options: {
      iterations: { type: 'string', default: String(defaults.iterations) },
      warmup: { type: 'string', default: String(defaults.warmup) },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name, text, min) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return n;
  };
  return {
    iterations: int('iterations', values.iterations, 100),
    warmup: int('warmup', values.warmup, 1),
    json: values.json,
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

/** The rows with what their cases were: how many, and their decisions. */
export function formatInProcessRows(rows) {
  return formatRows(rows, [{ header: 'cases', cell: (r) => `${r.cases} (${r.decisions})` }]);
}

/**
 * Runs a measurement as a command (`node bench/x.mjs [--iterations N] [--warmup N] [--json]`):
 * prints its result as JSON or as `format(result)`, and a failure on stderr with exit code 1.
 */
export async function runAsCommand(label, defaults, measure, format) {
  try {
    const flags = parseInProcessFlags(process.argv.slice(2), defaults);
    const result = await measure(flags);
    console.log(flags.json ? JSON.stringify(result) : format(result));
  } catch (err) {
    console.error(`${label}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}

/**
 * What the gateway does once its modules are loaded, before its first request: put V8's built-in
 * prototypes back in fast mode (src/gateway/fast-prototypes.ts). An in-process measurement does
 * it after loading what it measures, or it would time string calls slower than the gateway's.
 */
export async function likeTheGateway() {
  const file = new URL('../dist/gateway/fast-prototypes.js', import.meta.url);
  const { restoreFastPrototypes } = await import(file.href);
  restoreFastPrototypes();
}
