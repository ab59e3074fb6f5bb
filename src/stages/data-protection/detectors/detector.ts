/**
 * A sensitive-data detector: a hand-written scanner over text read as latin1 (one character
 * per byte, so indexes are byte offsets). Every detector runs in time linear in the text: it
 * walks the text once, and the work it does at a candidate is bounded by `maxSpan`. None of
 * them is a backtracking regular expression over response bytes.
 */
export const DETECTOR_IDS = [
  'card',
  'iban',
  'ssn',
  'private-key',
  'jwt',
  'aws-access-key',
  'gcp-api-key',
  'gcp-service-account',
  'github-token',
  'slack-token',
  'stripe-key',
  'portcullis-api-key',
] as const;
export type DetectorId = (typeof DETECTOR_IDS)[number];

/** Reports one match: its detector and its span [start, end) in the text. */
export type Report = (id: DetectorId, start: number, end: number) => void;

export interface Detector {
  /** The ids this scanner can report. */
  readonly ids: readonly DetectorId[];
  /** The longest span a match can have, and the most the scanner reads past a match's start. */
  readonly maxSpan: number;
  /**
   * Reports every match that starts in [from, to). The scanner may read the whole text to
   * decide (left context before `from`, right context after `to`), but never reports a match
   * whose start is outside the range: a stream scanner hands each offset to exactly one call.
   */
  scan(text: string, from: number, to: number, report: Report): void;
  /**
   * Where, in the last `maxSpan` characters before `end` (the end of what has arrived), a match
   * may start that the characters still to come could make, change or unmake: a token that
   * runs up to `end`, a marker cut short. `end` when there is none, so that a stream scanner
   * can send everything before it now (stream-scanner.ts, eager mode).
   */
  pendingFrom(text: string, end: number): number;
  /** Overwrites the secret part of a match in place, keeping its length (and JSON valid). */
  mask(id: DetectorId, buf: Buffer, start: number, end: number): void;
}

export const STAR = 0x2a;

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}

export function isAlnum(c: number): boolean {
  return isDigit(c) || isUpper(c) || (c >= 0x61 && c <= 0x7a);
}

/** `[A-Za-z0-9_]`: a character that continues an identifier-like token. */
export function isWord(c: number): boolean {
  return isAlnum(c) || c === 0x5f;
}

/** Masks every character of [start, end) that satisfies `secret`, except the last `keep` of them. */
export function maskWhere(
  buf: Buffer,
  start: number,
  end: number,
  secret: (c: number) => boolean,
  keep = 0,
): void {
  let kept = 0;
  for (let i = end - 1; i >= start; i--) {
    const c = buf[i] as number;
    if (!secret(c)) continue;
    if (kept < keep) {
      kept++;
      continue;
    }
    buf[i] = STAR;
  }
}

/**
 * The start of the run of characters satisfying `part` that ends at `end`, looking back at most
 * `limit` characters (`end` when the text does not end in one).
 */
export function tailRunStart(
  text: string,
  end: number,
  part: (c: number) => boolean,
  limit: number,
): number {
  const stop = Math.max(0, end - limit);
  let i = end;
  while (i > stop && part(text.charCodeAt(i - 1))) i--;
  return i;
}

/**
 * The start of the longest proper beginning of `marker` the text ends with at `end`, or of the
 * last whole `marker` within `window` characters of `end`: where a match announced by the
 * marker may be in progress. `end` when there is neither.
 */
export function markerStart(text: string, end: number, marker: string, window: number): number {
  const whole = text.lastIndexOf(marker, end - marker.length);
  if (whole !== -1 && whole >= end - window) return whole;
  for (let k = Math.min(marker.length - 1, end); k > 0; k--) {
    if (text.startsWith(marker.slice(0, k), end - k)) return end - k;
  }
  return end;
}
