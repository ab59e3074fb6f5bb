/**
 * Calendar periods (an hour, a day, a month) in a time zone: which one `now` falls in, and when
 * it ends. Quotas per calendar period reset at those boundaries, as a user reads them on a
 * calendar in that zone (23 or 25 hours on a day the clocks change).
 */
export type CalendarUnit = 'hour' | 'day' | 'month';

export interface Period {
  /** Names the period in a storage key: `2026-11-27`, `2026-11-27T13`, `2026-11`. */
  readonly id: string;
  /** Epoch ms of the next period's start. */
  readonly endsAt: number;
}

interface Wall {
  y: number;
  m: number; // 1..12
  d: number;
  h: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Throws a RangeError for a zone the runtime does not know (the loader checks this first). */
function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(timeZone: string): boolean {
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading in the zone, and its offset from UTC in ms. */
function wallAt(t: number, timeZone: string): Wall & { offset: number } {
  const parts: Record<string, number> = {};
  for (const p of formatFor(timeZone).formatToParts(t)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const w = {
    y: parts.year ?? 1970,
    m: parts.month ?? 1,
    d: parts.day ?? 1,
    h: parts.hour ?? 0,
  };
  const asUtc = Date.UTC(w.y, w.m - 1, w.d, w.h, parts.minute ?? 0, parts.second ?? 0);
  return { ...w, offset: asUtc - Math.floor(t / 1000) * 1000 };
}

/** The epoch ms at which the zone's clocks read `w` (the first such instant). */
function instantOf(w: Wall, timeZone: string): number {
  const naive = Date.UTC(w.y, w.m - 1, w.d, w.h);
  // Two rounds settle the offset, including across a change of the zone's offset.
  let t = naive - wallAt(naive, timeZone).offset;
  t = naive - wallAt(t, timeZone).offset;
  return t;
}

const pad = (n: number): string => String(n).padStart(2, '0');

export function periodOf(now: number, unit: CalendarUnit, timeZone: string): Period {
  if (timeZone === 'UTC') {
    const d = new Date(now);
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth();
    const day = d.getUTCDate();
    if (unit === 'month') return { id: `${y}-${pad(m + 1)}`, endsAt: Date.UTC(y, m + 1, 1) };
    if (unit === 'day')
      return { id: `${y}-${pad(m + 1)}-${pad(day)}`, endsAt: Date.UTC(y, m, day + 1) };
    const h = d.getUTCHours();
    return {
      id: `${y}-${pad(m + 1)}-${pad(day)}T${pad(h)}`,
      endsAt: Date.UTC(y, m, day, h + 1),
    };
  }
  const w = wallAt(now, timeZone);
  if (unit === 'month') {
    const next = w.m === 12 ? { y: w.y + 1, m: 1 } : { y: w.y, m: w.m + 1 };
    return { id: `${w.y}-${pad(w.m)}`, endsAt: instantOf({ ...next, d: 1, h: 0 }, timeZone) };
  }
  if (unit === 'day') {
    const next = new Date(Date.UTC(w.y, w.m - 1, w.d + 1));
    const endsAt = instantOf(
      { y: next.getUTCFullYear(), m: next.getUTCMonth() + 1, d: next.getUTCDate(), h: 0 },
      timeZone,
    );
    return { id: `${w.y}-${pad(w.m)}-${pad(w.d)}`, endsAt };
  }
  // An hour is an hour in every zone the quota can name: its end is the next whole hour of UTC
  // shifted by the zone's offset (half-hour zones included).
  const hourStart = now - ((((now + w.offset) % 3_600_000) + 3_600_000) % 3_600_000);
  // Named by its start in UTC: the hour a change of clocks repeats is two hours, not one.
  const id = new Date(hourStart).toISOString().slice(0, 13);
  return { id, endsAt: hourStart + 3_600_000 };
}
