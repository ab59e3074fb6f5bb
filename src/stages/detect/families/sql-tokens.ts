/**
 * A small, forgiving SQL tokenizer for fragments (an injected value starts inside a string or a
 * number, not at a statement). Quotes are tokens of their own rather than string delimiters, so
 * `' OR 'a'='a` reads as the code it becomes once it closes the application's string. Comments
 * are removed (MySQL's executable `/*!50000 ... *\/` keeps its content); case is folded. One
 * pass, no backtracking.
 */
export type SqlTokenType = 'word' | 'num' | 'quote' | 'op' | 'punct' | 'comment' | 'var' | 'other';

export interface SqlToken {
  readonly type: SqlTokenType;
  readonly text: string;
}

const OPS = new Set(['=', '<', '>', '!', '|', '&', '+', '-', '*', '/', '%', '^', '~']);

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || c === 95 || (c >= 65 && c <= 90);
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36 || c === 46; // $ .
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Whether a line comment only ends the query (`admin'--`, `-- -+`) rather than holding prose:
 * `it's fine' -- and left` is an em dash, not an injection.
 */
function tail(lower: string, from: number, to: number): boolean {
  return to - from <= 4 || lower.slice(from, to).trim().length <= 3;
}

/** Tokenizes `lower` (already lower-cased); stops after `maxTokens`. */
export function sqlTokens(lower: string, maxTokens = 100_000): SqlToken[] {
  const out: SqlToken[] = [];
  const n = lower.length;
  let i = 0;
  while (i < n && out.length < maxTokens) {
    const c = lower.charCodeAt(i);
    if (c <= 32 || c === 160) {
      i++;
      continue;
    }
    // Comments: `/* */` is whitespace (`UNION/**/SELECT`), `/*!` keeps its content.
    if (c === 47 && lower.charCodeAt(i + 1) === 42) {
      if (lower.charCodeAt(i + 2) === 33) {
        i += 3;
        while (i < n && isDigit(lower.charCodeAt(i))) i++;
        continue;
      }
      const end = lower.indexOf('*/', i + 2);
      // A closed comment is whitespace (`UNION/**/SELECT`); an open one ends the query.
      if (end === -1) {
        out.push({ type: 'comment', text: '/*' });
        i = n;
      } else i = end + 2;
      continue;
    }
    if (c === 42 && lower.charCodeAt(i + 1) === 47) {
      i += 2; // the end of a `/*!` comment
      continue;
    }
    if (c === 45 && lower.charCodeAt(i + 1) === 45) {
      const after = lower.charCodeAt(i + 2);
      if (Number.isNaN(after) || after <= 32 || after === 45) {
        const nl = lower.indexOf('\n', i);
        const end = nl === -1 ? n : nl;
        out.push({ type: 'comment', text: tail(lower, i + 2, end) ? '--' : '-- text' });
        i = end + 1;
        continue;
      }
    }
    if (c === 35 /* # */) {
      const after = lower.charCodeAt(i + 1);
      if (Number.isNaN(after) || after <= 32) {
        const nl = lower.indexOf('\n', i);
        const end = nl === -1 ? n : nl;
        out.push({ type: 'comment', text: tail(lower, i + 1, end) ? '#' : '# text' });
        i = end + 1;
        continue;
      }
    }
    if (c === 39 || c === 34 || c === 96) {
      out.push({ type: 'quote', text: lower[i] as string });
      i++;
      continue;
    }
    if (isDigit(c)) {
      let j = i + 1;
      if (c === 48 && lower.charCodeAt(j) === 120) {
        j++;
        while (j < n && /[0-9a-f]/.test(lower[j] as string)) j++;
      } else {
        while (j < n && (isDigit(lower.charCodeAt(j)) || lower.charCodeAt(j) === 46)) j++;
      }
      // `1union` and `1e0union`: a number glued to a keyword is still two tokens in MySQL.
      out.push({ type: 'num', text: lower.slice(i, j) });
      i = j;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(lower.charCodeAt(j))) j++;
      out.push({ type: 'word', text: lower.slice(i, j) });
      i = j;
      continue;
    }
    if (c === 64 /* @ */) {
      let j = i + 1;
      while (j < n && (lower.charCodeAt(j) === 64 || isWordPart(lower.charCodeAt(j)))) j++;
      out.push({ type: 'var', text: lower.slice(i, j) });
      i = j;
      continue;
    }
    const ch = lower[i] as string;
    if (OPS.has(ch)) {
      let j = i + 1;
      while (j < n && j - i < 3 && OPS.has(lower[j] as string)) j++;
      out.push({ type: 'op', text: lower.slice(i, j) });
      i = j;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === ',' || ch === ';') {
      out.push({ type: 'punct', text: ch });
      i++;
      continue;
    }
    out.push({ type: 'other', text: ch });
    i++;
  }
  return out;
}
