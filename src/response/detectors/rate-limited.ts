import type { DenyEvent } from '../../gateway/events.js';
import type { DetectionSubject } from '../detection.js';
import { SlidingWindow } from '../sliding-window.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { inBatches } from './in-batches.js';

/** The limits stage's refusals that a client earned (not a backend outage, not a throttle). */
const EARNED = new Set([
  'limits.rate.exceeded',
  'limits.quota.exceeded',
  'limits.concurrency.exceeded',
]);

interface Tally {
  refusals: number;
  route: string | undefined;
}

/**
 * Sustained rate limiting (`rate_limited.consumer`, `rate_limited.client`): a client that keeps
 * hitting its limits, refusal after refusal, rather than backing off as `Retry-After` says: a
 * scraper or a runaway job. The consumer when the refusal names one, otherwise the client IP,
 * counted across every node. Shadow-mode refusals let the request through and do not count; a
 * throttle's own refusals are already a response to a detection and do not count again.
 */
export class RateLimited implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #refusals: SlidingWindow;
  #subjects = new Map<string, Tally>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const windowMs = (): number => deps.config().rateLimited.windowSeconds * 1000;
    this.#refusals = new SlidingWindow(deps.cluster, 'rsp:rl', windowMs);
  }

  observeDeny(e: DenyEvent): void {
    if (!e.enforced || !EARNED.has(e.reason) || !this.#deps.config().rateLimited.enabled) return;
    const key = e.consumer === undefined ? `ip:${e.clientIp}` : `consumer:${e.consumer}`;
    if (!this.#deps.budget.room(this.#subjects, key)) return;
    const tally = this.#subjects.get(key);
    if (tally === undefined) this.#subjects.set(key, { refusals: 1, route: e.route });
    else tally.refusals++;
  }

  async flush(now: number): Promise<void> {
    const subjects = this.#subjects;
    this.#subjects = new Map();
    const config = this.#deps.config().rateLimited;
    const windowMs = config.windowSeconds * 1000;
    await inBatches(subjects, async ([key, tally]) => {
      const refusals = await this.#refusals.add(key, tally.refusals, now);
      if (refusals < config.refusals) return;
      const consumer = key.startsWith('consumer:');
      const subject: DetectionSubject = consumer
        ? { kind: 'consumer', value: key.slice('consumer:'.length) }
        : { kind: 'ip', value: key.slice('ip:'.length) };
      await this.#deps.report(
        consumer ? 'rate_limited.consumer' : 'rate_limited.client',
        'medium',
        subject,
        windowMs,
        {
          ...(tally.route === undefined ? {} : { route: tally.route }),
          evidence: { refusals: Math.round(refusals) },
        },
      );
    });
  }
}
