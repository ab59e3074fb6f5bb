import type { RequestDoneEvent } from '../../state/events/request-done.js';
import { SlidingWindow } from '../sliding-window.js';
import type { TrafficDetector, TrafficDetectorDeps } from './detector.js';
import { inBatches } from './in-batches.js';

interface RouteTally {
  requests: number;
  errors: number;
}

/**
 * Error spikes (`errors.upstream_spike`): the share of a route's answered requests that ended
 * in a 5xx, whether the upstream sent it or the proxy answered for an upstream that failed,
 * timed out or could not be reached, over a sliding window summed across every node. A spike
 * is an outage, or an attack that breaks the upstream (injection, resource exhaustion).
 */
export class UpstreamErrors implements TrafficDetector {
  readonly #deps: TrafficDetectorDeps;
  readonly #requests: SlidingWindow;
  readonly #errors: SlidingWindow;
  #routes = new Map<string, RouteTally>();

  constructor(deps: TrafficDetectorDeps) {
    this.#deps = deps;
    const windowMs = (): number => deps.config().upstreamErrors.windowSeconds * 1000;
    this.#requests = new SlidingWindow(deps.cluster, 'rsp:ue:n', windowMs);
    this.#errors = new SlidingWindow(deps.cluster, 'rsp:ue:e', windowMs);
  }

  // Only answered requests count: a refusal by a stage never reached the upstream.
  observeDone(e: RequestDoneEvent): void {
    if (!this.#deps.config().upstreamErrors.enabled) return;
    if (!this.#deps.budget.room(this.#routes, e.route)) return;
    let tally = this.#routes.get(e.route);
    if (tally === undefined) this.#routes.set(e.route, (tally = { requests: 0, errors: 0 }));
    tally.requests++;
    if (e.status >= 500) tally.errors++;
  }

  async flush(now: number): Promise<void> {
    const routes = this.#routes;
    this.#routes = new Map();
    const config = this.#deps.config().upstreamErrors;
    await inBatches(routes, async ([route, tally]) => {
      const [requests, errors] = await Promise.all([
        this.#requests.add(route, tally.requests, now),
        this.#errors.add(route, tally.errors, now),
      ]);
      if (errors < config.minErrors || errors / Math.max(requests, 1) < config.ratio) return;
      await this.#deps.report(
        'errors.upstream_spike',
        'medium',
        { kind: 'route', value: route },
        config.windowSeconds * 1000,
        { route, evidence: { errors: Math.round(errors), requests: Math.round(requests) } },
      );
    });
  }
}
