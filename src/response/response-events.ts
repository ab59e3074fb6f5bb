import type { EventRecord } from '../state/events/event.js';
import { detailsOf } from '../state/events/event.js';
import type { Detection } from './detection.js';

/** A detection as a security event: kept whatever the load, and written to the audit trail. */
export function detectionEvent(d: Detection): EventRecord {
  return actionEvent(d.time, 'detection', d.severity, d, d.evidence);
}

/**
 * What automation did (or proposed, or declined to do) about a detection: `response.block`,
 * `response.alert`, `response.allowlisted`... `decision` says how it ended.
 */
export function actionEvent(
  time: number,
  action: string,
  decision: string,
  d: Detection,
  details: Readonly<Record<string, string | number>>,
): EventRecord {
  return {
    time,
    kind: 'security',
    action,
    decision,
    reason: d.kind,
    requestId: null,
    route: d.route ?? null,
    method: null,
    path: null,
    status: null,
    clientIp: d.subject.kind === 'ip' ? d.subject.value : null,
    consumer: d.subject.kind === 'consumer' ? d.subject.value : (d.consumer ?? null),
    stage: 'response',
    details: detailsOf({ subjectKind: d.subject.kind, subject: d.subject.value, ...details }),
  };
}
