import type { Denial } from './problems.js';

/** Why a request did not get a connection to its upstream. */
export type GateRefusal = 'queue-full' | 'queue-timeout';

interface Waiter {
  readonly granted: () => void;
  readonly refused: (why: GateRefusal) => void;
  readonly timer: NodeJS.Timeout;
}

/** What the gate lets through and how long it makes the rest wait. */
export interface GateSettings {
  /** Requests (with pipelining 1: connections) in flight to the upstream at once. */
  readonly maxConnections: number;
  /** Requests that may wait for one; more are refused at once. */
  readonly queueSize: number;
  /** How long a request waits before it is refused. */
  readonly queueTimeoutMs: number;
}

/**
 * Admission to one upstream, shared by every route to it: at most `maxConnections` requests in
 * flight, then a bounded first-come first-served queue where a request waits at most
 * `queueTimeoutMs`. undici's Pool caps its connections too, but queues the excess without
 * bound or deadline: one hot route would pile up requests (and their client sockets and
 * bodies) until the process falls over, and starve every other route to the same upstream.
 */
export class ConnectionGate {
  #active = 0;
  #next = 0;
  /** Insertion-ordered: the first key is the longest waiter; a cancelled one is deleted. */
  readonly #queue = new Map<number, Waiter>();
  /** Who waits for the gate to empty: a retired upstream closes its pool then. */
  #idle: (() => void)[] = [];

  /** The refusals of this gate, with a Retry-After of the queue's timeout (at least 1 s). */
  readonly refusals: Readonly<Record<GateRefusal, Denial>>;

  constructor(readonly settings: GateSettings) {
    const retryAfter = Object.freeze({
      'retry-after': String(Math.max(1, Math.ceil(settings.queueTimeoutMs / 1000))),
    });
    this.refusals = Object.freeze({
      'queue-full': Object.freeze({
        kind: 'service-unavailable',
        reason: 'upstream.queue_full',
        detail: 'The upstream is at capacity; retry later.',
        headers: retryAfter,
      }),
      'queue-timeout': Object.freeze({
        kind: 'service-unavailable',
        reason: 'upstream.queue_timeout',
        detail: 'No connection to the upstream became free in time; retry later.',
        headers: retryAfter,
      }),
    });
  }

  /** Requests in flight now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#queue.size;
  }

  /**
   * Calls `granted` (now, or once a request in flight ends) or `refused`, exactly one of them
   * and once; a granted caller must call release() exactly once when its request ends. The
   * returned function withdraws a waiting request (its client went away); it does nothing once
   * either callback ran.
   */
  enter(granted: () => void, refused: (why: GateRefusal) => void): () => void {
    if (this.#active < this.settings.maxConnections && this.#queue.size === 0) {
      this.#active++;
      granted();
      return noop;
    }
    if (this.#queue.size >= this.settings.queueSize) {
      refused('queue-full');
      return noop;
    }
    const id = this.#next++;
    const timer = setTimeout(() => {
      if (!this.#queue.delete(id)) return;
      refused('queue-timeout');
      this.#settle();
    }, this.settings.queueTimeoutMs);
    this.#queue.set(id, { granted, refused, timer });
    return () => {
      const waiter = this.#queue.get(id);
      if (waiter === undefined) return;
      clearTimeout(waiter.timer);
      this.#queue.delete(id);
      this.#settle();
    };
  }

  /** A granted request ended: the longest waiter, if any, takes its place. */
  release(): void {
    if (this.#active === 0) throw new Error('connection gate released more often than entered');
    this.#active--;
    while (this.#active < this.settings.maxConnections) {
      const first = this.#queue.entries().next();
      if (first.done === true) break;
      const [id, waiter] = first.value;
      this.#queue.delete(id);
      clearTimeout(waiter.timer);
      this.#active++;
      waiter.granted();
    }
    this.#settle();
  }

  /**
   * Resolves once no request is in flight or waiting. A reload that retires an upstream closes
   * its pool then, so that the requests still waiting for it are served rather than sent to a
   * closed pool.
   */
  whenIdle(): Promise<void> {
    if (this.#active === 0 && this.#queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #settle(): void {
    if (this.#active !== 0 || this.#queue.size !== 0 || this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

function noop(): void {}
