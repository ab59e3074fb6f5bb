import diagnostics from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { DataDetectedEvent, DenyEvent, UpstreamErrorEvent } from '../gateway/events.js';

/**
 * Writes every refusal and upstream failure as a structured security event. It subscribes to
 * the diagnostics channels, so the hot path pays nothing when nobody listens.
 */
export function subscribeSecurityLog(log: Logger): () => void {
  const onDeny = (message: unknown): void => {
    const e = message as DenyEvent;
    log.warn(
      { event: e.enforced ? 'request.denied' : 'request.denied.shadow', ...e },
      'request refused',
    );
  };
  const onUpstream = (message: unknown): void => {
    const e = message as UpstreamErrorEvent;
    log.warn({ event: 'upstream.error', ...e }, 'upstream failed');
  };
  const onData = (message: unknown): void => {
    const e = message as DataDetectedEvent;
    log.warn({ event: 'data.detected', ...e }, 'sensitive data detected');
  };
  diagnostics.subscribe('portcullis:stage:deny', onDeny);
  diagnostics.subscribe('portcullis:upstream:error', onUpstream);
  diagnostics.subscribe('portcullis:data:detected', onData);
  return () => {
    diagnostics.unsubscribe('portcullis:data:detected', onData);
    diagnostics.unsubscribe('portcullis:stage:deny', onDeny);
    diagnostics.unsubscribe('portcullis:upstream:error', onUpstream);
  };
}
