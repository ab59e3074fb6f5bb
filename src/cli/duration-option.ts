import { InvalidArgumentError } from 'commander';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^([0-9]{1,6})([smhdw])$/;

/**
 * A commander option parser for a duration (`30s`, `15m`, `24h`, `90d`, `2w`) between `minMs`
 * and `maxMs`, in milliseconds.
 */
export function durationOption(minMs: number, maxMs: number): (value: string) => number {
  return (value) => {
    const m = DURATION.exec(value);
    const ms = m === null ? NaN : Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    if (!(ms >= minMs && ms <= maxMs)) {
      throw new InvalidArgumentError(
        `expected a duration such as 30m, 24h or 90d, from ${minMs / 1000}s to ${maxMs / 86_400_000}d`,
      );
    }
    return ms;
  };
}
