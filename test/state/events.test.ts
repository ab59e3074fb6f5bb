import { portcullis } from '../support/cli.js';
import { eventsConfig, eventually, storeConfigFile } from '../support/events.js';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import { AuditLog } from '../../src/state/audit/audit-log.js';
import type { Db, SqlValue } from '../../src/state/db.js';
import type { EventKind, EventRecord } from '../../src/state/events/event.js';
import type { AuditSink, EventsConfig } from '../../src/state/events/event-writer.js';
import { insertEvents, readEvents } from '../../src/state/events/events-table.js';
import { startEventRecording, type EventRecording } from '../../src/state/events/recorder.js';
import { publishDeny } from '../../src/gateway/events.js';
import { publishRequestDone } from '../../src/state/events/request-done.js';
import { REQUEST_DONE_CHANNEL } from '../../src/state/events/request-done.js';
import { purgeExpiredEvents } from '../../src/state/events/retention.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { BACKENDS, useTestDatabase } from '../support/databases.js';

/** The event pipeline on both store backends: batching, ordering, retention and the export. */

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-26T12:00:00Z');

function quietLog(): Logger {
  return pino({ level: 'silent' });
}

const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };
const fixedClock = (now: number): Clock => ({ now: () => now, monotonic: () => performance.now() });

function event(kind: EventKind, id: string, time = Date.now()): EventRecord {
  return {
    time,
    kind,
    action:
      kind === 'request'
        ? 'request.allowed'
        : kind === 'security'
          ? 'request.denied'
          : 'key.create',
    decision: kind === 'request' ? 'allow' : kind === 'security' ? 'deny' : 'ok',
    reason: kind === 'security' ? 'blocks.ip.denied' : null,
    requestId: id,
    route: 'catalog',
    method: 'GET',
    path: '/catalog',
    status: kind === 'security' ? 403 : 200,
    clientIp: '192.0.2.10',
    consumer: null,
    stage: kind === 'security' ? 'ip-restriction' : null,
  };
}

