import {
  isDigit,
  isWord,
  maskWhere,
  tailRunStart,
  type Detector,
  type Report,
} from './detector.js';

/**
 * Payment card numbers: 13 to 19 digits, optionally in groups separated by one space or dash,
 * with a valid Luhn check digit and an issuer prefix (IIN) of a known scheme. A run of digits
 * longer than 19 without separators is an id, not a card; a grouped run (`4111 1111 1111 1111
 * 12/29`) is searched for consecutive groups that make a card.
 */
const MAX_DIGITS = 19;
const MIN_DIGITS = 13;
const SPACE = 0x20;
const DASH = 0x2d;

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const inRange = (digits: string, width: number, lo: number, hi: number): boolean => {
  const p = Number(digits.slice(0, width));
  return p >= lo && p <= hi;
};

/** Whether the number's prefix and length belong to a card scheme that issues them. */
export function knownIssuer(digits: string): boolean {
  const n = digits.length;
  const c0 = digits.charCodeAt(0) - 0x30;
  if (c0 === 4) return n === 13 || n === 16 || n === 19; // Visa
  if (inRange(digits, 2, 51, 55) || inRange(digits, 4, 2221, 2720)) return n === 16; // Mastercard
  if (inRange(digits, 2, 34, 34) || inRange(digits, 2, 37, 37)) return n === 15; // Amex
  if (inRange(digits, 4, 2200, 2204)) return n >= 16 && n <= 19; // Mir
  if (inRange(digits, 3, 300, 305) || inRange(digits, 2, 36, 36) || inRange(digits, 2, 38, 39))
    return n >= 14 && n <= 19; // Diners Club
  if (inRange(digits, 4, 3528, 3589)) return n >= 16 && n <= 19; // JCB
  if (
    inRange(digits, 4, 6011, 6011) ||
    inRange(digits, 3, 644, 649) ||
    inRange(digits, 2, 65, 65) ||
    inRange(digits, 2, 62, 62) // UnionPay, and Discover's 622126-622925
  )
    return n >= 16 && n <= 19;
  if (inRange(digits, 2, 50, 50) || inRange(digits, 2, 56, 69)) return n >= 13 && n <= 19; // Maestro
  return false;
}

export function isCardNumber(digits: string): boolean {
  return (
    digits.length >= MIN_DIGITS &&
    digits.length <= MAX_DIGITS &&
    knownIssuer(digits) &&
    luhn(digits)
  );
}

export const cardNumbers: Detector = {
  ids: ['card'],
  // 19 digits and 18 separators.
  maxSpan: 37,
  scan(text: string, from: number, to: number, report: Report): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (!isDigit(text.charCodeAt(i))) {
        i++;
        continue;
      }
      // One maximal run of digits with single separators: [start, end), as groups.
      const runStart = i;
      const starts: number[] = [];
      const ends: number[] = [];
      let digits = 0;
      let j = i;
      for (;;) {
        starts.push(j);
        while (j < n && isDigit(text.charCodeAt(j))) j++;
        ends.push(j);
        digits += j - (starts[starts.length - 1] as number);
        const sep = j < n ? text.charCodeAt(j) : -1;
        if ((sep === SPACE || sep === DASH) && j + 1 < n && isDigit(text.charCodeAt(j + 1))) {
          j++;
          continue;
        }
        break;
      }
      const runEnd = j;
      i = runEnd;
      // Glued to a word (`id4111...`, `4111...x`): part of an identifier, not a card. Only the
      // groups at the ends of a run are glued: `4111 1111 1111 1111 0A` still holds a card.
      const gluedLeft = runStart > 0 && isWord(text.charCodeAt(runStart - 1));
      const gluedRight = runEnd < n && isWord(text.charCodeAt(runEnd));
      if (starts.length === 1) {
        if (gluedLeft || gluedRight || digits > MAX_DIGITS) continue;
        if (runStart < from || runStart >= to) continue;
        if (isCardNumber(text.slice(runStart, runEnd))) report('card', runStart, runEnd);
        continue;
      }
      // Grouped: consecutive groups, at most 19 digits each try, so at most 19 tries a group.
      let g = 0;
      while (g < starts.length) {
        let acc = '';
        let found = -1;
        if (g === 0 && gluedLeft) {
          g++;
          continue;
        }
        for (let h = g; h < starts.length; h++) {
          acc += text.slice(starts[h], ends[h]);
          if (acc.length > MAX_DIGITS || (h === starts.length - 1 && gluedRight)) break;
          if (isCardNumber(acc)) found = h;
        }
        const start = starts[g] as number;
        if (found !== -1 && start >= from && start < to) {
          report('card', start, ends[found] as number);
          g = found + 1;
        } else {
          g++;
        }
      }
    }
  },
  pendingFrom(text: string, end: number): number {
    // Digits and separators up to the end: more digits or a group could still join them.
    return tailRunStart(text, end, (c) => isDigit(c) || c === SPACE || c === DASH, 40);
  },
  mask(_id, buf, start, end): void {
    // The last four digits stay, as on a receipt.
    maskWhere(buf, start, end, isDigit, 4);
  },
};
