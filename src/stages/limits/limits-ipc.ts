import type { Worker } from 'node:cluster';
import type { BatchResult, Lease, LimitCheck, LocalLimits } from './limit-check.js';
import type { LimitTable } from './limit-table.js';

/**
 * The in-process backend of `portcullis start --workers N`: one LimitTable in the cluster
 * primary, asked by every worker over the IPC channel, so that a limit holds exactly across
 * the workers of one machine (each worker counting alone would admit N times the limit).
 */
type Request =
  | { readonly type: 'limits:consume'; readonly id: number; readonly checks: readonly LimitCheck[] }
  | { readonly type: 'limits:refund'; readonly checks: readonly LimitCheck[] }
  | { readonly type: 'limits:release'; readonly leases: readonly Lease[] };

interface Reply {
  readonly type: 'limits:result';
  readonly id: number;
  readonly result: BatchResult;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A worker that waits this long for the primary has lost it: the request fails closed. */
const ANSWER_TIMEOUT_MS = 2_000;

/** Primary side: answers one worker's requests from the shared table. */
export function serveLimits(worker: Worker, table: LimitTable): void {
  worker.on('message', (m: unknown) => {
    if (!isRecord(m) || typeof m.type !== 'string' || !m.type.startsWith('limits:')) return;
    const req = m as unknown as Request;
    if (req.type === 'limits:consume') {
      const reply: Reply = { type: 'limits:result', id: req.id, result: table.consume(req.checks) };
      if (worker.isConnected()) worker.send(reply);
    } else if (req.type === 'limits:refund') table.refund(req.checks);
    else if (req.type === 'limits:release') table.release(req.leases);
  });
}

/** Worker side: the table in the primary, behind the LocalLimits interface. */
export class IpcLimits implements LocalLimits {
  readonly #pending = new Map<
    number,
    { resolve: (r: BatchResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #next = 0;

  constructor() {
    process.on('message', (m: unknown) => {
      if (!isRecord(m) || m.type !== 'limits:result' || typeof m.id !== 'number') return;
      const waiting = this.#pending.get(m.id);
      if (waiting === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(waiting.timer);
      waiting.resolve((m as unknown as Reply).result);
    });
  }

  consume(checks: readonly LimitCheck[]): Promise<BatchResult> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error('the cluster primary did not answer a limits check'));
      }, ANSWER_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send({ type: 'limits:consume', id, checks });
    });
  }

  refund(checks: readonly LimitCheck[]): void {
    this.#send({ type: 'limits:refund', checks });
  }

  release(leases: readonly Lease[]): void {
    this.#send({ type: 'limits:release', leases });
  }

  #send(m: Request): void {
    if (process.send === undefined) throw new Error('not a cluster worker');
    process.send(m);
  }
}