/** The real store, with its transactions counted (an insertMany is a transaction of its own). */
function counting(db: Db): { db: Db; transactions: () => number } {
  let transactions = 0;
  const wrapped: Db = {
    dialect: db.dialect,
    query: <T extends Record<string, unknown>>(sql: string, params?: readonly SqlValue[]) =>
      db.query<T>(sql, params),
    run: (sql, params) => db.run(sql, params),
    insertMany: (table, columns, rows) => {
      transactions++;
      return db.insertMany(table, columns, rows);
    },
    exec: (sql) => db.exec(sql),
    transaction: (fn) => {
      transactions++;
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
  return { db: wrapped, transactions: () => transactions };
}

async function rows(
  db: Db,
): Promise<{ id: number; kind: string; request_id: string | null; action: string }[]> {
  return db.query('SELECT id, kind, request_id, action FROM events ORDER BY id');
}

describe.each(BACKENDS)('event pipeline on %s', (backend) => {
  const t = useTestDatabase(backend);
  const recordings: EventRecording[] = [];
  let spillDir: string;

  const start = (
    overrides: Partial<EventsConfig> = {},
    db: Db = t.db,
    clock: Clock = systemClock,
    audit?: AuditSink,
  ): EventRecording => {
    const r = startEventRecording({
      db,
      // Long unless a test is about the interval: writes happen only when a test says so.
      config: eventsConfig({ flushIntervalMs: 60_000, ...overrides }),
      clock,
      log: quietLog(),
      spillDir,
      retention: false,
      ...(audit === undefined ? {} : { audit }),
    });
    recordings.push(r);
    return r;
  };

  beforeAll(async () => {
    await migrate(t.db, MIGRATIONS);
  });
  beforeEach(async () => {
    spillDir = mkdtempSync(join(tmpdir(), 'pcl-events-spill-'));
    await t.db.run('DELETE FROM events');
  });
  afterEach(async () => {
    await Promise.all(recordings.splice(0).map((r) => r.stop()));
    rmSync(spillDir, { recursive: true, force: true });
  });

  it.each([
    [true, ['request', 'security']],
    [false, ['security']],
  ])(
    'with recordRequests %s records allowed requests only when asked, refusals always',
    async (recordRequests, kinds) => {
      const r = start({ recordRequests });
      publishRequestDone({
        requestId: 'done-1',
        route: 'api',
        method: 'GET',
        path: '/a',
        status: 200,
        clientIp: '192.0.2.1',
        durationMs: 1,
      });
      publishDeny({
        requestId: 'deny-1',
        reason: 'blocks.ip.denied',
        status: 403,
        enforced: true,
        stage: 'ip-restriction',
        route: 'api',
        method: 'GET',
        path: '/a',
        clientIp: '192.0.2.1',
      });
      await r.flush();
      const stored = await rows(t.db);
      expect(stored.map((e) => e.kind).sort()).toEqual(kinds);
    },
  );

  it('writes N queued events in ceil(N / batchSize) transactions', async () => {
    const c = counting(t.db);
    const r = start({ batchSize: 100 }, c.db);

    for (let i = 0; i < 1050; i++) r.recorder.record(event('request', `q-${i}`));
    // Full batches go as soon as they are full; the last 50 wait for the interval (or a flush).
    await eventually(async () => (await rows(t.db)).length === 1000);
    expect(c.transactions()).toBe(10);
    await r.flush();

    expect((await rows(t.db)).length).toBe(1050);
    expect(c.transactions()).toBe(Math.ceil(1050 / 100));
    expect(r.stats().written.request).toBe(1050);
  });

  it('writes a partial batch when flushIntervalMs has passed, not before', async () => {
    const c = counting(t.db);
    // Long against a busy machine's timer jitter: nothing may be written for most of a second.
    const r = start({ batchSize: 500, flushIntervalMs: 1000 }, c.db);
    const started = Date.now();

    for (let i = 0; i < 3; i++) r.recorder.record(event('request', `i-${i}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await rows(t.db)).toHaveLength(0);

    await eventually(async () => (await rows(t.db)).length === 3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(c.transactions()).toBe(1);
  });

  it('writes security and admin events before request events queued earlier', async () => {
    const r = start({ batchSize: 5 });

    for (let i = 0; i < 10; i++) r.recorder.record(event('request', `r-${i}`));
    for (let i = 0; i < 4; i++) r.recorder.record(event('security', `s-${i}`));
    r.recorder.recordAdmin({ action: 'key.create', decision: 'ok', actor: 'admin-1' });
    await r.flush();

    const all = await rows(t.db);
    expect(all).toHaveLength(15);
    const firstRequest = all.findIndex((row) => row.kind === 'request');
    expect(
      all
        .slice(0, firstRequest)
        .map((row) => row.kind)
        .sort(),
    ).toEqual(['admin', 'security', 'security', 'security', 'security']);
    expect(all.slice(firstRequest).every((row) => row.kind === 'request')).toBe(true);
  });

  it('writes everything still queued when stopped', async () => {
    const r = start({ batchSize: 10_000 });

    for (let i = 0; i < 30; i++) r.recorder.record(event('request', `x-${i}`));
    for (let i = 0; i < 7; i++) r.recorder.record(event('security', `y-${i}`));
    await r.stop();

    expect(await rows(t.db)).toHaveLength(37);
    expect(r.stats().queued).toEqual({
      priority: 0,
      request: 0,
      foldedCounts: 0,
      spill: 0,
      refusalCounts: 0,
    });
  });

  it('records what the gateway publishes on its channels, each kind in its lane', async () => {
    const r = start();
    const deny = diagnostics.channel('portcullis:stage:deny');
    const upstream = diagnostics.channel('portcullis:upstream:error');
    const done = diagnostics.channel(REQUEST_DONE_CHANNEL);
    const where = { route: 'catalog', method: 'GET', path: '/catalog', clientIp: '192.0.2.7' };

    deny.publish({
      requestId: 'd1',
      reason: 'blocks.ip.denied',
      status: 403,
      enforced: true,
      stage: 'ip-restriction',
      ...where,
    });
    deny.publish({
      requestId: 'd2',
      reason: 'blocks.ip.denied',
      status: 403,
      enforced: false,
      stage: 'ip-restriction',
      ...where,
    });
    upstream.publish({
      requestId: 'u1',
      route: 'catalog',
      upstream: 'api',
      code: 'ECONNREFUSED',
      status: 503,
    });
    upstream.publish({
      requestId: 'u2',
      route: 'catalog',
      upstream: 'api',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      status: 502,
    });
    done.publish({ requestId: 'ok1', status: 200, durationMs: 1.25, ...where });
    await r.flush();

    const got = await t.db.query<{
      request_id: string;
      kind: string;
      action: string;
      decision: string;
      reason: string | null;
      status: number;
      details: string | null;
    }>(
      'SELECT request_id, kind, action, decision, reason, status, details FROM events ORDER BY request_id',
    );
    expect(got).toEqual([
      {
        request_id: 'd1',
        kind: 'security',
        action: 'request.denied',
        decision: 'deny',
        reason: 'blocks.ip.denied',
        status: 403,
        details: null,
      },
      {
        request_id: 'd2',
        kind: 'security',
        action: 'request.denied.shadow',
        decision: 'shadow-deny',
        reason: 'blocks.ip.denied',
        status: 403,
        details: null,
      },
      {
        request_id: 'ok1',
        kind: 'request',
        action: 'request.allowed',
        decision: 'allow',
        reason: null,
        status: 200,
        details: '{"durationMs":1.25}',
      },
      {
        request_id: 'u1',
        kind: 'request',
        action: 'upstream.error',
        decision: 'error',
        reason: 'ECONNREFUSED',
        status: 503,
        details: '{"upstream":"api"}',
      },
      {
        request_id: 'u2',
        kind: 'security',
        action: 'upstream.error',
        decision: 'error',
        reason: 'ERR_TLS_CERT_ALTNAME_INVALID',
        status: 502,
        details: '{"upstream":"api"}',
      },
    ]);
  });

  it('counts the refusals made for want of recording (events.unrecorded) in one row per minute', async () => {
    const r = start({}, t.db, fixedClock(NOW + 30_000));
    const deny = diagnostics.channel('portcullis:stage:deny');

    for (let i = 0; i < 250; i++) {
      deny.publish({
        requestId: `refused-${i}`,
        reason: 'events.unrecorded',
        status: 503,
        enforced: true,
        stage: 'events',
        route: undefined,
        method: 'GET',
        path: '',
        clientIp: '192.0.2.9',
      });
    }
    expect(r.stats().queued.priority).toBe(0);
    await r.flush();

    const got = await t.db.query<Record<string, unknown>>(
      'SELECT time, kind, reason, request_id, count, details FROM events',
    );
    expect(got).toEqual([
      {
        time: NOW,
        kind: 'security',
        reason: 'events.unrecorded',
        request_id: null,
        count: 250,
        details: '{"folded":true}',
      },
    ]);
  });

  it('appends each batch of security and admin events to the audit log, once, even when the log fails once', async () => {
    const log = new AuditLog(t.db);
    // The audit log is append-only: this test reads what it appended past the current end.
    const [end] = await t.db.query<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM audit_log');
    let calls = 0;
    // The real audit log, whose first append fails as a store outage would make it.
    const flaky: AuditSink = {
      appendMany: async (entries) => {
        calls++;
        if (calls === 1) throw new Error('audit log unavailable');
        await log.appendMany(entries);
      },
    };
    const r = start({ batchSize: 100 }, t.db, systemClock, flaky);

    for (let i = 0; i < 3; i++) r.recorder.record(event('security', `a-${i}`));
    r.recorder.record(event('request', 'not-audited'));
    r.recorder.recordAdmin({ action: 'key.create', decision: 'ok', actor: 'admin-1' });
    await r.flush();
    expect(r.stats().failedWrites).toBe(1);
    await r.flush();

    const audited = await t.db.query<{ action: string; request_id: string | null; actor: string }>(
      'SELECT action, request_id, actor FROM audit_log WHERE seq > $1 ORDER BY seq',
      [Number(end?.seq ?? 0)],
    );
    expect(audited).toEqual([
      { action: 'request.denied', request_id: 'a-0', actor: 'gateway:ip-restriction' },
      { action: 'request.denied', request_id: 'a-1', actor: 'gateway:ip-restriction' },
      { action: 'request.denied', request_id: 'a-2', actor: 'gateway:ip-restriction' },
      { action: 'key.create', request_id: null, actor: 'admin-1' },
    ]);
    // The events table got the batch once, though the audit log needed a second try.
    expect((await rows(t.db)).map((row) => row.request_id)).toEqual([
      'a-0',
      'a-1',
      'a-2',
      null,
      'not-audited',
    ]);
  });

  it('stores text the database cannot hold (NUL, a lone surrogate) instead of failing the batch', async () => {
    const r = start();

    r.recorder.record({ ...event('security', 'nul\u0000id'), path: '/a\ud800b' });
    r.recorder.record(event('security', 'next'));
    await r.flush();

    const got = await t.db.query<{ request_id: string; path: string }>(
      'SELECT request_id, path FROM events ORDER BY id',
    );
    expect(got).toEqual([
      { request_id: 'nul\ufffdid', path: '/a\ufffdb' },
      { request_id: 'next', path: '/catalog' },
    ]);
    expect(r.stats().failedWrites).toBe(0);
  });

  it('stops listening to the channels once stopped', async () => {
    const r = start();
    await r.stop();

    diagnostics.channel('portcullis:stage:deny').publish({
      requestId: 'late',
      reason: 'blocks.ip.denied',
      status: 403,
      enforced: true,
      stage: 'ip-restriction',
      route: 'catalog',
      method: 'GET',
      path: '/',
      clientIp: '192.0.2.1',
    });
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(await rows(t.db)).toHaveLength(0);
    expect(r.stats().spilled).toBe(0);
  });

  it('purges each kind past its own retention, in bounded batches, and keeps admin events forever', async () => {
    const ages = [12 * HOUR, 2 * DAY, 10 * DAY, 400 * DAY];
    const old: EventRecord[] = [];
    for (const kind of ['request', 'security', 'admin'] as const) {
      for (const [i, age] of ages.entries()) old.push(event(kind, `${kind}-${i}`, NOW - age));
    }
    await t.db.transaction((tx) => insertEvents(tx, old));

    const counts = await purgeExpiredEvents({
      db: t.db,
      retention: { requestDays: 1, securityDays: 7, adminDays: 0 },
      clock: fixedClock(NOW),
      log: quietLog(),
      batchSize: 1,
    });

    expect(counts).toEqual({ request: 3, security: 2, admin: 0 });
    const left = (await rows(t.db)).map((row) => row.request_id).sort();
    expect(left).toEqual(
      ['admin-0', 'admin-1', 'admin-2', 'admin-3', 'request-0', 'security-0', 'security-1'].sort(),
    );
  });

  it('purges through the recording with the configured retention', async () => {
    await t.db.transaction((tx) =>
      insertEvents(tx, [
        event('request', 'old', NOW - 8 * DAY),
        event('request', 'new', NOW - DAY),
      ]),
    );
    const r = start({}, t.db, fixedClock(NOW));

    expect(await r.purge()).toEqual({ request: 1, security: 0, admin: 0 });
    expect((await rows(t.db)).map((row) => row.request_id)).toEqual(['new']);
  });

  it('reads every kind in (time, id) order, across pages and kinds with equal times', async () => {
    const kinds = ['request', 'security', 'admin'] as const;
    // Times repeat across kinds and within a kind; the window cuts both ends.
    const all = Array.from({ length: 40 }, (_, i) =>
      event(kinds[(i * 7) % 3] ?? 'request', `e${i}`, NOW + Math.floor(i / 4) * 1000),
    );
    await t.db.transaction((tx) => insertEvents(tx, all));
    const filter = { since: NOW + 1000, until: NOW + 9000 };

    const read: string[] = [];
    for await (const e of readEvents(t.db, filter, 3)) read.push(e.requestId ?? '');

    const expected = await t.db.query<{ request_id: string }>(
      'SELECT request_id FROM events WHERE time >= $1 AND time < $2 ORDER BY time, id',
      [filter.since, filter.until],
    );
    expect(read).toEqual(expected.map((r) => r.request_id));
    expect(read).toHaveLength(32);
  });

  describe('portcullis events export', () => {
    let dir: string;
    let config: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'pcl-export-'));
      config = storeConfigFile(t.database, dir);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    beforeEach(async () => {
      const base = Date.parse('2026-11-20T00:00:00Z');
      const all: EventRecord[] = [];
      for (let h = 0; h < 48; h++) {
        all.push(
          event(
            h % 3 === 0 ? 'security' : h % 3 === 1 ? 'request' : 'admin',
            `h${h}`,
            base + h * HOUR,
          ),
        );
      }
      all.push({
        ...event('request', 'folded', base + HOUR),
        requestId: null,
        count: 42,
        details: { folded: true },
      });
      await t.db.transaction((tx) => insertEvents(tx, all));
    });

    it('writes the events of the window as JSON lines, oldest first, since inclusive and until exclusive', async () => {
      const run = await portcullis([
        'events',
        'export',
        '-c',
        config,
        '--since',
        '2026-11-20T01:00:00Z',
        '--until',
        '2026-11-20T05:00:00Z',
        '--format',
        'jsonl',
      ]);

      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout.endsWith('\n')).toBe(true);
      const lines = run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.requestId)).toEqual(['h1', null, 'h2', 'h3', 'h4']);
      expect(lines[0]).toEqual({
        id: expect.any(Number) as number,
        time: '2026-11-20T01:00:00.000Z',
        kind: 'request',
        action: 'request.allowed',
        decision: 'allow',
        reason: null,
        requestId: 'h1',
        route: 'catalog',
        method: 'GET',
        path: '/catalog',
        status: 200,
        clientIp: '192.0.2.10',
        consumer: null,
        stage: null,
        count: 1,
        details: null,
      });
      expect(lines[1]).toMatchObject({ kind: 'request', count: 42, details: { folded: true } });
    });

    it('filters by kind', async () => {
      const run = await portcullis([
        'events',
        'export',
        '-c',
        config,
        '--since',
        '2026-11-20',
        '--until',
        '2026-11-21',
        '--kind',
        'security',
      ]);

      expect(run.code).toBe(0);
      const lines = run.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { kind: string; requestId: string });
      expect(lines).toHaveLength(8);
      expect(lines.every((l) => l.kind === 'security')).toBe(true);
      expect(lines.map((l) => l.requestId)).toEqual([
        'h0',
        'h3',
        'h6',
        'h9',
        'h12',
        'h15',
        'h18',
        'h21',
      ]);
    });

    it('takes a duration for --since and writes nothing when nothing matches', async () => {
      const run = await portcullis(['events', 'export', '-c', config, '--since', '24h']);

      expect(run.code).toBe(0);
      expect(run.stdout).toBe('');
    });
  });
});

describe('portcullis events export arguments', () => {
  let dir: string;
  let config: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-export-args-'));
    config = join(dir, 'portcullis.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        listeners: { http: { host: '127.0.0.1', port: 0 } },
        upstreams: { api: { targets: ['http://127.0.0.1:9'] } },
        routes: [
          { name: 'r', paths: ['/r'], methods: ['GET'], upstream: 'api', auth: { public: true } },
        ],
        state: { store: { backend: 'sqlite', sqlite: { path: './data/store.db' } } },
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['an unknown format', ['--since', '24h', '--format', 'csv'], /--format "csv": only jsonl/],
    ['a word for --since', ['--since', 'yesterday'], /--since "yesterday": expected an ISO 8601/],
    ['a time without a zone', ['--since', '2026-11-20T10:00:00'], /--since .*with a zone/],
    ['a day the month does not have', ['--since', '2026-02-30'], /--since "2026-02-30"/],
    [
      'an unknown kind',
      ['--since', '24h', '--kind', 'debug'],
      /--kind "debug": expected one of request, security, admin/,
    ],
    [
      '--since after --until',
      ['--since', '2026-11-21', '--until', '2026-11-20'],
      /--since must be before --until/,
    ],
  ])('refuses %s with exit 1 and a message', async (_name, args, message) => {
    const run = await portcullis(['events', 'export', '-c', config, ...args]);

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^PCL_EVENTS_EXPORT_INVALID: /);
    expect(run.stderr).toMatch(message);
  });
});
