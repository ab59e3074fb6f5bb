import type { Logger } from 'pino';
import type { Clock } from '../../gateway/stage.js';
import type { Db } from '../db.js';
import type { EventKind } from './event.js';
import type { EventsConfig } from './event-writer.js';
import { purgeEvents } from './events-table.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export type PurgeCounts = Record<EventKind, number>;

export interface RetentionJob {
  /** One purge now (waits for a purge already running instead of starting a second). */
  run(): Promise<PurgeCounts>;
  stop(): Promise<void>;
}

export interface RetentionOptions {
  readonly db: Db;
  readonly retention: EventsConfig['retention'];
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** Rows deleted per statement: a purge never holds the store for long. */
  readonly batchSize?: number;
}

/**
 * Deletes events older than the retention of their kind (0 keeps forever), a bounded batch per
 * statement so that event writes interleave with a large purge.
 */
export async function purgeExpiredEvents(
  opts: RetentionOptions,
  stopped: () => boolean = () => false,
): Promise<PurgeCounts> {
  const { db, retention, clock, log } = opts;
  const batchSize = opts.batchSize ?? 5000;
  const days: PurgeCounts = {
    request: retention.requestDays,
    security: retention.securityDays,
    admin: retention.adminDays,
  };
  const counts: PurgeCounts = { request: 0, security: 0, admin: 0 };
  const now = clock.now();
  for (const kind of Object.keys(days) as EventKind[]) {
    if (days[kind] === 0) continue;
    const before = now - days[kind] * DAY;
    for (;;) {
      if (stopped()) return counts;
      const n = await purgeEvents(db, kind, before, batchSize);
      counts[kind] += n;
      if (n < batchSize) break;
    }
  }
  if (counts.request + counts.security + counts.admin > 0) {
    log.info({ event: 'events.purged', ...counts }, 'expired events deleted');
  }
  return counts;
}

/**
 * The purge at start and then hourly. Several nodes purging the same PostgreSQL store is
 * harmless: the deletes are idempotent.
 */
export function startRetention(opts: RetentionOptions): RetentionJob {
  const { log } = opts;
  let running: Promise<PurgeCounts> | undefined;
  let stopped = false;

  function run(): Promise<PurgeCounts> {
    running ??= purgeExpiredEvents(opts, () => stopped).finally(() => {
      running = undefined;
    });
    return running;
  }

  function scheduled(): void {
    run().catch((err: unknown) => {
      log.warn(
        { event: 'events.purge_failed', error: err instanceof Error ? err.message : String(err) },
        'expired events could not be deleted: retried at the next run',
      );
    });
  }

  const timer = setInterval(scheduled, opts.intervalMs ?? HOUR);
  timer.unref();
  scheduled();

  return {
    run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
