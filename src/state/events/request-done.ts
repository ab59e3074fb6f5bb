import diagnostics from 'node:diagnostics_channel';

/**
 * The channel the gateway publishes on when a request it let through is answered: the event
 * pipeline subscribes and records a request event. Refusals go to `portcullis:stage:deny`
 * instead, so a request is published on exactly one of the two.
 */
export const REQUEST_DONE_CHANNEL = 'portcullis:request:done';

export const requestDoneChannel = diagnostics.channel(REQUEST_DONE_CHANNEL);

export interface RequestDoneEvent {
  readonly requestId: string;
  readonly route: string;
  readonly method: string;
  /** The canonical path, without the query string. */
  readonly path: string;
  /** The status sent to the client. */
  readonly status: number;
  readonly clientIp: string;
  readonly durationMs: number;
  /** The consumer's id, once authentication has set one; never the credential. */
  readonly consumer?: string | undefined;
  /** The fingerprint (`fp:...`) of the credential authentication accepted; never the credential. */
  readonly credential?: string | undefined;
}

/** For the hot path: costs one property read when nobody records events. */
export function publishRequestDone(event: RequestDoneEvent): void {
  if (requestDoneChannel.hasSubscribers) requestDoneChannel.publish(event);
}
