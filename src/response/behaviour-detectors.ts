import type { Logger } from 'pino';
import type { ResponseConfig } from '../config/response-schema.js';
import type { DenyEvent, LoginFailureEvent } from '../gateway/events.js';
import type { Clock } from '../gateway/stage.js';
import type { ClusterState } from '../state/cluster/cluster-state.js';
import type { RequestDoneEvent } from '../state/events/request-done.js';
import type { Detection } from './detection.js';
import type { TrafficDetector } from './detectors/detector.js';
import { PendingBudget } from './detectors/pending-budget.js';
import { createDetectors } from './detectors/registry.js';
import { reportOnce } from './detectors/report-once.js';

/**
 * The behavioural detectors (docs/response.md), each in a file of its own under `detectors/`
 * (registry.ts lists them). The subscribers only tally in memory; `flush` (every 200 ms) adds
 * the tallies to cluster state, so that an attack spread over several nodes is counted whole,
 * and reports each detection once per window across every node.
 */
export class BehaviourDetectors {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #budget = new PendingBudget();
  readonly #detectors: readonly TrafficDetector[];

  constructor(deps: {
    cluster: ClusterState;
    clock: Clock;
    log: Logger;
    /** Read at each use: a reload changes thresholds without losing counts. */
    config: () => ResponseConfig;
    report: (d: Detection) => void;
  }) {
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#detectors = createDetectors({
      cluster: deps.cluster,
      config: deps.config,
      report: reportOnce(deps),
      budget: this.#budget,
    });
  }

  /** A refusal from `portcullis:stage:deny`. */
  observeDeny(e: DenyEvent): void {
    // A blocked client's requests are already answered: they are not evidence of anything new.
    if (e.stage === 'blocks') return;
    for (const d of this.#detectors) d.observeDeny?.(e);
  }

  /** An answered request from `portcullis:request:done`. */
  observeDone(e: RequestDoneEvent): void {
    for (const d of this.#detectors) d.observeDone?.(e);
  }

  /** A login the upstream refused, from `portcullis:login:failure`. */
  observeLoginFailure(e: LoginFailureEvent): void {
    for (const d of this.#detectors) d.observeLoginFailure?.(e);
  }

  /** Adds what was tallied since the last flush to cluster state and reports what crossed. */
  async flush(): Promise<void> {
    const dropped = this.#budget.takeDropped();
    if (dropped > 0) {
      this.#log.warn(
        { event: 'response.tally_full', dropped },
        'too many subjects between two flushes: some requests were not counted',
      );
    }
    const now = this.#clock.now();
    for (const d of this.#detectors) await d.flush(now);
  }
}
