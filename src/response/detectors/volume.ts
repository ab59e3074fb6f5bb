import type { DenyEvent } from '../../gateway/events.js';
import type { RequestDoneEvent } from '../../state/events/request-done.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { digestKey } from './digest-key.js';
import { inBatches } from './in-batches.js';
import {
  ceiling,
  formatBaseline,
  learn,
  parseBaseline,
  spread,
  type Baseline,
} from './volume-baseline.js';

/** After an interval ends, how long its count may still grow from another node's late flush. */
const CLOSE_AFTER_MS = 2000;
/** How long a baseline is kept without traffic. */
const BASELINE_TTL_MS = 7 * 86_400_000;

interface Pair {
  /** The pair's name in cluster state: a digest, whatever the consumer id holds. */
  readonly key: string;
  readonly consumer: string;
  readonly route: string;
  /** Requests tallied since the last flush. */
  pending: number;
  /** Intervals this node counted requests in that are not closed yet. */
  readonly open: Set<number>;
  /** The baseline as read in `interval` (undefined: none yet), read once per interval. */
  baseline?: { readonly interval: number; readonly value: Baseline | undefined };
}

/**
 * Scraping and volume anomalies (`volume.consumer`): for each (consumer, route), requests per
 * interval summed across every node in cluster state, judged against a baseline learned online
 * (volume-baseline.ts) once it is warm: a count `deviations` spreads above the mean, and at
 * least `minRequests`, is reported during the interval, as soon as a flush sees it. When an
 * interval is over, the one node that wins its close (an increment that answers 1) adds it to
 * the baseline, which is kept in cluster state too, so every node judges against the same one.
 * The baseline learns from the intervals a pair was active in: a client that works in bursts
 * is judged against its bursts, not against its nights.
 */
export class Volume implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  /**
   * Route, then consumer: two lookups of strings whose hashes are already known, where one key
   * made of both would be a new string to build and hash on every request.
   */
  readonly #pairs = new Map<string, Map<string, Pair>>();
  /** How many pairs #pairs holds. */
  #tracked = 0;

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
  }

  observeDone(e: RequestDoneEvent): void {
    if (e.consumer !== undefined) this.#count(e.consumer, e.route);
  }

  // A refused request is volume too: a scraper that runs into its rate limit keeps asking.
  observeDeny(e: DenyEvent): void {
    if (e.consumer !== undefined && e.route !== undefined) this.#count(e.consumer, e.route);
  }

  #count(consumer: string, route: string): void {
    const config = this.#deps.config().volume;
    if (!config.enabled) return;
    let byConsumer = this.#pairs.get(route);
    const pair = byConsumer?.get(consumer);
    if (pair !== undefined) {
      pair.pending++;
      return;
    }
    if (this.#tracked >= config.maxTracked) {
      this.#deps.budget.drop();
      return;
    }
    if (byConsumer === undefined) this.#pairs.set(route, (byConsumer = new Map<string, Pair>()));
    const key = digestKey('pair', JSON.stringify([consumer, route]));
    byConsumer.set(consumer, { key, consumer, route, pending: 1, open: new Set() });
    this.#tracked++;
  }

  #forget(pair: Pair): void {
    const byConsumer = this.#pairs.get(pair.route);
    if (byConsumer?.delete(pair.consumer) !== true) return;
    this.#tracked--;
    if (byConsumer.size === 0) this.#pairs.delete(pair.route);
  }

  async flush(now: number): Promise<void> {
    const config = this.#deps.config().volume;
    const intervalMs = config.intervalSeconds * 1000;
    const index = Math.floor(now / intervalMs);
    const pairs = [...this.#pairs.values()].flatMap((byConsumer) => [...byConsumer.values()]);
    await inBatches(pairs, async (pair) => {
      const key = pair.key;
      if (pair.pending > 0) {
        const by = pair.pending;
        pair.pending = 0;
        pair.open.add(index);
        const count = await this.#deps.cluster.increment(
          `rsp:vol:n:${intervalMs}:${key}:${index}`,
          by,
          3 * intervalMs + CLOSE_AFTER_MS,
        );
        await this.#judge(key, pair, count, index);
      }
      for (const i of pair.open) {
        if (now >= (i + 1) * intervalMs + CLOSE_AFTER_MS) {
          pair.open.delete(i);
          await this.#close(key, i, intervalMs);
          // Read again at the next judgement: this node or another has just learned interval i.
          delete pair.baseline;
        }
      }
      // Forgotten once nothing is pending here: the baseline itself stays in cluster state.
      if (pair.pending === 0 && pair.open.size === 0) this.#forget(pair);
    });
  }

  async #judge(key: string, pair: Pair, count: number, index: number): Promise<void> {
    const config = this.#deps.config().volume;
    if (count < config.minRequests) return;
    if (pair.baseline?.interval !== index) {
      const value = parseBaseline(await this.#deps.cluster.get(`rsp:vol:b:${key}`));
      pair.baseline = { interval: index, value };
    }
    const b = pair.baseline.value;
    if (b === undefined || b.intervals < config.warmupIntervals) return;
    if (count <= ceiling(b, config.deviations)) return;
    await this.#deps.report(
      'volume.consumer',
      'medium',
      { kind: 'consumer', value: pair.consumer },
      config.intervalSeconds * 1000,
      {
        route: pair.route,
        consumer: pair.consumer,
        evidence: {
          requests: count,
          baselineMean: Math.round(b.mean),
          baselineSpread: Math.round(spread(b)),
          intervals: b.intervals,
        },
      },
    );
  }

  /** Adds interval `index` to the pair's baseline, on the one node that wins its close. */
  async #close(key: string, index: number, intervalMs: number): Promise<void> {
    const won = await this.#deps.cluster.increment(
      `rsp:vol:c:${intervalMs}:${key}:${index}`,
      1,
      3 * intervalMs,
    );
    if (won !== 1) return;
    const [count, stored] = await Promise.all([
      this.#deps.cluster.get(`rsp:vol:n:${intervalMs}:${key}:${index}`),
      this.#deps.cluster.get(`rsp:vol:b:${key}`),
    ]);
    const n = Number(count ?? 0);
    const before = parseBaseline(stored);
    // An interval closed late, after a later one: the baseline has moved on.
    if (!Number.isFinite(n) || n <= 0 || (before !== undefined && before.last >= index)) return;
    const after = learn(before, n, index, this.#deps.config().volume);
    await this.#deps.cluster.set(`rsp:vol:b:${key}`, formatBaseline(after), BASELINE_TTL_MS);
  }
}
