import type { EventRecord } from '../events/event.js';
import type { AuditEntryInput, JsonObject } from './audit-entry.js';

/**
 * How a security or admin event of the event pipeline (src/state/events/event.ts) becomes an
 * audit entry. Every field of the event is kept: those the entry has a column for go there, the
 * rest (route, method, status, stage, the event's own details) into `details`. Events carry no
 * secret (their builders copy a fixed list of fields), so neither does the entry. The mapping
 * is total: whatever an event holds, the entry can be recorded.
 */
/** A required field is never empty: one odd event must not make its whole batch unrecordable. */
function filled(value: string | null, fallback: string): string {
  return value === null || value === '' ? fallback : value;
}

export function auditEntryFromEvent(e: EventRecord): AuditEntryInput {
  const admin = e.kind === 'admin';
  const details: Record<string, JsonObject[string]> = { kind: e.kind };
  if (e.route !== null) details.route = e.route;
  if (e.method !== null) details.method = e.method;
  if (e.status !== null) details.status = e.status;
  if (e.stage !== null) details.stage = e.stage;
  if (e.count !== undefined && e.count !== 1) details.count = e.count;
  if (e.details !== undefined && e.details !== null) details.details = { ...e.details };
  return {
    // An unusable time (a fake clock's fraction) becomes the log's clock rather than an error.
    ...(Number.isSafeInteger(e.time) && e.time >= 0 ? { time: e.time } : {}),
    // An admin event carries the administrator's id in `consumer`; a security decision is the
    // gateway's, made by one of its stages.
    actor: admin ? filled(e.consumer, 'admin:unknown') : e.stage ? `gateway:${e.stage}` : 'gateway',
    action: filled(e.action, 'unknown'),
    target: e.path ?? (e.route !== null ? `route:${e.route}` : null),
    decision: filled(e.decision, 'unknown'),
    reason: e.reason,
    requestId: e.requestId,
    clientIp: e.clientIp,
    consumer: admin ? null : e.consumer,
    details,
  };
}
