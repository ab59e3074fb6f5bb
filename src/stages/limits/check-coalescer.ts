import type { BatchResult, LimitCheck } from './limit-check.js';
import { RedisLimitsError } from './redis-limits-script.js';

/** What the coalescer sends through: one atomic call for the checks of several requests. */
export interface BatchSender {
  /** One result per request, in order; the requests are decided in that order. */
  send(requests: readonly (readonly LimitCheck[])[]): Promise<BatchResult[]>;
  /** False while the connection is down: then a request fails at once rather than wait. */
  ready(): boolean;
  /** A request was given up after its timeout. */
  onTimeout(timeoutMs: number): void;
}

/** Told a request's decision, or why there is none (a RedisLimitsError). */
export type Decided = (err: RedisLimitsError | undefined, result: BatchResult | undefined) => void;

/** A request waiting for its decision. */
interface Waiting {
  readonly checks: readonly LimitCheck[];
  readonly timeoutMs: number;
  /** performance.now() when it arrived, plus its timeout. */
  readonly deadline: number;
  readonly done: Decided;
  settled: boolean;
}

/**
 * The most requests one call carries: a script blocks Redis while it runs, so a call stays
 * short (a few hundred µs of Lua) even when thousands of requests wait.
 */
const MAX_BATCH = 128;
/** The calls in flight at most: the second only under light load (LIGHT_LOAD). */
const MAX_IN_FLIGHT = 2;
/**
 * A call this large says the node is under load: the next call then waits one more turn of the
 * event loop for requests to join it. When as many requests queued during the last call's round
 * trip (the node is saturated), it goes on waiting, a turn at a time, for as long as each turn
 * brings more (MAX_LOAD_TURNS at most). Under load every call costs Redis and the node a write, a
 * read and a script run (tens of µs on each side), so fewer, larger calls are what keeps the
 * price per request down; the turns it waits are short beside a request's wait at saturation,
 * and a turn that brings nothing sends the call at once. The saturation test counts what came
 * during a round trip, which waiting does not inflate: below saturation, calls wait one turn at
 * most, and the waiting never feeds itself.
 */
const LOAD_BATCH = 8;
/** The turns of the event loop a call waits at most when the node is saturated (LOAD_BATCH). */
const MAX_LOAD_TURNS = 4;
/**
 * Requests in flight up to which the load counts as light: a new request then goes in a call of
 * its own rather than wait a round trip for the call in flight. Under heavier load, every call
 * carries more requests and waits for the one before it, so that calls stay few.
 */
const LIGHT_LOAD = 4;

/**
 * Coalesces the limit checks of concurrent requests into few round trips. A request that finds
 * no call in flight goes at the end of this turn of the event loop, with whatever else arrived
 * in the same turn; one that finds a call in flight waits for its answer and then goes with
 * every request that queued meanwhile, as one call that decides them in arrival order. Under
 * load, dozens of requests share a round trip; at low load each goes alone, and no request
 * waits more than one round trip longer than it would alone. Under light load (a few requests
 * in flight) a second call may go before the first answers, so that a request seldom waits for
 * another's round trip at all.
 *
 * Each request keeps its own timeout, counted from its arrival: a request still queued when its
 * time is up is failed and never sent (it consumes nothing); one in a call that answers too late
 * is failed, and the late answer is dropped.
 */
export class CheckCoalescer {
  readonly #sender: BatchSender;
  #queue: Waiting[] = [];
  readonly #inFlight = new Set<readonly Waiting[]>();
  /** The requests of the calls in flight. */
  #inFlightRequests = 0;
  #flushScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  /** The requests of the last call sent (LOAD_BATCH). */
  #lastBatch = 0;
  /** Under load, the turns the next call has waited, and the queue's length at the last one. */
  #turnsWaited = 0;
  #queuedAtLastTurn = 0;
  /** The requests queued when the last call answered: those of one round trip (LOAD_BATCH). */
  #queuedAtLanding = 0;

  constructor(sender: BatchSender) {
    this.#sender = sender;
  }

