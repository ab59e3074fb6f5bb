import diagnostics from 'node:diagnostics_channel';
import { statusOf, type Denial } from './problems.js';
import type { RequestContext } from './stage.js';

/**
 * Observability goes through diagnostics channels: the security log, metrics and later the
 * event pipeline subscribe; the hot path only publishes, and only when someone listens.
 */
export const denyChannel = diagnostics.channel('portcullis:stage:deny');
export const upstreamErrorChannel = diagnostics.channel('portcullis:upstream:error');
export const dataDetectedChannel = diagnostics.channel('portcullis:data:detected');
export const loginFailureChannel = diagnostics.channel('portcullis:login:failure');

export interface DenyEvent {
  readonly requestId: string;
  readonly reason: string;
  readonly status: number;
  /** false in shadow mode: decided and recorded, but the request went on. */
  readonly enforced: boolean;
  readonly stage: string;
  readonly route: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly clientIp: string;
  /** The consumer, once authenticated or recognised by its credential. */
  readonly consumer?: string;
  /** The fingerprint of the credential presented (`fp:...`), never the credential. */
  readonly credential?: string;
  /** Small flat facts from the refusing stage (issuer, key id); never a secret. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface UpstreamErrorEvent {
  readonly requestId: string;
  readonly route: string;
  readonly upstream: string;
  readonly code: string;
  readonly status: number;
}

export function publishDeny(event: DenyEvent): void {
  if (denyChannel.hasSubscribers) denyChannel.publish(event);
}

export function publishUpstreamError(event: UpstreamErrorEvent): void {
  if (upstreamErrorChannel.hasSubscribers) upstreamErrorChannel.publish(event);
}

/** Sensitive data found in a body (docs/data-protection.md): counts, never the data. */
export interface DataDetectedEvent {
  readonly requestId: string;
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly clientIp: string;
  readonly consumer?: string;
  /** `response` or `request`. */
  readonly direction: string;
  /** The detector (`card`, `jwt`, ...), or `unscanned` for a body passed without a scan. */
  readonly detector: string;
  /** `record`, `mask`, `block`, or `pass` for an unscanned body. */
  readonly action: string;
  readonly count: number;
}

export function publishDataDetected(event: DataDetectedEvent): void {
  if (dataDetectedChannel.hasSubscribers) dataDetectedChannel.publish(event);
}

/**
 * A login the upstream refused (401/403) on a route with a `login-failures` stage, with the
 * username it was tried for as a digest: what the per-username brute-force detector counts.
 */
export interface LoginFailureEvent {
  readonly requestId: string;
  readonly route: string;
  readonly clientIp: string;
  /** `un:` and a digest of the normalised username; never the username. */
  readonly username: string;
  /** The upstream's status. */
  readonly status: number;
}

export function publishLoginFailure(event: LoginFailureEvent): void {
  if (loginFailureChannel.hasSubscribers) loginFailureChannel.publish(event);
}

/**
 * The security event of a refusal decided on a routed request (by a stage, or by the proxy for
 * the stage it names): the consumer and credential the refusal names, else the caller's.
 */
export function publishRefusal(
  ctx: RequestContext,
  stage: string,
  denial: Denial,
  enforced = true,
): void {
  publishDeny({
    requestId: ctx.id,
    reason: denial.reason,
    status: statusOf(denial.kind),
    enforced,
    stage,
    route: ctx.route.name,
    method: ctx.method,
    path: ctx.path,
    clientIp: ctx.clientIp,
    consumer: denial.audit?.consumer ?? ctx.identity?.consumerId,
    credential: denial.audit?.credential ?? ctx.identity?.credential,
    details: denial.audit?.details,
  });
}
