import type { DataDetectedEvent, DenyEvent, UpstreamErrorEvent } from '../../gateway/events.js';
import type { RequestDoneEvent } from './request-done.js';

/**
 * One recorded event. The builders below are the only way the gateway's messages become events,
 * and each copies a fixed list of fields by name: whatever else a message carries (headers, a
 * body, a credential, an upstream address) never reaches the store, a spill file or an export.
 */
export type EventKind = 'request' | 'security' | 'admin';

export const EVENT_KINDS: readonly EventKind[] = ['request', 'security', 'admin'];

/** Flat, small, and never a secret: values are checked by `detailsOf`. */
export type EventDetails = Readonly<Record<string, string | number | boolean | null>>;

export interface EventRecord {
  /** Assigned by the store. */
  readonly id?: number;
  /** Epoch milliseconds; for a folded row, the start of its minute. */
  readonly time: number;
  readonly kind: EventKind;
  /** What happened: `request.allowed`, `request.denied`, `upstream.error`, `consumer.create`... */
  readonly action: string;
  /** `allow`, `deny`, `shadow-deny` (decided but not enforced), `error`, or an admin outcome. */
  readonly decision: string;
  /** The refusal reason (`blocks.ip.denied`) or the error code; null for an allowed request. */
  readonly reason: string | null;
  readonly requestId: string | null;
  readonly route: string | null;
  readonly method: string | null;
  /** The canonical path only: never a query string or fragment. */
  readonly path: string | null;
  readonly status: number | null;
  readonly clientIp: string | null;
  /** The consumer's id (or the admin's, for admin events); never a credential. */
  readonly consumer: string | null;
  readonly stage: string | null;
  /** How many requests the row stands for: 1, or more for a row of folded request events. */
  readonly count?: number;
  readonly details?: EventDetails | null;
}

/** Only what a SIEM needs to correlate; everything is bounded so that a row stays small. */
const MAX_TEXT = 512;
const MAX_DETAIL_KEYS = 16;
const DETAIL_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

function text(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
}

function integer(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) ? value : null;
}

/**
 * The path without what could carry a credential: a query string (`?api_key=`) or a fragment.
 * The gateway already publishes the canonical path; this holds for any future publisher too.
 */
export function pathOnly(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const cut = s.search(/[?#]/);
  return cut === -1 ? s : cut === 0 ? null : s.slice(0, cut);
}

/** Details with bounded keys and primitive values only: nested objects are not copied. */
export function detailsOf(
  input: Readonly<Record<string, unknown>> | undefined,
): EventDetails | null {
  if (input === undefined) return null;
  const out: Record<string, string | number | boolean | null> = {};
  let n = 0;
  for (const [key, value] of Object.entries(input)) {
    if (n === MAX_DETAIL_KEYS) break;
    if (!DETAIL_KEY.test(key)) continue;
    if (typeof value === 'string') out[key] = text(value);
    else if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
    else if (typeof value === 'boolean' || value === null) out[key] = value;
    else continue;
    n++;
  }
  return n === 0 ? null : out;
}

/**
 * A refusal, or a shadow-mode decision, from `portcullis:stage:deny`. The credential's
 * fingerprint and the stage's facts go to `details`, through `detailsOf`'s bounds.
 */
export function securityEventFromDeny(e: DenyEvent, time: number): EventRecord {
  return {
    time,
    kind: 'security',
    action: e.enforced ? 'request.denied' : 'request.denied.shadow',
    decision: e.enforced ? 'deny' : 'shadow-deny',
    reason: text(e.reason),
    requestId: text(e.requestId),
    route: text(e.route),
    method: text(e.method),
    path: pathOnly(e.path),
    status: integer(e.status),
    clientIp: text(e.clientIp),
    consumer: text(e.consumer),
    stage: text(e.stage),
    details:
      e.credential === undefined && e.details === undefined
        ? null
        : detailsOf({ ...e.details, credential: e.credential }),
  };
}

/**
 * Sensitive data found in a body, from `portcullis:data:detected`: which detector, what was
 * done and how often. The data itself is never part of the message.
 */
export function securityEventFromDataDetected(e: DataDetectedEvent, time: number): EventRecord {
  return {
    time,
    kind: 'security',
    action: 'data.detected',
    decision: text(e.action) ?? 'record',
    reason: text(e.detector),
    requestId: text(e.requestId),
    route: text(e.route),
    method: text(e.method),
    path: pathOnly(e.path),
    status: null,
    clientIp: text(e.clientIp),
    consumer: text(e.consumer),
    stage: 'data-protection',
    details: detailsOf({ direction: e.direction, count: integer(e.count) }),
  };
}

/**
 * An upstream failure from `portcullis:upstream:error`. A certificate that fails verification
 * can be an interception attempt: a security event, kept whatever the load. Timeouts and
 * refused connections are availability, not decisions: request events, sampled under overload
 * like the rest (metrics count them all).
 */
export function eventFromUpstreamError(e: UpstreamErrorEvent, time: number): EventRecord {
  const code = text(e.code);
  const tls = code !== null && /^ERR_TLS_|CERT|SELF_SIGNED/.test(code);
  return {
    time,
    kind: tls ? 'security' : 'request',
    action: 'upstream.error',
    decision: 'error',
    reason: code,
    requestId: text(e.requestId),
    route: text(e.route),
    method: null,
    path: null,
    status: integer(e.status),
    clientIp: null,
    consumer: null,
    stage: 'proxy',
    // The upstream's configured name, never its address.
    details: detailsOf({ upstream: e.upstream }),
  };
}

/** A request that went through, from `portcullis:request:done`. */
export function requestEventFromDone(e: RequestDoneEvent, time: number): EventRecord {
  const duration = typeof e.durationMs === 'number' && Number.isFinite(e.durationMs);
  return {
    time,
    kind: 'request',
    action: 'request.allowed',
    decision: 'allow',
    reason: null,
    requestId: text(e.requestId),
    route: text(e.route),
    method: text(e.method),
    path: pathOnly(e.path),
    status: integer(e.status),
    clientIp: text(e.clientIp),
    consumer: text(e.consumer),
    stage: null,
    details: duration ? { durationMs: Math.round(e.durationMs * 1000) / 1000 } : null,
  };
}

export interface AdminEventInput {
  /** `consumer.create`, `key.revoke`, `config.reload`... */
  readonly action: string;
  /** `ok`, `refused`, `failed`. */
  readonly decision: string;
  /** Who did it: the admin's id. */
  readonly actor: string | null;
  readonly reason?: string | null;
  readonly requestId?: string | null;
  readonly clientIp?: string | null;
  /** Ids and names only (the consumer changed, the key's fingerprint): never a secret. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** An action of an administrator (admin API, CLI). */
export function adminEvent(input: AdminEventInput, time: number): EventRecord {
  return {
    time,
    kind: 'admin',
    action: text(input.action) ?? 'admin.unknown',
    decision: text(input.decision) ?? 'unknown',
    reason: text(input.reason),
    requestId: text(input.requestId),
    route: null,
    method: null,
    path: null,
    status: null,
    clientIp: text(input.clientIp),
    consumer: text(input.actor),
    stage: null,
    details: detailsOf(input.details),
  };
}
