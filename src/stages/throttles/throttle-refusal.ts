import type { Denial } from '../../gateway/problems.js';
import type { ThrottleHit } from './active-throttles.js';

/** The same words whatever the throttle: the client learns that it is limited, not why. */
const DETAIL = 'Too many requests: this client is limited to a lower rate for a while.';

/**
 * Refused by a throttle a playbook (or an approved proposal) put on the client IP, the consumer
 * or the credential (docs/response.md): 429 with Retry-After. The event names the throttle.
 */
export function throttled(t: ThrottleHit, retryMs: number): Denial {
  const headers = { 'retry-after': String(Math.max(1, Math.ceil(retryMs / 1000))) };
  const details = { throttle: t.id, limit: t.limit, windowSeconds: t.windowSeconds };
  switch (t.kind) {
    case 'ip':
      return {
        kind: 'too-many-requests',
        reason: 'limits.throttled.ip',
        detail: DETAIL,
        headers,
        audit: { details: { ...details, subject: t.subject } },
      };
    case 'consumer':
      return {
        kind: 'too-many-requests',
        reason: 'limits.throttled.consumer',
        detail: DETAIL,
        headers,
        audit: { consumer: t.subject, details },
      };
    case 'credential':
      return {
        kind: 'too-many-requests',
        reason: 'limits.throttled.credential',
        detail: DETAIL,
        headers,
        audit: { credential: t.subject, details },
      };
  }
}
