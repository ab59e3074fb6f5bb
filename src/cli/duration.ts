const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^([0-9]{1,6})([smhdw])$/;

/**
 * A duration as the CLI commands take it (`30s`, `15m`, `24h`, `90d`, `2w`), in milliseconds;
 * undefined when `value` is not one.
 */
export function durationMs(value: string): number | undefined {
  const m = DURATION.exec(value);
  return m === null ? undefined : Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}
