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
