import { C, type Hit, type Subject } from '../subject.js';

/**
 * CRLF injection: a line break followed by a header line (`Set-Cookie: x`, `Location: ...`) in
 * a value that may end up in a response header (redirects, cookies) splits the response. In a
 * JSON body, free text has line breaks of its own: only an encoded one, or a raw CR LF at
 * paranoia 2, counts there.
 */
export function scanCrlf(s: Subject, hit: Hit): void {
  const t = s.text;
  // U+560A and U+560D end in 0A and 0D: decoders that keep the low byte make them LF and CR.
  if (!s.has(C.NEWLINE) && t.indexOf('\u560a') === -1 && t.indexOf('\u560d') === -1) return;
  let at = -1;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (isLineBreak(c)) {
      at = i;
      break;
    }
  }
  if (at === -1) return;
  const rawBody = s.source === 'body' && !s.decoded;
  for (let i = at, n = 0; i < t.length && n < 256; i++) {
    const c = t.charCodeAt(i);
    if (!isLineBreak(c)) continue;
    n++;
    const cr = c === 13;
    let j = i + 1;
    while (j < t.length && isLineBreak(t.charCodeAt(j))) j++;
    const start = j;
    while (j < t.length && j - start < 64 && isTokenChar(t.charCodeAt(j))) j++;
    if (j > start && t.charCodeAt(j) === 58 /* : */) {
      if (!rawBody) {
        hit('detect.crlf.header_injection');
        return;
      }
      if (cr) hit('detect.crlf.body_header_line');
    }
    i = j - 1;
  }
}

function isLineBreak(c: number): boolean {
  return c === 13 || c === 10 || c === 0x560a || c === 0x560d;
}

function isTokenChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95
  );
}
