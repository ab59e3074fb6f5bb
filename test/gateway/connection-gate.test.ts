import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionGate, type GateRefusal } from '../../src/gateway/connection-gate.js';

/** A request at the gate: what happened to it, in order. */
function caller(gate: ConnectionGate, log: string[], name: string): () => void {
  return gate.enter(
    () => log.push(`${name}:granted`),
    (why: GateRefusal) => log.push(`${name}:${why}`),
  );
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ConnectionGate', () => {
  it('lets maxConnections through, queues the next ones in order and grants them as others end', () => {
    const gate = new ConnectionGate({ maxConnections: 2, queueSize: 2, queueTimeoutMs: 1000 });
    const log: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) caller(gate, log, name);
    expect(log).toEqual(['a:granted', 'b:granted']);
    expect([gate.active, gate.waiting]).toEqual([2, 2]);
    gate.release();
    expect(log).toEqual(['a:granted', 'b:granted', 'c:granted']);
    gate.release();
    gate.release();
    expect(log.at(-1)).toBe('d:granted');
    gate.release();
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('refuses at once when the queue is full, never letting it grow', () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 3, queueTimeoutMs: 1000 });
    const log: string[] = [];
    for (let i = 0; i < 1000; i++) caller(gate, log, `r${i}`);
    expect(gate.waiting).toBe(3);
    expect(log.filter((l) => l.endsWith(':queue-full'))).toHaveLength(996);
  });

  it('with a queue of 0 refuses every request beyond the cap', () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 0, queueTimeoutMs: 1000 });
    const log: string[] = [];
    caller(gate, log, 'a');
    caller(gate, log, 'b');
    expect(log).toEqual(['a:granted', 'b:queue-full']);
  });

  it('refuses a waiter after the timeout, exactly once, and never grants it later', () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 5, queueTimeoutMs: 500 });
    const log: string[] = [];
    caller(gate, log, 'a');
    caller(gate, log, 'b');
    vi.advanceTimersByTime(499);
    expect(log).toEqual(['a:granted']);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['a:granted', 'b:queue-timeout']);
    gate.release();
    vi.advanceTimersByTime(10_000);
    expect(log).toEqual(['a:granted', 'b:queue-timeout']);
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('forgets a withdrawn waiter: it is neither granted nor refused, and frees its place', () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 1, queueTimeoutMs: 500 });
    const log: string[] = [];
    caller(gate, log, 'a');
    const withdraw = caller(gate, log, 'b');
    withdraw();
    caller(gate, log, 'c');
    vi.advanceTimersByTime(100);
    gate.release();
    vi.advanceTimersByTime(1000);
    expect(log).toEqual(['a:granted', 'c:granted']);
  });

  it('resolves whenIdle only once every request in flight and waiting is done', async () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 2, queueTimeoutMs: 500 });
    const log: string[] = [];
    await gate.whenIdle();
    caller(gate, log, 'a');
    caller(gate, log, 'b');
    const withdrawC = caller(gate, log, 'c');
    let idle = false;
    void gate.whenIdle().then(() => {
      idle = true;
    });
    gate.release();
    withdrawC();
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(log).toEqual(['a:granted', 'b:granted']);
    gate.release();
    await Promise.resolve();
    expect(idle).toBe(true);
  });

  it('resolves whenIdle when the last waiter times out', async () => {
    const gate = new ConnectionGate({ maxConnections: 0, queueSize: 1, queueTimeoutMs: 500 });
    const log: string[] = [];
    caller(gate, log, 'a');
    let idle = false;
    void gate.whenIdle().then(() => {
      idle = true;
    });
    vi.advanceTimersByTime(500);
    await Promise.resolve();
    expect(log).toEqual(['a:queue-timeout']);
    expect(idle).toBe(true);
  });

  it('throws on a release without a request in flight (a double release would lift the cap)', () => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 1, queueTimeoutMs: 500 });
    expect(() => gate.release()).toThrow(/released more often/);
  });

  it.each([
    [1, '1'],
    [999, '1'],
    [2000, '2'],
    [2001, '3'],
  ])('answers a queue timeout of %i ms with Retry-After %s', (ms, retryAfter) => {
    const gate = new ConnectionGate({ maxConnections: 1, queueSize: 1, queueTimeoutMs: ms });
    expect(gate.refusals['queue-timeout'].headers).toEqual({ 'retry-after': retryAfter });
    expect(gate.refusals['queue-full'].reason).toBe('upstream.queue_full');
  });
});