  /**
   * Queues a request's checks; `done` is called once, with the result or the error. A callback
   * rather than a promise: the stage makes the one promise the pipeline needs, and a promise
   * more per request is measurable at tens of thousands of requests a second.
   */
  submit(checks: readonly LimitCheck[], timeoutMs: number, done: Decided): void {
    const deadline = performance.now() + timeoutMs;
    this.#queue.push({ checks, timeoutMs, deadline, done, settled: false });
    this.#arm(deadline);
    if (this.#canSend()) this.#scheduleFlush();
  }

  #canSend(): boolean {
    const calls = this.#inFlight.size;
    return calls === 0 || (calls < MAX_IN_FLIGHT && this.#inFlightRequests <= LIGHT_LOAD);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#lastBatch >= LOAD_BATCH ? this.#flushWhenQuiet : this.#flush);
  }

  /** Under load: one more turn while the last one brought requests, then the call. */
  readonly #flushWhenQuiet = (): void => {
    const queued = this.#queue.length;
    const turns = this.#queuedAtLanding >= LOAD_BATCH ? MAX_LOAD_TURNS : 1;
    if (this.#turnsWaited < turns && queued > this.#queuedAtLastTurn) {
      this.#turnsWaited += 1;
      this.#queuedAtLastTurn = queued;
      setImmediate(this.#flushWhenQuiet);
      return;
    }
    this.#turnsWaited = 0;
    this.#queuedAtLastTurn = 0;
    this.#flush();
  };

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const live = this.#queue.filter((w) => !w.settled);
    this.#queue = [];
    if (live.length === 0) return;
    if (!this.#sender.ready()) {
      const err = new RedisLimitsError('Redis is not connected');
      for (const w of live) settle(w, err);
      return;
    }
    // Calls on one connection are answered in order: the second waits for no second round trip.
    for (let i = 0; i < live.length; i += MAX_BATCH) this.#send(live.slice(i, i + MAX_BATCH));
  };

  #send(batch: readonly Waiting[]): void {
    this.#lastBatch = batch.length;
    this.#inFlight.add(batch);
    this.#inFlightRequests += batch.length;
    let sent: Promise<BatchResult[]>;
    try {
      sent = this.#sender.send(batch.map((w) => w.checks));
    } catch (err) {
      // A call that never left must not stay in flight: every later request would queue behind it.
      sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    sent.then(
      (results) => {
        this.#landed(batch);
        batch.forEach((w, i) => {
          const result = results[i];
          settle(w, result ?? new RedisLimitsError('unexpected reply from the limits script'));
        });
      },
      (err: unknown) => {
        this.#landed(batch);
        const failure =
          err instanceof RedisLimitsError
            ? err
            : new RedisLimitsError('the limits script failed', { cause: err });
        for (const w of batch) settle(w, failure);
      },
    );
  }

  #landed(batch: readonly Waiting[]): void {
    this.#inFlight.delete(batch);
    this.#inFlightRequests -= batch.length;
    this.#queuedAtLanding = this.#queue.length;
    if (this.#queue.length > 0 && this.#canSend()) this.#scheduleFlush();
  }

  /** One timer for every waiting request, set for the earliest deadline. */
  #arm(deadline: number): void {
    if (deadline >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#expire, Math.max(1, Math.ceil(deadline - performance.now())));
    // A waiting request is held by the Redis connection; the timer alone keeps no process alive.
    this.#timer.unref();
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const visit = (w: Waiting): void => {
      if (w.settled) return;
      if (w.deadline <= now) {
        this.#sender.onTimeout(w.timeoutMs);
        settle(w, new RedisLimitsError(`Redis did not answer within ${w.timeoutMs} ms`));
      } else if (w.deadline < next) next = w.deadline;
    };
    for (const batch of this.#inFlight) batch.forEach(visit);
    this.#queue.forEach(visit);
    // While a call hangs, what timed out in the queue goes now, not when the call answers.
    this.#queue = this.#queue.filter((w) => !w.settled);
    if (next !== Infinity) this.#arm(next);
  };
}

function settle(w: Waiting, outcome: BatchResult | RedisLimitsError): void {
  if (w.settled) return;
  w.settled = true;
  if (outcome instanceof RedisLimitsError) w.done(outcome, undefined);
  else w.done(undefined, outcome);
}
