import { describe, expect, it } from 'vitest';
import { FLUSH_CONCURRENCY, inBatches } from '../../../src/response/detectors/in-batches.js';

describe('inBatches', () => {
  it('runs every item once, never more than FLUSH_CONCURRENCY at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    await inBatches(
      Array.from({ length: 1000 }, (_, i) => i),
      async (i) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setImmediate(r));
        done.push(i);
        inFlight--;
      },
    );
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(most).toBe(FLUSH_CONCURRENCY);
  });

  it('rejects when one item fails', async () => {
    await expect(
      inBatches([1, 2, 3], (i) =>
        i === 2 ? Promise.reject(new Error('down')) : Promise.resolve(),
      ),
    ).rejects.toThrow('down');
  });
});
