import type { ResponseConfig } from '../../config/response-schema.js';
import type { DenyEvent, LoginFailureEvent } from '../../gateway/events.js';
import type { ClusterState } from '../../state/cluster/cluster-state.js';
import type { RequestDoneEvent } from '../../state/events/request-done.js';
import type { PendingBudget } from './pending-budget.js';
import type { ReportOnce } from './report-once.js';

/**
 * The shape of one behavioural detector (docs/response.md): it tallies the events it cares
 * about in memory (the subscribers run inside the request's publish, so they never wait), and
 * `flush` adds the tallies to cluster state, where every node's counts meet, and reports what
 * crossed a threshold.
 */
export interface TrafficDetector {
  /** A refusal from `portcullis:stage:deny`; refusals by a block never arrive here. */
  observeDeny?(e: DenyEvent): void;
  /** An answered request from `portcullis:request:done`. */
  observeDone?(e: RequestDoneEvent): void;
  /** A login the upstream refused, from `portcullis:login:failure`. */
  observeLoginFailure?(e: LoginFailureEvent): void;
  /** Adds what was tallied since the last flush to cluster state and reports what crossed. */
  flush(now: number): Promise<void>;
}

/** What every detector is built with. */
export interface TrafficDetectorDeps {
  readonly cluster: ClusterState;
  /** Read at each use: a reload changes thresholds without losing counts. */
  readonly config: () => ResponseConfig;
  /** Reports a detection once per window and subject across every node. */
  readonly report: ReportOnce;
  /** Bounds what one node tallies between two flushes. */
  readonly budget: PendingBudget;
}
