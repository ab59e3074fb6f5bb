import {
  isAlnum,
  isDigit,
  isUpper,
  maskWhere,
  tailRunStart,
  type Detector,
  type Report,
} from './detector.js';

/**
 * IBANs (ISO 13616): a country code, two check digits and the country's fixed-length BBAN,
 * written compact or in groups of four separated by one space, valid when the mod-97 check
 * holds (ISO 7064). Upper case only, as printed and as APIs send them.
 */
// prettier-ignore
const LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15,
  PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19,
  SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
};
const MAX_LENGTH = 34;
const SPACE = 0x20;

const isIbanChar = (c: number): boolean => isDigit(c) || isUpper(c);

/** ISO 7064 mod 97-10 over the rearranged IBAN, a digit or letter value at a time. */
export function ibanChecksumValid(iban: string): boolean {
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < moved.length; i++) {
    const c = moved.charCodeAt(i);
    const v = isDigit(c) ? c - 0x30 : c - 0x41 + 10;
    rest = v < 10 ? (rest * 10 + v) % 97 : (rest * 100 + v) % 97;
  }
  return rest === 1;
}

export const ibans: Detector = {
  ids: ['iban'],
  // 34 characters and a space every four.
  maxSpan: MAX_LENGTH + 8,
  scan(text: string, from: number, to: number, report: Report): void {
    const n = text.length;
    const stop = Math.min(to, n - 3);
    for (let i = Math.max(from, 0); i < stop; i++) {
      if (!isUpper(text.charCodeAt(i)) || !isUpper(text.charCodeAt(i + 1))) continue;
      if (!isDigit(text.charCodeAt(i + 2)) || !isDigit(text.charCodeAt(i + 3))) continue;
      if (i > 0 && isAlnum(text.charCodeAt(i - 1))) continue;
      const length = LENGTHS[text.slice(i, i + 2)];
      if (length === undefined) continue;
      // Bounded by the country's length: at most 34 characters and 8 spaces are read.
      let compact = text.slice(i, i + 4);
      let j = i + 4;
      while (compact.length < length && j < n) {
        const c = text.charCodeAt(j);
        if (isIbanChar(c)) {
          compact += text[j];
          j++;
        } else if (
          c === SPACE &&
          compact.length % 4 === 0 &&
          j + 1 < n &&
          isIbanChar(text.charCodeAt(j + 1))
        ) {
          j++;
        } else {
          break;
        }
      }
      if (compact.length !== length) continue;
      if (j < n && isAlnum(text.charCodeAt(j))) continue;
      if (!ibanChecksumValid(compact)) continue;
      report('iban', i, j);
      i = j - 1;
    }
  },
  pendingFrom(text: string, end: number): number {
    return tailRunStart(text, end, (c) => isAlnum(c) || c === SPACE, MAX_LENGTH + 9);
  },
  mask(_id, buf, start, end): void {
    maskWhere(buf, start, end, isAlnum, 4);
  },
};
