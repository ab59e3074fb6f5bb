import { isAlnum, STAR, tailRunStart, type Detector, type Report } from './detector.js';

/**
 * JSON Web Tokens in compact JWS form: three base64url parts joined by dots (the last may be
 * empty for `alg: none`), whose first part decodes to a JSON object with a string `alg`.
 * Tokens longer than MAX_TOKEN are not reported.
 */
const MAX_TOKEN = 8_192;
const DOT = 0x2e;

const isTokenChar = (c: number): boolean => isAlnum(c) || c === 0x2d || c === 0x5f || c === DOT;

function headerHasAlg(part: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return (
      typeof header === 'object' &&
      header !== null &&
      typeof (header as { alg?: unknown }).alg === 'string'
    );
  } catch {
    return false;
  }
}

export const jwts: Detector = {
  ids: ['jwt'],
  maxSpan: MAX_TOKEN,
  scan(text: string, from: number, to: number, report: Report): void {
    const n = text.length;
    let at = text.indexOf('eyJ', Math.max(from, 0));
    while (at !== -1 && at < to) {
      let end = at;
      let dots = 0;
      let firstDot = -1;
      while (end < n && isTokenChar(text.charCodeAt(end))) {
        if (text.charCodeAt(end) === DOT) {
          dots++;
          if (firstDot === -1) firstDot = end;
        }
        end++;
      }
      const glued = at > 0 && isTokenChar(text.charCodeAt(at - 1));
      if (
        !glued &&
        dots === 2 &&
        end - at <= MAX_TOKEN &&
        firstDot - at >= 10 &&
        text.charCodeAt(firstDot + 1) !== DOT &&
        headerHasAlg(text.slice(at, firstDot))
      ) {
        report('jwt', at, end);
      }
      // The whole run is consumed: no `eyJ` inside it starts another token.
      at = text.indexOf('eyJ', Math.max(end, at + 1));
    }
  },
  pendingFrom(text: string, end: number): number {
    return tailRunStart(text, end, isTokenChar, MAX_TOKEN + 1);
  },
  mask(_id, buf, start, end): void {
    for (let i = start; i < end; i++) if (buf[i] !== DOT) buf[i] = STAR;
  },
};
