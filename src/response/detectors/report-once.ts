import type { DetectionKind, Severity } from '../../config/response-schema.js';
import type { Clock } from '../../gateway/stage.js';
import type { ClusterState } from '../../state/cluster/cluster-state.js';
import type { Detection, DetectionSubject } from '../detection.js';

/** What a detector knows about a detection besides its kind, severity and subject. */
export interface DetectionFacts {
  readonly route?: string;
  readonly consumer?: string;
  /** Counts only: never a credential, a username or a body. */
  readonly evidence: Record<string, number>;
}

export type ReportOnce = (
  kind: DetectionKind,
  severity: Severity,
  subject: DetectionSubject,
  windowMs: number,
  facts: DetectionFacts,
) => Promise<void>;

/**
 * Reports a detection once per window for one subject, across every node: the first node whose
 * increment of the subject's "fired" counter answers 1 reports it, the others stay silent until
 * the counter expires.
 */
export function reportOnce(deps: {
  cluster: ClusterState;
  clock: Clock;
  report: (d: Detection) => void;
}): ReportOnce {
  return async (kind, severity, subject, windowMs, facts) => {
    const first = await deps.cluster.increment(
      `rsp:fired:${kind}:${subject.kind}:${subject.value}`,
      1,
      windowMs,
    );
    if (first !== 1) return;
    deps.report({
      kind,
      severity,
      subject,
      time: deps.clock.now(),
      ...(facts.route === undefined ? {} : { route: facts.route }),
      ...(facts.consumer === undefined ? {} : { consumer: facts.consumer }),
      evidence: facts.evidence,
    });
  };
}
