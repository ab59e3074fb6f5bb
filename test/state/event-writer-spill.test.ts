import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/state/db.js';
import type { EventRecord } from '../../src/state/events/event.js';
import { EventWriter } from '../../src/state/events/event-writer.js';
import { SpillFile } from '../../src/state/events/spill-file.js';
import { migrate } from '../../src/state/migrate.js';
import { MIGRATIONS } from '../../src/state/migrations/index.js';
import { createTestDatabase } from '../support/databases.js';
import { eventsConfig, eventually } from '../support/events.js';

// queueSize 10 holds 40 security events in memory (4 × queueSize); the 41st spills.
const HELD = 40;
const BATCH = 5;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A spill file whose appends wait until the test lets them through, one gate per append. */
class GatedSpill extends SpillFile {
  readonly gates: (() => void)[] = [];
  calls = 0;
  failing = false;

  override async append(events: readonly EventRecord[]): Promise<void> {
    this.calls++;
    if (this.failing) throw new Error('disk full');
    await new Promise<void>((resolve) => this.gates.push(resolve));
    await super.append(events);
  }

  /** Lets the oldest waiting append through, once there is one. */
  async release(): Promise<void> {
    while (this.gates.length === 0) await new Promise((r) => setTimeout(r, 5));
    this.gates.shift()?.();
  }
}

function denied(i: number): EventRecord {
  return {
    time: Date.now(),
    kind: 'security',
    action: 'request.denied',
    decision: 'deny',
    reason: 'blocks.ip.denied',
    requestId: `denied-${i}`,
    route: 'catalog',
    method: 'GET',
    path: '/catalog',
    status: 403,
    clientIp: '192.0.2.10',
    consumer: null,
    stage: 'ip-restriction',
  };
}

/** A writer whose store is closed, so every security event ends in the spill file. */
async function writerWithoutStore(): Promise<{
  writer: EventWriter;
  spill: GatedSpill;
  dir: string;
}> {
  const database = await createTestDatabase('sqlite');
  cleanups.push(() => database.cleanup());
  const db: Db = await database.open();
  await migrate(db, MIGRATIONS);
  await db.close();
  const dir = mkdtempSync(join(tmpdir(), 'pcl-spill-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const spill = new GatedSpill(dir);
  const writer = new EventWriter({
    db,
    config: eventsConfig({ queueSize: 10, batchSize: BATCH, flushIntervalMs: 60_000 }),
    clock: { now: () => Date.now(), monotonic: () => performance.now() },
    log: pino({ level: 'silent' }),
    spill,
  });
  return { writer, spill, dir };
}

function spilledIds(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('events-spill-'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .map((line) => (JSON.parse(line) as { requestId: string }).requestId);
}

describe('the spill file', () => {
  it('stop() waits for the append that an append in flight started, and counts every event', async () => {
    const { writer, spill, dir } = await writerWithoutStore();
    for (let i = 0; i < HELD + BATCH; i++) writer.record(denied(i));
    // The first overflow batch is being appended; seven more overflow meanwhile.
    for (let i = HELD + BATCH; i < HELD + BATCH + 7; i++) writer.record(denied(i));
    expect(spill.calls).toBe(1);

    let stopped = false;
    const stopping = writer.stop().then(() => {
      stopped = true;
    });
    await spill.release(); // the first batch: its end starts the append of the seven
    await spill.release(); // the seven
    // What memory holds is appended only once the seven are on disk, never beside them...
    expect(spill.calls).toBe(2);
    // ...and stop() waits for that last append (the 40 held in memory) too.
    await eventually(() => spill.calls === 3);
    expect(stopped).toBe(false);
    await spill.release();
    await stopping;

    const stats = writer.stats();
    expect(stats.lost).toBe(0);
    expect(stats.spilled).toBe(HELD + BATCH + 7);
    expect(new Set(spilledIds(dir))).toEqual(
      new Set(Array.from({ length: HELD + BATCH + 7 }, (_, i) => `denied-${i}`)),
    );
  });

  it('does not retry a refusing spill file in a loop, and counts what it could not keep as lost', async () => {
    const { writer, spill } = await writerWithoutStore();
    spill.failing = true;
    for (let i = 0; i < HELD + 3 * BATCH; i++) writer.record(denied(i));
    await new Promise((r) => setTimeout(r, 100));
    // One try, for the first full batch: the next tick (60 s away here) tries again.
    expect(spill.calls).toBe(1);
    await writer.stop();
    const stats = writer.stats();
    expect(stats.spilled).toBe(0);
    expect(stats.lost).toBe(HELD + 3 * BATCH);
  });
});
