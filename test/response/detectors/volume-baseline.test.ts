import { describe, expect, it } from 'vitest';
import {
  ceiling,
  formatBaseline,
  learn,
  parseBaseline,
  type Baseline,
} from '../../../src/response/detectors/volume-baseline.js';

const OPTS = { smoothing: 0.1, deviations: 6, warmupIntervals: 5 };

function learnAll(counts: readonly number[]): Baseline | undefined {
  let b: Baseline | undefined;
  counts.forEach((c, i) => (b = learn(b, c, i, OPTS)));
  return b;
}

describe('the volume baseline', () => {
  it('is the plain mean and variance of its first intervals', () => {
    const b = learnAll([10, 20, 30]);
    expect(b?.mean).toBeCloseTo(20);
    expect(b?.variance).toBeCloseTo(200 / 3); // population variance of 10, 20, 30
    expect(b).toMatchObject({ intervals: 3, last: 2 });
  });

  it('then weighs the newest interval by the smoothing factor', () => {
    const b = learnAll(Array.from({ length: 30 }, () => 100));
    const next = learn(b, 90, 30, { ...OPTS, warmupIntervals: 100 });
    expect(next.mean).toBeCloseTo(99);
  });

  it('learns a count above the ceiling as the ceiling once warm', () => {
    const b = learnAll([100, 100, 100, 100, 100]) as Baseline;
    expect(ceiling(b, 6)).toBe(160); // spread: sqrt(100), the noise of a steady rate
    const after = learn(b, 100_000, 5, OPTS);
    expect(after.mean).toBeLessThanOrEqual(160);
  });

  it.each([
    [
      'a baseline it wrote',
      formatBaseline({ mean: 1.5, variance: 2, intervals: 3, last: 9 }),
      true,
    ],
    ['nothing', undefined, false],
    ['not JSON', '{', false],
    ['an object', '{"mean":1}', false],
    ['a negative mean', '[-1,0,1,1]', false],
    ['no interval learned', '[1,0,0,1]', false],
    ['a string in it', '[1,0,"1",1]', false],
  ])('reads back %s: %s', (_name, text, ok) => {
    expect(parseBaseline(text) !== undefined).toBe(ok);
  });
});
