import type { Logger } from 'pino';
import type { StateConfig } from '../../config/schema.js';
import type { Clock } from '../../gateway/stage.js';
import type { Db } from '../db.js';
import type { EventRecord } from './event.js';
import { EventQueue } from './event-queue.js';
import { insertEvents } from './events-table.js';
import type { SpillFile } from './spill-file.js';

export type EventsConfig = StateConfig['events'];

/**
 * Where security and admin events go besides the events table: the hash-chained audit log
 * (`AuditLog.appendMany`). Called after the batch is committed to the events table, and retried
 * on its own when it fails, so that neither side gets a batch twice.
 */
export interface AuditSink {
  appendMany(entries: readonly EventRecord[]): Promise<void>;
}

export interface EventStats {
  readonly queued: {
    readonly priority: number;
    readonly request: number;
    readonly foldedCounts: number;
    readonly spill: number;
    /** Minutes of refusals (`events.unrecorded`) counted, not yet written. */
    readonly refusalCounts: number;
  };
  readonly written: {
    readonly request: number;
    readonly security: number;
    readonly admin: number;
    readonly foldedRows: number;
  };
  /** Request events stored as samples while sampling was on. */
  readonly sampled: number;
  /** Request events stored only as a count in a folded row. */
  readonly folded: number;
  /** Request events neither stored nor counted. */
  readonly dropped: number;
  /** 1 when every request event is kept; N when 1 in N is. */
  readonly sampleEvery: number;
  /** Security and admin events written to a spill file. */
  readonly spilled: number;
  /** Spilled events written back to the store. */
  readonly replayed: number;
  /** Security and admin events lost: the store and the spill file both failed. */
  readonly lost: number;
  readonly failedWrites: number;
  readonly storeFailing: boolean;
  /** fail-closed only: the gateway should answer 503. */
  readonly refusing: boolean;
}

/**
 * The reason of the gateway's own refusal while it refuses (fail-closed; src/gateway/handler.ts).
 * Each such refusal would be one more security event for a store that cannot take them: they
 * are counted per minute and written as one row each once events are written again.
 */
export const UNRECORDED_REASON = 'events.unrecorded';

/** Security events held in memory before spilling: this many times `queueSize`. */
const HARD_CAP_FACTOR = 4;
/** Folded counts are per (minute, route, status...): this many cover hours of a large API. */
const MAX_FOLDED_KEYS = 10_000;
const ALARM_EVERY_MS = 5_000;
const MAX_BACKOFF_MS = 5_000;

type AlarmCode = 'PCL_EVENTS_UNWRITABLE' | 'PCL_EVENTS_SPILLED' | 'PCL_EVENTS_LOST';
/** Each alarm is rate-limited on its own; starting to refuse is reported apart from the rest. */
type AlarmKey = AlarmCode | 'refusing';

export interface EventWriterOptions {
  readonly db: Db;
  readonly config: EventsConfig;
  readonly audit?: AuditSink;
  readonly clock: Clock;
  readonly log: Logger;
  readonly spill: SpillFile;
}

/**
 * Takes events from the request path (`record`, synchronous and O(1)) and writes them off it:
 * every `flushIntervalMs`, or as soon as a lane holds `batchSize` events; the priority lane
 * first; each batch in one transaction. A failed write leaves the batch queued and retries
 * with backoff; the failure policy (`onWriteFailure`) applies once the priority lane is full.
 */
export class EventWriter {
  readonly #db: Db;
  readonly #config: EventsConfig;
  readonly #audit: AuditSink | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #spill: SpillFile;
  readonly #queue: EventQueue;
  readonly #hardCap: number;

  #timer: NodeJS.Timeout | undefined;
  #scheduled = false;
  #draining: Promise<void> | undefined;
  /** Events still to write even as a partial batch: what was queued at the last tick. */
  #budgetPriority = 0;
  #budgetRequest = 0;
  /** Events at the head of the priority lane already in the table, not yet in the audit sink. */
  #auditHead = 0;

