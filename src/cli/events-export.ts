import { once } from 'node:events';
import type { Db } from '../state/db.js';
import { EVENT_KINDS, type EventKind, type EventRecord } from '../state/events/event.js';
import { readEvents, type EventFilter } from '../state/events/events-table.js';
import { migrate } from '../state/migrate.js';
import { MIGRATIONS } from '../state/migrations/index.js';
import { openDb } from '../state/open-db.js';
import { StoreError } from '../state/store-error.js';
import { durationMs } from './duration.js';
import { loadConfigOrExit } from './load-config.js';

export interface EventsExportOptions {
  readonly config: string;
  readonly since: string;
  readonly until?: string;
  readonly format: string;
  readonly kind?: string;
}

// A time of day needs its zone: "10:00" alone would be read in the machine's zone (ambiguous).
const ISO =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:[0-9]{2}))?$/;

/** Bad arguments: printed with this code, exit 1. */
const INVALID = 'PCL_EVENTS_EXPORT_INVALID';

class ArgumentError extends Error {}

/** An ISO 8601 date or date-time with a zone, or a duration before `now` (24h, 7d). */
function parseTime(flag: string, value: string, now: number, durations: boolean): number {
  const d = durations ? durationMs(value) : undefined;
  if (d !== undefined) return now - d;
  const m = ISO.exec(value);
  const hasTime = m?.[4] !== undefined;
  if (m !== null && (!hasTime || /(Z|[+-][0-9]{2}:[0-9]{2})$/.test(value))) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const date = new Date(Date.UTC(year, month - 1, day));
    const ms = Date.parse(value);
    // Date.parse rolls 2026-02-30 over into March: refuse a day the month does not have.
    if (date.getUTCMonth() === month - 1 && date.getUTCDate() === day && Number.isFinite(ms)) {
      return ms;
    }
  }
  throw new ArgumentError(
    `${flag} ${JSON.stringify(value)}: expected an ISO 8601 date or date-time with a zone` +
      ` (2026-11-26, 2026-11-26T10:00:00Z)${durations ? ' or a duration (30m, 24h, 7d)' : ''}`,
  );
}

function parseArgs(opts: EventsExportOptions, now: number): EventFilter {
  if (opts.format !== 'jsonl') {
    throw new ArgumentError(`--format ${JSON.stringify(opts.format)}: only jsonl is supported`);
  }
  let kind: EventKind | undefined;
  if (opts.kind !== undefined) {
    if (!EVENT_KINDS.includes(opts.kind as EventKind)) {
      throw new ArgumentError(
        `--kind ${JSON.stringify(opts.kind)}: expected one of ${EVENT_KINDS.join(', ')}`,
      );
    }
    kind = opts.kind as EventKind;
  }
  const since = parseTime('--since', opts.since, now, true);
  const until = opts.until === undefined ? now : parseTime('--until', opts.until, now, true);
  if (since >= until) throw new ArgumentError('--since must be before --until');
  return { since, until, ...(kind === undefined ? {} : { kind }) };
}

/** One line per event: stable field names, ISO time, every field present (null when empty). */
function jsonLine(e: EventRecord): string {
  return JSON.stringify({
    id: e.id ?? null,
    time: new Date(e.time).toISOString(),
    kind: e.kind,
    action: e.action,
    decision: e.decision,
    reason: e.reason,
    requestId: e.requestId,
    route: e.route,
    method: e.method,
    path: e.path,
    status: e.status,
    clientIp: e.clientIp,
    consumer: e.consumer,
    stage: e.stage,
    count: e.count ?? 1,
    details: e.details ?? null,
  });
}

/** Writes with backpressure; false once stdout is gone (piped into `head`). */
async function write(text: string, closed: { value: boolean }): Promise<boolean> {
  if (closed.value) return false;
  if (!process.stdout.write(text)) {
    await Promise.race([once(process.stdout, 'drain'), once(process.stdout, 'close')]);
  }
  return !closed.value;
}

/**
 * `portcullis events export --since 24h [--until ISO] [--kind security] --format jsonl`: the
 * matching events as JSON lines on stdout, oldest first, for a SIEM. `--since` is inclusive,
 * `--until` exclusive. Exit 0 when done; 1 on bad arguments or a store failure.
 */
export async function runEventsExport(opts: EventsExportOptions): Promise<void> {
  let filter: EventFilter;
  try {
    filter = parseArgs(opts, Date.now());
  } catch (err) {
    if (!(err instanceof ArgumentError)) throw err;
    process.stderr.write(`${INVALID}: ${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  const { config, configDir } = loadConfigOrExit(opts.config);
  const closed = { value: false };
  const onError = (): void => {
    closed.value = true;
  };
  process.stdout.on('error', onError);
  let db: Db | undefined;
  try {
    db = openDb(config.state, configDir);
    await migrate(db, MIGRATIONS);
    let chunk = '';
    for await (const e of readEvents(db, filter)) {
      chunk += `${jsonLine(e)}\n`;
      if (chunk.length >= 64 * 1024) {
        if (!(await write(chunk, closed))) break;
        chunk = '';
      }
    }
    if (chunk !== '') await write(chunk, closed);
    process.exitCode = 0;
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    await db?.close().catch(() => undefined);
    process.stdout.off('error', onError);
  }
}
