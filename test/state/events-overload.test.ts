import { spawn } from 'node:child_process';
import { portcullis } from '../support/cli.js';
import { eventsConfig, eventually, storeConfigFile } from '../support/events.js';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/gateway/stage.js';
import type { Db } from '../../src/state/db.js';
import type { EventRecord } from '../../src/state/events/event.js';
import type { EventsConfig } from '../../src/state/events/event-writer.js';
import { startEventRecording, type EventRecording } from '../../src/state/events/recorder.js';
import { REQUEST_DONE_CHANNEL } from '../../src/state/events/request-done.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { PostgresDb } from '../../src/state/postgres/postgres-db.js';
import { SqliteDb } from '../../src/state/sqlite/sqlite-db.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

/**
 * The event pipeline under overload and with the store gone: security events are never lost,
 * request events are sampled and counted, the failure policy applies, and nothing the gateway
 * writes holds a secret.
 */

const DIST_URL = new URL('../../dist/', import.meta.url);
const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

/** A logger whose every line the test can read (and grep). */
function capturedLog(): { log: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write(s: string) {
        raw.push(s);
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { log, lines, text: () => raw.join('') };
}

function event(kind: 'request' | 'security', id: string): EventRecord {
  return {
    time: Date.now(),
    kind,
    action: kind === 'request' ? 'request.allowed' : 'request.denied',
    decision: kind === 'request' ? 'allow' : 'deny',
    reason: kind === 'request' ? null : 'blocks.ip.denied',
    requestId: id,
    route: 'catalog',
    method: 'GET',
    path: '/catalog',
    status: kind === 'request' ? 200 : 403,
    clientIp: '192.0.2.10',
    consumer: null,
    stage: kind === 'request' ? null : 'ip-restriction',
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function securityIds(db: Db): Promise<Set<string>> {
  const rows = await db.query<{ request_id: string }>(
    "SELECT request_id FROM events WHERE kind = 'security'",
  );
  return new Set(rows.map((r) => r.request_id));
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function sqliteStore(): Promise<{ database: TestDatabase; db: Db; dir: string }> {
  const database = await createTestDatabase('sqlite');
  cleanups.push(() => database.cleanup());
  const db = await database.open();
  await migrate(db, MIGRATIONS);
  return { database, db, dir: dirname(database.location) };
}

function recording(
  db: Db,
  config: EventsConfig,
  spillDir: string,
  log: Logger = pino({ level: 'silent' }),
): EventRecording {
  const r = startEventRecording({
    db,
    config,
    clock: systemClock,
    log,
    spillDir,
    retention: false,
  });
  cleanups.push(() => r.stop());
  return r;
}

describe('overload', () => {
  it('keeps every security event while request events are sampled and counted', async () => {
    const { db, dir } = await sqliteStore();
    const r = recording(db, eventsConfig({ queueSize: 1000, batchSize: 250 }), dir);
    const REQUESTS = 200_000;
    const SECURITY = 5_000;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();

    // 40 request events to 1 security event, as fast as the loop allows, yielding between
    // chunks the way requests arriving on sockets do.
    let req = 0;
    let sec = 0;
    while (req < REQUESTS) {
      for (let i = 0; i < 41 * 50; i++) {
        if (i % 41 === 40) r.recorder.record(event('security', `s-${sec++}`));
        else r.recorder.record(event('request', `r-${req++}`));
      }
      await tick();
    }
    const during = r.stats();
    await r.stop();
    delay.disable();

    expect(sec).toBe(SECURITY);
    expect(await securityIds(db)).toEqual(
      new Set(Array.from({ length: SECURITY }, (_, i) => `s-${i}`)),
    );

    const [single] = await db.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM events WHERE kind = 'request' AND request_id IS NOT NULL",
    );
    const [folded] = await db.query<{ n: number; rows: number }>(
      "SELECT COALESCE(SUM(count), 0) AS n, COUNT(*) AS rows FROM events WHERE kind = 'request' AND request_id IS NULL",
    );
    const stats = r.stats();
    // The queue was overrun: sampling was on, most request events were folded into counts...
    expect(during.sampleEvery).toBeGreaterThan(1);
    expect(stats.sampled).toBeGreaterThan(0);
    expect(Number(single?.n)).toBeLessThan(REQUESTS / 2);
    expect(Number(folded?.rows)).toBeGreaterThan(0);
    // ...and every one of them is accounted for: stored, or counted in a folded row.
    expect(Number(single?.n) + Number(folded?.n)).toBe(REQUESTS);
    expect(stats.folded).toBe(Number(folded?.n));
    expect(stats.written.request).toBe(Number(single?.n));
    expect(stats.dropped).toBe(0);
    expect(stats.spilled).toBe(0);
    expect(stats.lost).toBe(0);
    // A stalled loop is seconds; a responsive one stays well under this.
    expect(delay.max / 1e6).toBeLessThan(500);
  });
});

describe('store unavailable', () => {
  it('onWriteFailure alarm: keeps recording, raises the alarm, spills past the cap and replays once the store is back', async () => {
    const { database, db, dir } = await sqliteStore();
    const captured = capturedLog();
    const r = recording(
      db,
      eventsConfig({ queueSize: 100, batchSize: 50, onWriteFailure: 'alarm' }),
      dir,
      captured.log,
    );
    await db.close();

    for (let i = 0; i < 1000; i++) {
      r.recorder.record(event('security', `down-${i}`));
      r.recorder.record(event('request', `req-${i}`));
      if (i % 100 === 0) await tick();
    }
    await eventually(() => r.stats().failedWrites > 0 && r.stats().spilled > 0);

    expect(r.recorder.shouldRefuse()).toBe(false);
    const alarms = captured.lines.filter((l) => l.event === 'events.alarm');
    const unwritable = alarms.filter((l) => l.code === 'PCL_EVENTS_UNWRITABLE');
    expect(unwritable.length).toBeGreaterThanOrEqual(1);
    // At most once per few seconds, not once per event.
    expect(unwritable.length).toBeLessThanOrEqual(2);
    expect(unwritable[0]).toMatchObject({ level: 50, policy: 'alarm', refusing: false });
    expect(unwritable[0]?.queuedPriority).toEqual(expect.any(Number));
    expect(alarms.some((l) => l.code === 'PCL_EVENTS_SPILLED')).toBe(true);

    await r.stop();
    const stats = r.stats();
    expect(stats.lost).toBe(0);
    expect(stats.spilled).toBe(1000);
    expect(readdirSync(dir).some((f) => f.startsWith('events-spill-'))).toBe(true);

    // The store is back: the next start writes the spilled events and removes the files.
    const back = await database.open();
    const again = recording(back, eventsConfig(), dir, captured.log);
    await again.flush();
    expect(await securityIds(back)).toEqual(
      new Set(Array.from({ length: 1000 }, (_, i) => `down-${i}`)),
    );
    expect(again.stats().replayed).toBe(1000);
    expect(readdirSync(dir).filter((f) => f.startsWith('events-'))).toEqual([]);
  });

  it('onWriteFailure fail-closed: refuses while PostgreSQL is down and writes every security event once it is back', async () => {
    const database = await createTestDatabase('postgres');
    cleanups.push(() => database.cleanup());
    const direct = await database.open();
    await migrate(direct, MIGRATIONS);
    const proxy = await tcpProxy(new URL(database.location));
    cleanups.push(() => proxy.close());
    const url = new URL(database.location);
    url.host = `127.0.0.1:${proxy.port}`;
    const db = new PostgresDb(url.toString(), 2);
    cleanups.push(() => db.close());
    const spillDir = mkdtempSync(join(tmpdir(), 'pcl-spill-'));
    cleanups.push(() => rmSync(spillDir, { recursive: true, force: true }));
    const captured = capturedLog();
    const r = recording(
      db,
      eventsConfig({ queueSize: 100, batchSize: 20, onWriteFailure: 'fail-closed' }),
      spillDir,
      captured.log,
    );
    r.recorder.record(event('security', 'before'));
    await r.flush();
    expect(await securityIds(direct)).toEqual(new Set(['before']));

    await proxy.down();
    for (let i = 0; i < 150; i++) {
      r.recorder.record(event('security', `pg-${i}`));
      if (i % 10 === 0) await tick();
    }

    expect(r.recorder.shouldRefuse()).toBe(true);
    await eventually(() => r.stats().failedWrites > 0);
    expect(r.recorder.shouldRefuse()).toBe(true);
    expect(
      captured.lines.some(
        (l) =>
          l.code === 'PCL_EVENTS_UNWRITABLE' && l.policy === 'fail-closed' && l.refusing === true,
      ),
    ).toBe(true);

    await proxy.up();
    await eventually(() => !r.recorder.shouldRefuse());
    await r.flush();
    const ids = await securityIds(direct);
    for (let i = 0; i < 150; i++) expect(ids.has(`pg-${i}`)).toBe(true);
    expect(r.stats()).toMatchObject({ lost: 0, spilled: 0, storeFailing: false, refusing: false });
    expect(captured.lines.some((l) => l.event === 'events.recovered')).toBe(true);
  });
});

describe('crash', () => {
  it('leaves a store that opens, intact, after kill -9 during heavy writing', async () => {
    const { database, db } = await sqliteStore();
    await db.close();
    // A separate process records security events as fast as it can; we kill it mid-write.
    const pinoUrl = new URL('../../node_modules/pino/pino.js', import.meta.url).href;
    const script = `
      import { SqliteDb } from ${JSON.stringify(new URL('state/sqlite/sqlite-db.js', DIST_URL).href)};
      import { startEventRecording } from ${JSON.stringify(new URL('state/events/recorder.js', DIST_URL).href)};
      import { pino } from ${JSON.stringify(pinoUrl)};
      const db = new SqliteDb(${JSON.stringify(database.location)});
      const r = startEventRecording({
        db, spillDir: ${JSON.stringify(dirname(database.location))}, retention: false,
        clock: { now: () => Date.now(), monotonic: () => performance.now() },
        log: pino({ level: 'silent' }),
        // Large enough that nothing spills: every event is either in the store or still queued.
        config: { queueSize: 200000, batchSize: 200, flushIntervalMs: 5, onWriteFailure: 'alarm',
                  retention: { requestDays: 0, securityDays: 0, adminDays: 0 } },
      });
      let n = 0;
      let told = false;
      const base = { kind: 'security', action: 'request.denied', decision: 'deny', reason: 'x',
        route: 'r', method: 'GET', path: '/', status: 403, clientIp: '192.0.2.1', consumer: null, stage: 's' };
      setInterval(() => {
        for (let i = 0; i < 100; i++) r.recorder.record({ ...base, time: Date.now(), requestId: 'k-' + n++ });
        if (!told && r.stats().written.security > 2000) {
          told = true;
          process.stdout.write('busy\\n');
        }
      }, 1);
    `;
    // A file, not `--input-type=module -e`: worker threads inherit execArgv, and the SQLite
    // worker refuses --input-type.
    const file = join(dirname(database.location), 'writer.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
    });
    // Mid-write: batches are being committed while more are queued.
    await sleep(150);
    expect(child.kill('SIGKILL')).toBe(true);
    await exited;

    const reopened = new SqliteDb(database.location);
    cleanups.push(() => reopened.close());
    expect(await migrate(reopened, MIGRATIONS)).toEqual([]);
    expect(await reopened.query('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    const rows = await reopened.query<{ request_id: string }>('SELECT request_id FROM events');
    expect(rows.length).toBeGreaterThan(2000);
    // Batches are whole transactions written in order: the stored events are a prefix, no gap.
    const seq = rows.map((row) => Number(row.request_id.slice(2))).sort((a, b) => a - b);
    expect(seq[seq.length - 1]).toBe(seq.length - 1);
  });
});

describe('secrets', () => {
  // What a request can carry; none of it may appear in anything the gateway writes.
  const SECRETS = {
    apiKey: 'pcl_live_Zq7Wm2Kx9Rt4Yb8N',
    bearer: 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.Kx3vQm9T',
    cookie: 'sess_4f7c1d9e2b8a6035',
    password: 'correct-horse-battery-staple-81',
    queryToken: 'qtok_7H2kL9mP3vX5',
    upstreamPassword: 'upw_Jd83kQz0Lm',
  };

  /** A request as the data plane sees it, secrets included. */
  const request = (i: number) => ({
    requestId: `secret-test-${i}`,
    method: 'POST',
    target: `/login?api_key=${SECRETS.queryToken}`,
    headers: {
      authorization: `Bearer ${SECRETS.bearer}`,
      'x-api-key': SECRETS.apiKey,
      cookie: `session=${SECRETS.cookie}`,
    },
    body: JSON.stringify({ user: 'alice', password: SECRETS.password }),
    identity: { consumerId: 'consumer-alice', credential: SECRETS.apiKey },
  });

  /** Publishes what the gateway publishes for a request, with the whole request spread in. */
  function publishFor(i: number): void {
    const req = request(i);
    const where = { route: 'login', method: req.method, path: req.target, clientIp: '192.0.2.44' };
    diagnostics.channel('portcullis:stage:deny').publish({
      ...req,
      ...where,
      reason: 'blocks.ip.denied',
      status: 403,
      enforced: true,
      stage: 'ip-restriction',
      consumer: req.identity.consumerId,
    });
    diagnostics.channel(REQUEST_DONE_CHANNEL).publish({
      ...req,
      ...where,
      status: 200,
      durationMs: 3.5,
      consumer: req.identity.consumerId,
    });
    diagnostics.channel('portcullis:upstream:error').publish({
      ...req,
      route: 'login',
      upstream: 'api',
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      status: 502,
      url: `https://svc:${SECRETS.upstreamPassword}@10.0.0.5/login`,
    });
  }

  function found(haystack: Buffer | string, needle: string): boolean {
    return (typeof haystack === 'string' ? Buffer.from(haystack) : haystack).includes(needle);
  }

  function filesIn(dir: string): { name: string; bytes: Buffer }[] {
    return readdirSync(dir).map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  }

  it('writes no secret to the database, its WAL, the spill file, the logs or an export', async () => {
    const { database, db, dir } = await sqliteStore();
    const captured = capturedLog();
    const r = recording(db, eventsConfig({ queueSize: 100, batchSize: 50 }), dir, captured.log);
    r.recorder.recordAdmin({
      action: 'key.create',
      decision: 'ok',
      actor: 'admin-bob',
      details: { consumer: 'consumer-alice', key: { secret: SECRETS.apiKey } },
    });
    for (let i = 0; i < 200; i++) {
      publishFor(i);
      if (i % 20 === 19) await r.flush();
    }
    await r.flush();
    expect(r.stats().spilled).toBe(0);

    // While the store is open, the WAL holds the recent writes.
    const whileOpen = filesIn(dir);
    expect(whileOpen.some((f) => f.name.endsWith('-wal'))).toBe(true);

    // The store goes away: what the gateway records next ends in the spill file.
    await db.close();
    for (let i = 200; i < 800; i++) {
      publishFor(i);
      if (i % 50 === 0) await tick();
    }
    await r.stop();
    expect(r.stats().lost).toBe(0);
    expect(r.stats().spilled).toBeGreaterThan(0);

    const config = storeConfigFile(database, dir);
    const exported = await portcullis(['events', 'export', '-c', config, '--since', '1h']);
    expect(exported.code).toBe(0);

    const written = [
      ...whileOpen.map((f) => ({ what: `${f.name} (store open)`, bytes: f.bytes })),
      ...filesIn(dir).map((f) => ({ what: f.name, bytes: f.bytes })),
      { what: 'export', bytes: Buffer.from(exported.stdout + exported.stderr) },
      { what: 'logs', bytes: Buffer.from(captured.text()) },
    ];
    // The grep sees plain text: what may be recorded is found where it should be.
    const spill = written.filter(
      (w) => w.what.startsWith('events-spill-') && !w.what.endsWith('(store open)'),
    );
    expect(spill.length).toBeGreaterThan(0);
    for (const w of [...spill, written.find((w) => w.what === 'export')]) {
      expect(found(w?.bytes ?? '', 'consumer-alice'), w?.what).toBe(true);
      expect(found(w?.bytes ?? '', '/login'), w?.what).toBe(true);
    }
    expect(
      written.some((w) => w.what.startsWith('store.db') && found(w.bytes, 'secret-test-1')),
    ).toBe(true);

    const leaks = written.flatMap((w) =>
      Object.entries(SECRETS)
        .filter(([, secret]) => found(w.bytes, secret))
        .map(([name]) => `${name} in ${w.what}`),
    );
    expect(leaks).toEqual([]);
  });
});

/** A TCP relay to PostgreSQL that the test can take down and bring back on the same port. */
async function tcpProxy(target: URL): Promise<{
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  const port = await listen(0);
  const down = async (): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    down,
    up: async () => {
      await listen(port);
    },
    close: down,
  };
}
