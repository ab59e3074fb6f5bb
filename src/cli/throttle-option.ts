import { InvalidArgumentError } from 'commander';
import type { ThrottleRate } from '../state/blocks/block-store.js';
import { durationMs } from './duration.js';

const RATE = /^([0-9]{1,7})\/([0-9]{1,6}[smhdw])$/;

/**
 * `--throttle LIMIT/WINDOW` (`10/1m`, `100/1h`): at most LIMIT requests per WINDOW, the window
 * from one second to one day.
 */
export function throttleOption(value: string): ThrottleRate {
  const m = RATE.exec(value);
  const limit = m === null ? NaN : Number(m[1]);
  const windowMs = m === null ? NaN : (durationMs(m[2] as string) ?? NaN);
  if (!(limit >= 1 && limit <= 1_000_000 && windowMs >= 1000 && windowMs <= 86_400_000)) {
    throw new InvalidArgumentError(
      'expected LIMIT/WINDOW such as 10/1m or 100/1h: 1 to 1000000 requests per 1s to 1d',
    );
  }
  return { limit, windowSeconds: windowMs / 1000 };
}