  #spillPending: EventRecord[] = [];
  /** Refusals for want of recording, per minute: written as counted rows once possible. */
  #refusals = new Map<number, EventRecord & { count: number }>();
  #lastRefusal: (EventRecord & { count: number }) | undefined;
  #spilling: Promise<void> | undefined;
  #replayWanted = false;
  /** No append to a spill file while a replay reads them. */
  #replaying = false;

  #failures = 0;
  #retryAt = 0;
  #storeFailing = false;
  #refusing = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  readonly #alarmAt = new Map<AlarmKey, number>();

  #written = { request: 0, security: 0, admin: 0, foldedRows: 0 };
  #spilled = 0;
  #replayed = 0;
  #lost = 0;
  #failedWrites = 0;

  constructor(opts: EventWriterOptions) {
    this.#db = opts.db;
    this.#config = opts.config;
    this.#audit = opts.audit;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#spill = opts.spill;
    this.#hardCap = opts.config.queueSize * HARD_CAP_FACTOR;
    this.#queue = new EventQueue({
      capacity: opts.config.queueSize,
      hardCap: this.#hardCap,
      maxFoldedKeys: MAX_FOLDED_KEYS,
    });
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(), this.#config.flushIntervalMs);
    this.#timer.unref();
  }

  /** Writes spill files left by an earlier run (or a crash) once the store answers. */
  replaySpilled(): void {
    this.#replayWanted = true;
  }

  /** On the request path: never waits, never throws. */
  record(e: EventRecord): void {
    if (this.#stopped !== undefined) {
      this.#late(e);
      return;
    }
    if (e.reason === UNRECORDED_REASON && e.kind === 'security') {
      this.#countRefusal(e);
      return;
    }
    const q = this.#queue;
    switch (q.push(e)) {
      case 'queued':
        if (e.kind === 'request') {
          if (q.requests.length >= this.#config.batchSize) this.#schedule();
        } else {
          if (q.priority.length >= this.#config.queueSize) this.#pressure();
          if (q.priority.length >= this.#config.batchSize) this.#schedule();
        }
        return;
      case 'folded':
        if (q.requests.length >= this.#config.batchSize) this.#schedule();
        return;
      case 'dropped':
        this.#alarm('PCL_EVENTS_LOST', 'request events dropped: the folded counts are full');
        return;
      case 'overflow':
        this.#overflow(e);
        return;
    }
  }

  /** fail-closed only: true while security events cannot be written as fast as they come. */
  shouldRefuse(): boolean {
    return this.#refusing;
  }

  stats(): EventStats {
    const q = this.#queue;
    return {
      queued: {
        priority: q.priority.length,
        request: q.requests.length,
        foldedCounts: q.foldedKeys,
        spill: this.#spillPending.length,
        refusalCounts: this.#refusals.size,
      },
      written: { ...this.#written },
      sampled: q.sampled,
      folded: q.folded,
      dropped: q.dropped,
      sampleEvery: q.sampleEvery,
      spilled: this.#spilled,
      replayed: this.#replayed,
      lost: this.#lost,
      failedWrites: this.#failedWrites,
      storeFailing: this.#storeFailing,
      refusing: this.#refusing,
    };
  }

  /** Writes what is queued now (ignoring the retry backoff) and waits for it. */
  async flush(): Promise<void> {
    await this.#draining;
    this.#retryAt = 0;
    this.#queueRefusals();
    this.#kick(true);
    await this.#draining;
    await this.#flushSpill();
    await this.#spillSettled();
  }

  /**
   * Stops the timer and writes everything still queued. Security and admin events the store
   * does not take go to the spill file; request events it does not take are counted as dropped.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#finish();
    return this.#stopped;
  }

  async #finish(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    await this.#draining;
    await this.#spillSettled();
    this.#budgetPriority = Number.POSITIVE_INFINITY;
    this.#budgetRequest = Number.POSITIVE_INFINITY;
    const refusals = [...this.#refusals.values()];
    this.#refusals = new Map();
    this.#lastRefusal = undefined;
    for (const row of refusals) {
      if (this.#queue.push(row) === 'overflow') this.#spillPending.push(row);
    }
    this.#draining = this.#drain();
    await this.#draining;
    // The drain's failures overflow to the spill lane, and may have started an append.
    await this.#spillSettled();

    const q = this.#queue;
    const left = [...q.priority.takeAll(), ...this.#spillPending];
    this.#spillPending = [];
    this.#auditHead = 0;
    if (left.length > 0) {
      try {
        await this.#spill.append(left);
        this.#spilled += left.length;
        this.#log.error(
          { event: 'events.spilled', code: 'PCL_EVENTS_SPILLED', events: left.length },
          `security and admin events the store did not take at shutdown are in ${this.#spill.current ?? this.#spill.dir}: replayed at the next start`,
        );
      } catch (err) {
        this.#lost += left.length;
        this.#log.error(
          {
            event: 'events.lost',
            code: 'PCL_EVENTS_LOST',
            events: left.length,
            error: message(err),
          },
          'security and admin events lost at shutdown: neither the store nor the spill file took them',
        );
      }
    }
    const requests = q.requests.takeAll().length;
    const folded = q.takeFolded().reduce((n, r) => n + (r.count ?? 1), 0);
    if (requests + folded > 0) {
      q.dropped += requests + folded;
      q.folded -= folded;
      this.#log.error(
        { event: 'events.lost', code: 'PCL_EVENTS_LOST', requestEvents: requests + folded },
        'request events dropped at shutdown: the store did not take them',
      );
    }
  }

  /** After stop: nothing is written any more, but a security event still goes to the file. */
  #late(e: EventRecord): void {
    if (e.kind === 'request') {
      this.#queue.dropped++;
      return;
    }
    this.#spill.append([e]).then(
      () => this.#spilled++,
      () => this.#lost++,
    );
  }

  #tick(): void {
    void this.#flushSpill();
    this.#updateRefusing();
    this.#queueRefusals();
    this.#kick(true);
  }

  #countRefusal(e: EventRecord): void {
    const minute = e.time - (e.time % 60_000);
    const known = this.#refusals.get(minute);
    if (known !== undefined) {
      known.count++;
      return;
    }
    // A week of minutes; past that, the newest row takes the count.
    if (this.#refusals.size >= MAX_FOLDED_KEYS && this.#lastRefusal !== undefined) {
      this.#lastRefusal.count++;
      return;
    }
    const row = {
      ...e,
      time: minute,
      requestId: null,
      method: null,
      path: null,
      clientIp: null,
      count: 1,
      details: { folded: true },
    };
    this.#refusals.set(minute, row);
    this.#lastRefusal = row;
  }

  /** Once the priority lane has room again, the refusal counts join it as ordinary rows. */
  #queueRefusals(): void {
    if (this.#refusals.size === 0 || this.#refusing) return;
    if (this.#queue.priority.length >= this.#config.queueSize) return;
    const rows = [...this.#refusals.values()];
    this.#refusals = new Map();
    this.#lastRefusal = undefined;
    for (const row of rows) {
      if (this.#queue.push(row) === 'overflow') this.#overflow(row);
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#draining !== undefined || this.#stopping) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#kick(false);
    });
  }

  /** Starts a drain unless one runs or a retry is not due; `all` also writes partial batches. */
  #kick(all: boolean): void {
    const q = this.#queue;
    if (all) {
      this.#budgetPriority = q.priority.length;
      this.#budgetRequest = q.requests.length + (q.foldedKeys > 0 ? 1 : 0);
    }
    if (this.#draining !== undefined || this.#stopping) return;
    if (this.#clock.monotonic() < this.#retryAt) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      // Batches that filled while this drain was finishing go now, not at the next tick.
      const size = this.#config.batchSize;
      if (q.priority.length >= size || q.requests.length >= size) this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    const q = this.#queue;
    const size = this.#config.batchSize;
    try {
      for (;;) {
        if (this.#auditHead > 0) {
          await this.#appendAuditHead();
          continue;
        }
        const p = q.priority.length;
        if (p >= size || (p > 0 && this.#budgetPriority > 0)) {
          await this.#writePriority(Math.min(p, size));
          continue;
        }
        const n = q.requests.length;
        if (n >= size || ((n > 0 || q.foldedKeys > 0) && this.#budgetRequest > 0)) {
          await this.#writeRequests(Math.min(n, size));
          continue;
        }
        break;
      }
      this.#healthy();
      if (this.#replayWanted) await this.#replay();
    } catch (err) {
      this.#failed(err);
    }
  }

  async #writePriority(k: number): Promise<void> {
    const batch = this.#queue.priority.peek(k);
    await insertEvents(this.#db, batch);
    for (const e of batch) this.#written[e.kind]++;
    this.#budgetPriority -= k;
    if (this.#audit === undefined) this.#queue.priority.drop(k);
    else {
      this.#auditHead = k;
      await this.#appendAuditHead();
    }
    this.#updateRefusing();
  }

  async #appendAuditHead(): Promise<void> {
    const n = this.#auditHead;
    await this.#audit?.appendMany(this.#queue.priority.peek(n));
    this.#queue.priority.drop(n);
    this.#auditHead = 0;
    this.#updateRefusing();
  }

  async #writeRequests(k: number): Promise<void> {
    const q = this.#queue;
    const batch = q.requests.peek(k);
    const folded = q.takeFolded();
    try {
      await insertEvents(this.#db, folded.length === 0 ? batch : batch.concat(folded));
    } catch (err) {
      q.restoreFolded(folded);
      throw err;
    }
    q.requests.drop(k);
    this.#budgetRequest -= Math.max(k, 1);
    this.#written.request += k;
    this.#written.foldedRows += folded.length;
    q.endCycle();
  }

  async #replay(): Promise<void> {
    // Only once the live events are written and nothing is being spilled.
    if (this.#queue.priority.length > 0 || this.#spillPending.length > 0) return;
    if (this.#spilling !== undefined) return;
    this.#replayWanted = false;
    this.#replaying = true;
    try {
      await this.#replayFiles();
    } finally {
      this.#replaying = false;
    }
  }

  async #replayFiles(): Promise<void> {
    const files = await this.#spill.claim();
    for (const file of files) {
      const unreadable = { count: 0 };
      let n = 0;
      try {
        for await (const batch of this.#spill.read(file, this.#config.batchSize, unreadable)) {
          await insertEvents(this.#db, batch);
          await this.#audit?.appendMany(batch);
          for (const e of batch) this.#written[e.kind]++;
          n += batch.length;
        }
      } catch (err) {
        // The claimed file stays: the next replay writes it again (at least once).
        this.#replayWanted = true;
        throw err;
      }
      await this.#spill.remove(file);
      this.#replayed += n;
      this.#log.warn(
        { event: 'events.replayed', file, events: n, unreadableLines: unreadable.count },
        'spilled security and admin events written to the store',
      );
    }
  }

  #overflow(e: EventRecord): void {
    this.#spillPending.push(e);
    this.#pressure();
    if (this.#spillPending.length > this.#hardCap) {
      // The disk is slower than the burst: block for one write rather than lose the events.
      const batch = this.#spillPending;
      this.#spillPending = [];
      try {
        this.#spill.appendSync(batch);
        this.#spilled += batch.length;
        this.#replayWanted = true;
        this.#spilledAlarm();
      } catch (err) {
        this.#lost += batch.length;
        this.#alarm(
          'PCL_EVENTS_LOST',
          'security and admin events lost: neither the store nor the spill file takes them',
          err,
        );
      }
      return;
    }
    if (this.#spillPending.length >= this.#config.batchSize) void this.#flushSpill();
  }

  #flushSpill(): Promise<void> {
    if (this.#spilling !== undefined) return this.#spilling;
    if (this.#spillPending.length === 0 || this.#replaying) return Promise.resolve();
    const batch = this.#spillPending;
    this.#spillPending = [];
    this.#spilling = this.#spill.append(batch).then(
      () => {
        this.#spilled += batch.length;
        this.#replayWanted = true;
        this.#spilledAlarm();
        this.#spilling = undefined;
        // Events that overflowed while this append ran: on disk without waiting for the tick.
        if (this.#spillPending.length >= this.#config.batchSize) void this.#flushSpill();
      },
      (err: unknown) => {
        this.#spillPending = batch.concat(this.#spillPending);
        this.#spilling = undefined;
        // The next tick tries again: no retry loop against a disk that refuses.
        this.#alarm(
          'PCL_EVENTS_UNWRITABLE',
          'the spill file cannot be written either: security events are held in memory',
          err,
        );
      },
    );
    return this.#spilling;
  }

  /**
   * Waits until no append to the spill file is running. One append, when it ends, starts the
   * next if a batch overflowed meanwhile, so a single await can return with another in flight.
   */
  async #spillSettled(): Promise<void> {
    while (this.#spilling !== undefined) await this.#spilling;
  }

  #spilledAlarm(): void {
    this.#alarm(
      'PCL_EVENTS_SPILLED',
      `security and admin events past the in-memory cap are in ${this.#spill.current ?? this.#spill.dir}: replayed once the store is back`,
    );
  }

  /** The priority lane is full: apply the policy. */
  #pressure(): void {
    if (this.#config.onWriteFailure === 'fail-closed' && !this.#refusing) {
      this.#refusing = true;
      this.#alarm(
        'PCL_EVENTS_UNWRITABLE',
        'the security events queue is full: refusing requests until it drains',
        undefined,
        'refusing',
      );
    }
    this.#alarm(
      'PCL_EVENTS_UNWRITABLE',
      this.#storeFailing
        ? 'security and admin events cannot be written: the store is failing'
        : 'security and admin events come faster than the store takes them',
    );
  }

  #updateRefusing(): void {
    if (!this.#refusing) return;
    const q = this.#queue;
    if (q.priority.length < this.#config.queueSize / 2 && this.#spillPending.length === 0) {
      this.#refusing = false;
      this.#log.warn(
        { event: 'events.refusing', refusing: false },
        'security events are written again: requests are served again (onWriteFailure: fail-closed)',
      );
    }
  }

  #failed(err: unknown): void {
    this.#failures++;
    this.#failedWrites++;
    this.#storeFailing = true;
    const backoff = Math.min(
      this.#config.flushIntervalMs * 2 ** Math.min(this.#failures - 1, 16),
      MAX_BACKOFF_MS,
    );
    this.#retryAt = this.#clock.monotonic() + backoff;
    this.#alarm('PCL_EVENTS_UNWRITABLE', 'events cannot be written to the store: retrying', err);
  }

  #healthy(): void {
    if (!this.#storeFailing) return;
    this.#storeFailing = false;
    this.#failures = 0;
    this.#retryAt = 0;
    this.#log.warn(
      { event: 'events.recovered', ...this.#counts() },
      'events are written to the store again',
    );
  }

  #counts(): Record<string, number> {
    const q = this.#queue;
    return {
      queuedPriority: q.priority.length,
      queuedRequest: q.requests.length,
      spillPending: this.#spillPending.length,
      spilled: this.#spilled,
      lost: this.#lost,
      sampled: q.sampled,
      folded: q.folded,
      dropped: q.dropped,
      failedWrites: this.#failedWrites,
    };
  }

  /** An error log line with the counts, at most once per ALARM_EVERY_MS per code. */
  #alarm(code: AlarmCode, text: string, err?: unknown, key: AlarmKey = code): void {
    const now = this.#clock.monotonic();
    const last = this.#alarmAt.get(key);
    if (last !== undefined && now - last < ALARM_EVERY_MS) return;
    this.#alarmAt.set(key, now);
    const policy = this.#config.onWriteFailure;
    this.#log.error(
      {
        event: 'events.alarm',
        code,
        policy,
        refusing: this.#refusing,
        ...this.#counts(),
        ...(err === undefined ? {} : { error: message(err) }),
      },
      `${text} (onWriteFailure: ${policy}${this.#refusing ? ', refusing requests' : ''})`,
    );
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
