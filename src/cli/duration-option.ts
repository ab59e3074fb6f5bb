import { InvalidArgumentError } from 'commander';
import { durationMs } from './duration.js';

/**
 * A commander option parser for a duration (`30s`, `15m`, `24h`, `90d`, `2w`) between `minMs`
 * and `maxMs`, in milliseconds.
 */
export function durationOption(minMs: number, maxMs: number): (value: string) => number {
  return (value) => {
    const ms = durationMs(value) ?? NaN;
    if (!(ms >= minMs && ms <= maxMs)) {
      throw new InvalidArgumentError(
        `expected a duration such as 30m, 24h or 90d, from ${minMs / 1000}s to ${maxMs / 86_400_000}d`,
      );
    }
    return ms;
  };
}
