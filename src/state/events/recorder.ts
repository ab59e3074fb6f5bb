import diagnostics from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import {
  dataDetectedChannel,
  denyChannel,
  upstreamErrorChannel,
  type DataDetectedEvent,
  type DenyEvent,
  type UpstreamErrorEvent,
} from '../../gateway/events.js';
import type { Clock } from '../../gateway/stage.js';
import type { Db } from '../db.js';
import {
  adminEvent,
  eventFromUpstreamError,
  requestEventFromDone,
  securityEventFromDataDetected,
  securityEventFromDeny,
  type AdminEventInput,
  type EventRecord,
} from './event.js';
import { EventWriter, type AuditSink, type EventStats, type EventsConfig } from './event-writer.js';
import { REQUEST_DONE_CHANNEL, type RequestDoneEvent } from './request-done.js';
import { purgeExpiredEvents, startRetention, type PurgeCounts } from './retention.js';
import { SpillFile } from './spill-file.js';

export interface EventRecordingOptions {
  /** A migrated store (MIGRATIONS includes 0001_events). */
  readonly db: Db;
  readonly config: EventsConfig;
  /** The audit log, for security and admin events; optional until it exists. */
  readonly audit?: AuditSink;
  readonly clock: Clock;
  readonly log: Logger;
  /** The folder for spill files: `eventsDataDir(config.state, configDir)`. */
  readonly spillDir: string;
  /** Run the retention purge at start and hourly (default true; one node is enough). */
  readonly retention?: boolean;
}

export interface EventRecorder {
  /** Queues an event; synchronous and O(1), never throws. */
  record(event: EventRecord): void;
  /** An administrator's action: a priority event, never sampled. */
  recordAdmin(input: AdminEventInput): void;
  /**
   * With `onWriteFailure: fail-closed`, true while security events cannot be written: the
   * gateway answers 503 instead of serving requests it could not account for.
   */
  shouldRefuse(): boolean;
}

export interface EventRecording {
  readonly recorder: EventRecorder;
  stats(): EventStats;
  /** Writes what is queued now; for tests and a graceful drain. */
  flush(): Promise<void>;
  /** One retention purge now. */
  purge(): Promise<PurgeCounts>;
  /** Unsubscribes, stops the jobs and writes everything still queued (the store stays open). */
  stop(): Promise<void>;
}

const isObject = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

/**
 * Starts recording: subscribes to `portcullis:stage:deny` (security events),
 * `portcullis:upstream:error` (request events, or security events for certificate failures)
 * and `portcullis:request:done` (request events of allowed requests), and writes them to the
 * store off the hot path. The subscribers only build the event and queue it.
 */
export function startEventRecording(opts: EventRecordingOptions): EventRecording {
  const { clock, log } = opts;
  const writer = new EventWriter({
    db: opts.db,
    config: opts.config,
    audit: opts.audit,
    clock,
    log,
    spill: new SpillFile(opts.spillDir),
  });

  // A subscriber that throws would crash the process from inside publish(): never let it.
  const guarded =
    (build: (m: Record<string, unknown>, time: number) => EventRecord) =>
    (message: unknown): void => {
      if (!isObject(message)) return;
      try {
        writer.record(build(message, clock.now()));
      } catch (err) {
        log.error(
          { event: 'events.record_failed', error: err instanceof Error ? err.message : '' },
          'an event could not be built',
        );
      }
    };
  const onDeny = guarded((m, t) => securityEventFromDeny(m as unknown as DenyEvent, t));
  const onUpstream = guarded((m, t) =>
    eventFromUpstreamError(m as unknown as UpstreamErrorEvent, t),
  );
  const onData = guarded((m, t) =>
    securityEventFromDataDetected(m as unknown as DataDetectedEvent, t),
  );
  const onDone = guarded((m, t) => requestEventFromDone(m as unknown as RequestDoneEvent, t));
  const subscriptions: [string | symbol, (m: unknown) => void][] = [
    [denyChannel.name, onDeny],
    [upstreamErrorChannel.name, onUpstream],
    [dataDetectedChannel.name, onData],
  ];
  // Refusals and upstream failures are always recorded; allowed requests only when asked for
  // (without a subscriber the data plane does not even build their events).
  if (opts.config.recordRequests) subscriptions.push([REQUEST_DONE_CHANNEL, onDone]);
  for (const [name, fn] of subscriptions) diagnostics.subscribe(name, fn);

  writer.replaySpilled();
  writer.start();
  const retention =
    opts.retention === false
      ? undefined
      : startRetention({ db: opts.db, retention: opts.config.retention, clock, log });

  const recorder: EventRecorder = {
    record: (event) => writer.record(event),
    recordAdmin: (input) => writer.record(adminEvent(input, clock.now())),
    shouldRefuse: () => writer.shouldRefuse(),
  };

  let stopping: Promise<void> | undefined;
  return {
    recorder,
    stats: () => writer.stats(),
    flush: () => writer.flush(),
    purge: () =>
      retention?.run() ??
      purgeExpiredEvents({ db: opts.db, retention: opts.config.retention, clock, log }),
    stop() {
      stopping ??= (async () => {
        for (const [name, fn] of subscriptions) diagnostics.unsubscribe(name, fn);
        await retention?.stop();
        await writer.stop();
      })();
      return stopping;
    },
  };
}
