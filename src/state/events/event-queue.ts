import type { EventRecord } from './event.js';

/** A FIFO with O(1) push and amortized O(1) removal from the front. */
class Lane {
  #items: EventRecord[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(e: EventRecord): void {
    this.#items.push(e);
  }

  /** The first `n` events, left in place: they leave only once written. */
  peek(n: number): EventRecord[] {
    return this.#items.slice(this.#head, this.#head + n);
  }

  drop(n: number): void {
    this.#head += Math.min(n, this.length);
    // Compact once the dead prefix is most of the array: each event is copied at most once more.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Everything, emptying the lane. */
  takeAll(): EventRecord[] {
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return all;
  }
}

export interface QueueLimits {
  /** Request events held before sampling starts; also where the priority lane counts as full. */
  readonly capacity: number;
  /** Security and admin events held in memory; beyond it they go to the spill file. */
  readonly hardCap: number;
  /** Distinct (minute, route, status, action, reason) counts held for folded request events. */
  readonly maxFoldedKeys: number;
}

/** How the queue took an event. */
export type Admission = 'queued' | 'folded' | 'dropped' | 'overflow';

/** Beyond 1 in 1024, a sample says nothing more that the counts do not. */
const MAX_SAMPLE_EVERY = 1024;
const MINUTE = 60_000;

interface FoldedCount {
  readonly time: number;
  readonly action: string;
  readonly decision: string;
  readonly reason: string | null;
  readonly route: string | null;
  readonly status: number | null;
  count: number;
}

/**
 * The two lanes between the channels and the store. `push` is O(1) and never waits: it runs on
 * the request path, inside the diagnostics channel's publish.
 *
 * - The priority lane (security and admin events) is never sampled. Past `hardCap` an event is
 *   refused as `overflow` and the writer spills it to a file: it is never dropped here.
 * - The request lane holds `capacity` events. When it is full the queue keeps 1 request event
 *   in N (N doubles each flush cycle the lane is still full, and halves once it has drained),
 *   and folds the others into per-minute counts written as one row each.
 */
export class EventQueue {
  readonly priority = new Lane();
  readonly requests = new Lane();
  readonly #limits: QueueLimits;
  #folded = new Map<string, FoldedCount>();
  #sampleEvery = 1;
  #tick = 0;
  #raisedThisCycle = false;

  /** Request events kept as samples while sampling was on (they are stored). */
  sampled = 0;
  /** Request events not stored one by one, but counted in a folded row. */
  folded = 0;
  /** Request events neither stored nor counted: the folded counts were full (store down long). */
  dropped = 0;

  constructor(limits: QueueLimits) {
    this.#limits = limits;
  }

  get sampleEvery(): number {
    return this.#sampleEvery;
  }

  get foldedKeys(): number {
    return this.#folded.size;
  }

  push(e: EventRecord): Admission {
    if (e.kind !== 'request') {
      if (this.priority.length >= this.#limits.hardCap) return 'overflow';
      this.priority.push(e);
      return 'queued';
    }
    if (this.requests.length >= this.#limits.capacity) {
      if (!this.#raisedThisCycle) {
        this.#sampleEvery = Math.min(this.#sampleEvery * 2, MAX_SAMPLE_EVERY);
        this.#raisedThisCycle = true;
      }
      return this.#fold(e);
    }
    if (this.#sampleEvery > 1) {
      this.#tick = (this.#tick + 1) % this.#sampleEvery;
      if (this.#tick !== 0) return this.#fold(e);
      this.sampled++;
    }
    this.requests.push(e);
    return 'queued';
  }

  #fold(e: EventRecord): Admission {
    const minute = e.time - (e.time % MINUTE);
    const key = `${minute}\u0000${e.action}\u0000${e.route}\u0000${e.status}\u0000${e.reason}`;
    const known = this.#folded.get(key);
    if (known !== undefined) {
      known.count++;
    } else if (this.#folded.size >= this.#limits.maxFoldedKeys) {
      this.dropped++;
      return 'dropped';
    } else {
      this.#folded.set(key, {
        time: minute,
        action: e.action,
        decision: e.decision,
        reason: e.reason,
        route: e.route,
        status: e.status,
        count: 1,
      });
    }
    this.folded++;
    return 'folded';
  }

  /** The folded counts as rows to write; they are gone from the queue until `restoreFolded`. */
  takeFolded(): EventRecord[] {
    if (this.#folded.size === 0) return [];
    const rows: EventRecord[] = [];
    for (const f of this.#folded.values()) {
      rows.push({
        time: f.time,
        kind: 'request',
        action: f.action,
        decision: f.decision,
        reason: f.reason,
        requestId: null,
        route: f.route,
        method: null,
        path: null,
        status: f.status,
        clientIp: null,
        consumer: null,
        stage: null,
        count: f.count,
        details: { folded: true },
      });
    }
    this.#folded = new Map();
    return rows;
  }

  /** Rows whose write failed go back, merged with what was folded since (never dropped). */
  restoreFolded(rows: readonly EventRecord[]): void {
    for (const r of rows) {
      const key = `${r.time}\u0000${r.action}\u0000${r.route}\u0000${r.status}\u0000${r.reason}`;
      const known = this.#folded.get(key);
      if (known !== undefined) known.count += r.count ?? 1;
      else
        this.#folded.set(key, {
          time: r.time,
          action: r.action,
          decision: r.decision,
          reason: r.reason,
          route: r.route,
          status: r.status,
          count: r.count ?? 1,
        });
    }
  }

  /** After each written request batch: sampling eases off once the lane has drained. */
  endCycle(): void {
    this.#raisedThisCycle = false;
    if (this.#sampleEvery > 1 && this.requests.length < this.#limits.capacity / 4) {
      this.#sampleEvery /= 2;
    }
  }
}
