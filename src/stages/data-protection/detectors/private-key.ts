import { isAlnum, markerStart, STAR, type Detector, type Report } from './detector.js';

/**
 * PEM private keys: `-----BEGIN <label>PRIVATE KEY-----` (PKCS#1 `RSA `, SEC1 `EC `, `DSA `,
 * `OPENSSH `, `ENCRYPTED `, PKCS#8 without a label) and `-----BEGIN PGP PRIVATE KEY BLOCK-----`,
 * through the matching END line. The key material is masked and the armour lines kept, also
 * inside a JSON string where the line breaks are `\n` escapes. A block longer than MAX_BODY
 * (or with no END line) is reported from its BEGIN line over MAX_BODY characters.
 */
const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
const MAX_LABEL = 24;
const MAX_BODY = 10_000;
const BACKSLASH = 0x5c;

const isLabelChar = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || c === 0x20;
const isBodyChar = (c: number): boolean =>
  isAlnum(c) || c === 0x2b || c === 0x2f || c === 0x3d || c === 0x0a || c === 0x0d || c === 0x20;

/** The end of a `<label>PRIVATE KEY[ BLOCK]-----` header that starts at `at`, or -1. */
function headerEnd(text: string, at: number): number {
  let i = at;
  const limit = Math.min(text.length, at + MAX_LABEL);
  while (i < limit && isLabelChar(text.charCodeAt(i)) && !text.startsWith('PRIVATE KEY', i)) i++;
  if (!text.startsWith('PRIVATE KEY', i)) return -1;
  i += 'PRIVATE KEY'.length;
  if (text.startsWith(' BLOCK', i)) i += ' BLOCK'.length;
  return text.startsWith(DASHES, i) ? i + DASHES.length : -1;
}

/** The end of the key material that starts at `at`: base64, line breaks and `\n` escapes. */
function bodyEnd(text: string, at: number, limit: number): number {
  let i = at;
  while (i < limit) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < limit && (text[i + 1] === 'n' || text[i + 1] === 'r')) i += 2;
    else if (isBodyChar(c)) i++;
    else break;
  }
  return i;
}

/**
 * Whether the block whose BEGIN is at `at` may still change with what comes after `end`: its
 * header, its material or its END line runs up to `end`.
 */
function openBlock(text: string, at: number, end: number): boolean {
  const head = headerEnd(text, at + BEGIN.length);
  // A header cut short, or no header at all (then not a key, unless the text is too short).
  if (head === -1) return end - at < BEGIN.length + MAX_LABEL + 'PRIVATE KEY BLOCK-----'.length;
  const body = bodyEnd(text, head, Math.min(end, at + MAX_BODY));
  if (body >= end) return body - at < MAX_BODY;
  const rest = text.slice(body, Math.min(end, body + END.length + MAX_LABEL + 20));
  if (rest.length < END.length) return END.startsWith(rest);
  return rest.startsWith(END) && rest.indexOf(DASHES, END.length) === -1;
}

export const privateKeys: Detector = {
  ids: ['private-key'],
  maxSpan: MAX_BODY + 200,
  scan(text: string, from: number, to: number, report: Report): void {
    let at = text.indexOf(BEGIN, Math.max(from, 0));
    while (at !== -1 && at < to) {
      const head = headerEnd(text, at + BEGIN.length);
      if (head === -1) {
        at = text.indexOf(BEGIN, at + 1);
        continue;
      }
      const limit = Math.min(text.length, at + MAX_BODY);
      const body = bodyEnd(text, head, limit);
      let end = body;
      // The END line, when it directly follows the material.
      if (text.startsWith(END, body)) {
        const close = text.indexOf(DASHES, body + END.length);
        if (close !== -1 && close - body <= MAX_LABEL + 20) end = close + DASHES.length;
      }
      report('private-key', at, end);
      at = text.indexOf(BEGIN, Math.max(end, at + 1));
    }
  },
  pendingFrom(text: string, end: number): number {
    const last = markerStart(text, end, BEGIN, MAX_BODY + 200);
    if (last === end || !text.startsWith(BEGIN, last)) return last;
    return openBlock(text, last, end) ? last : markerStart(text, end, BEGIN, 0);
  },
  mask(_id, buf, start, end): void {
    const text = buf.toString('latin1', start, end);
    const head = headerEnd(text, BEGIN.length);
    const bodyStart = head === -1 ? 0 : head;
    const stop = text.indexOf(END, bodyStart);
    const bodyStop = stop === -1 ? text.length : stop;
    for (let i = bodyStart; i < bodyStop; i++) {
      const c = text.charCodeAt(i);
      if (c === BACKSLASH) {
        i++; // keep the escape whole: `\n` stays a line break in JSON
        continue;
      }
      if (isAlnum(c) || c === 0x2b || c === 0x2f || c === 0x3d) buf[start + i] = STAR;
    }
  },
};
