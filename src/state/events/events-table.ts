import type { Db, InsertValue, SqlValue } from '../db.js';
import { EVENT_KINDS, type EventDetails, type EventKind, type EventRecord } from './event.js';

/**
 * The `events` table (migrations 0001_events, 0005_events_indexes): the only code that knows its
 * columns. Both backends take the same statements.
 */
const COLUMNS = [
  'time',
  'kind',
  'action',
  'decision',
  'reason',
  'request_id',
  'route',
  'method',
  'path',
  'status',
  'client_ip',
  'consumer',
  'stage',
  'count',
  'details',
] as const;

const SELECTED = `id, ${COLUMNS.join(', ')}`;

// NUL cannot be stored in PostgreSQL text, and a lone surrogate has no UTF-8 form: either would
// make the whole batch fail on every retry. Linear: one code unit of look-around.
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

// eslint-disable-next-line no-control-regex -- the cheap test first: almost no value has either
const RISKY = /[\u0000\ud800-\udfff]/;

function storable(value: string | null): string | null {
  if (value === null || !RISKY.test(value)) return value;
  return value.replace(UNSTORABLE, '\ufffd');
}

function integerOrNull(value: number | null): number | null {
  return value === null || !Number.isFinite(value) ? null : Math.trunc(value);
}

/** The values of COLUMNS, in order. */
function rowValues(e: EventRecord): InsertValue[] {
  return [
    Math.trunc(e.time),
    e.kind,
    storable(e.action),
    storable(e.decision),
    storable(e.reason),
    storable(e.requestId),
    storable(e.route),
    storable(e.method),
    storable(e.path),
    integerOrNull(e.status),
    storable(e.clientIp),
    storable(e.consumer),
    storable(e.stage),
    integerOrNull(e.count ?? 1) ?? 1,
    e.details === undefined || e.details === null ? null : storable(JSON.stringify(e.details)),
  ];
}

/**
 * Inserts the events, all or nothing, in as few statements as the backend allows
 * (`Db.insertMany`: 50 rows a statement on SQLite, in its worker thread; one COPY on
 * PostgreSQL), and in one message to SQLite's thread or one round trip to PostgreSQL for a
 * batch: no BEGIN and COMMIT of their own.
 */
export async function insertEvents(db: Db, events: readonly EventRecord[]): Promise<void> {
  await db.insertMany('events', COLUMNS, events.map(rowValues));
}

type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;

function details(v: unknown): EventDetails | null {
  if (typeof v !== 'string') return null;
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as EventDetails)
      : null;
  } catch {
    return null;
  }
}

function toEvent(row: Row): EventRecord {
  const kind = row.kind as EventKind;
  return {
    id: num(row.id) ?? 0,
    time: num(row.time) ?? 0,
    kind: EVENT_KINDS.includes(kind) ? kind : 'request',
    action: str(row.action) ?? '',
    decision: str(row.decision) ?? '',
    reason: str(row.reason),
    requestId: str(row.request_id),
    route: str(row.route),
    method: str(row.method),
    path: str(row.path),
    status: num(row.status),
    clientIp: str(row.client_ip),
    consumer: str(row.consumer),
    stage: str(row.stage),
    count: num(row.count) ?? 1,
    details: details(row.details),
  };
}

export interface EventFilter {
  /** Inclusive, epoch ms. */
  readonly since: number;
  /** Exclusive, epoch ms. */
  readonly until: number;
  readonly kind?: EventKind;
}

/**
 * The matching events in time order, a page at a time (keyset pagination on (time, id)): an
 * export of millions of rows holds one page per kind in memory and no long read transaction.
 * Every read goes through the (kind, time) index: without a kind, one cursor per kind, merged.
 */
export async function* readEvents(
  db: Db,
  filter: EventFilter,
  pageSize = 1000,
): AsyncGenerator<EventRecord> {
  if (filter.kind !== undefined) {
    yield* readKind(db, filter.kind, filter, pageSize);
    return;
  }
  const cursors = EVENT_KINDS.map((kind) => readKind(db, kind, filter, pageSize));
  try {
    const heads: (EventRecord | undefined)[] = [];
    for (const cursor of cursors) heads.push(await next(cursor));
    for (;;) {
      let first = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        const best = heads[first];
        if (h !== undefined && (best === undefined || earlier(h, best))) first = i;
      }
      const head = heads[first];
      const cursor = cursors[first];
      if (head === undefined || cursor === undefined) return;
      yield head;
      heads[first] = await next(cursor);
    }
  } finally {
    // A reader that stops early (`| head`) ends the cursors too.
    await Promise.all(cursors.map((c) => c.return(undefined)));
  }
}

async function next(cursor: AsyncGenerator<EventRecord>): Promise<EventRecord | undefined> {
  const r = await cursor.next();
  return r.done === true ? undefined : r.value;
}

const earlier = (a: EventRecord, b: EventRecord): boolean =>
  a.time < b.time || (a.time === b.time && (a.id ?? 0) < (b.id ?? 0));

async function* readKind(
  db: Db,
  kind: EventKind,
  filter: EventFilter,
  pageSize: number,
): AsyncGenerator<EventRecord> {
  const sql =
    `SELECT ${SELECTED} FROM events` +
    ' WHERE kind = $1 AND time >= $2 AND time < $3 AND (time > $4 OR (time = $4 AND id > $5))' +
    ' ORDER BY time, id LIMIT $6';
  let after: [number, number] = [Number.MIN_SAFE_INTEGER, 0];
  for (;;) {
    const params: SqlValue[] = [kind, filter.since, filter.until, after[0], after[1], pageSize];
    const rows = await db.query(sql, params);
    for (const row of rows) yield toEvent(row);
    if (rows.length < pageSize) return;
    const last = toEvent(rows[rows.length - 1] as Row);
    after = [last.time, last.id ?? 0];
  }
}

/** Deletes at most `limit` events of one kind older than `before`; returns how many. */
export function purgeEvents(
  db: Db,
  kind: EventKind,
  before: number,
  limit: number,
): Promise<number> {
  return db.run(
    'DELETE FROM events WHERE id IN' +
      ' (SELECT id FROM events WHERE kind = $1 AND time < $2 ORDER BY time LIMIT $3)',
    [kind, before, limit],
  );
}
