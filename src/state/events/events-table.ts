import type { Db, SqlValue } from '../db.js';
import { EVENT_KINDS, type EventDetails, type EventKind, type EventRecord } from './event.js';

/**
 * The `events` table (migration 0001_events): the only code that knows its columns. Both
 * backends take the same statements.
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

/** Their types, for PostgreSQL's json_to_recordset. */
const PG_TYPES: Record<(typeof COLUMNS)[number], string> = {
  time: 'bigint',
  kind: 'text',
  action: 'text',
  decision: 'text',
  reason: 'text',
  request_id: 'text',
  route: 'text',
  method: 'text',
  path: 'text',
  status: 'integer',
  client_ip: 'text',
  consumer: 'text',
  stage: 'text',
  count: 'integer',
  details: 'text',
};

/**
 * SQLite: one prepared statement run per row in SQLite's worker thread (measured at half the CPU
 * per row of unpacking a JSON batch there). PostgreSQL: a batch goes as one JSON parameter the
 * server unpacks itself, not as 15 parameters a row that node-postgres would prepare in
 * JavaScript on the thread that serves requests.
 */
const INSERT_ROW_SQL = `INSERT INTO events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;

const INSERT_JSON_SQL =
  `INSERT INTO events (${COLUMNS.join(', ')}) SELECT ${COLUMNS.join(', ')}` +
  ` FROM json_to_recordset($1::json) AS r(${COLUMNS.map((c) => `${c} ${PG_TYPES[c]}`).join(', ')})`;

// Bounds one statement's parameter (a few hundred KB) whatever batchSize is configured.
const ROWS_PER_STATEMENT = 1000;

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

function rowValues(e: EventRecord): (string | number | null)[] {
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

function rowObject(e: EventRecord): Record<string, string | number | null> {
  const values = rowValues(e);
  const row: Record<string, string | number | null> = {};
  COLUMNS.forEach((c, i) => {
    row[c] = values[i] ?? null;
  });
  return row;
}

/** Inserts the events, a statement per ROWS_PER_STATEMENT; run it inside a transaction. */
export async function insertEvents(db: Db, events: readonly EventRecord[]): Promise<void> {
  if (db.dialect === 'sqlite') {
    // In SQLite's own thread a prepared statement per row costs half of unpacking JSON there.
    await db.runBatch(INSERT_ROW_SQL, events.map(rowValues));
    return;
  }
  for (let i = 0; i < events.length; i += ROWS_PER_STATEMENT) {
    const chunk = events.slice(i, i + ROWS_PER_STATEMENT);
    await db.run(INSERT_JSON_SQL, [JSON.stringify(chunk.map(rowObject))]);
  }
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
 * export of millions of rows holds one page in memory and no long read transaction.
 */
export async function* readEvents(
  db: Db,
  filter: EventFilter,
  pageSize = 1000,
): AsyncGenerator<EventRecord> {
  const kind = filter.kind === undefined ? '' : ' AND kind = $6';
  const sql =
    `SELECT id, ${COLUMNS.join(', ')} FROM events` +
    ` WHERE time >= $1 AND time < $2 AND (time > $3 OR (time = $3 AND id > $4))${kind}` +
    ' ORDER BY time, id LIMIT $5';
  let after: [number, number] = [Number.MIN_SAFE_INTEGER, 0];
  for (;;) {
    const params: SqlValue[] = [filter.since, filter.until, after[0], after[1], pageSize];
    if (filter.kind !== undefined) params.push(filter.kind);
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
