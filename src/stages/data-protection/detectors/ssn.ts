import { isDigit, maskWhere, tailRunStart, type Detector, type Report } from './detector.js';

/**
 * US social security numbers written `AAA-GG-SSSS`, without the numbers the SSA never issues:
 * area 000, 666 or 900-999, group 00, serial 0000, and the two famous published ones. Nine
 * digits without dashes are not reported: too many other numbers look like them.
 */
const DASH = 0x2d;
const NEVER_ISSUED = new Set(['078-05-1120', '219-09-9999']);

export function isSsn(s: string): boolean {
  const area = s.slice(0, 3);
  if (area === '000' || area === '666' || area.charCodeAt(0) === 0x39) return false;
  if (s.slice(4, 6) === '00' || s.slice(7, 11) === '0000') return false;
  return !NEVER_ISSUED.has(s);
}

const SHAPE = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1]; // 1: digit, 0: dash

export const socialSecurityNumbers: Detector = {
  ids: ['ssn'],
  maxSpan: 11,
  scan(text: string, from: number, to: number, report: Report): void {
    const n = text.length;
    const stop = Math.min(to, n - 10);
    for (let i = Math.max(from, 0); i < stop; i++) {
      if (!isDigit(text.charCodeAt(i))) continue;
      const before = i > 0 ? text.charCodeAt(i - 1) : -1;
      if (isDigit(before) || before === DASH) continue;
      let ok = true;
      for (let k = 1; k < 11 && ok; k++) {
        const c = text.charCodeAt(i + k);
        ok = SHAPE[k] === 1 ? isDigit(c) : c === DASH;
      }
      if (!ok) continue;
      const after = i + 11 < n ? text.charCodeAt(i + 11) : -1;
      if (isDigit(after) || after === DASH) continue;
      if (isSsn(text.slice(i, i + 11))) report('ssn', i, i + 11);
    }
  },
  pendingFrom(text: string, end: number): number {
    return tailRunStart(text, end, (c) => isDigit(c) || c === DASH, 12);
  },
  mask(_id, buf, start, end): void {
    maskWhere(buf, start, end, isDigit);
  },
};
