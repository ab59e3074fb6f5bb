import type { InsertValue } from '../db.js';

// Inside a quoted array element only `"` and `\` are special: each is escaped with a `\`.
const SPECIAL = /["\\]/;
const SPECIALS = /["\\]/g;

/**
 * Column `column` of `rows` as the text of a one-dimensional PostgreSQL array (`{1,NULL}`,
 * `{"a","b \"c\""}`), for `unnest($1::text[])`. Every string is quoted, so that `NULL`, an empty
 * string, braces, commas and spaces stay what they are. A number that is not finite becomes
 * NULL, as SQLite stores it. Written here rather than left to node-postgres, whose generic array
 * conversion costs half as much again per value on the thread that serves requests; a column of
 * only strings or only numbers (most of them) is one native `join`.
 */
export function columnArrayLiteral(
  rows: readonly (readonly InsertValue[])[],
  column: number,
): string {
  if (rows.length === 0) return '{}';
  const parts = new Array<string | number | null>(rows.length);
  let strings = true;
  let numbers = true;
  for (let i = 0; i < rows.length; i++) {
    const value = (rows[i] as readonly InsertValue[])[column];
    if (typeof value === 'string') {
      numbers = false;
      parts[i] = SPECIAL.test(value) ? value.replace(SPECIALS, '\\$&') : value;
    } else if (typeof value === 'number' && Number.isFinite(value)) {
      strings = false;
      parts[i] = value;
    } else {
      strings = false;
      numbers = false;
      parts[i] = null;
    }
  }
  if (strings) return `{"${parts.join('","')}"}`;
  if (numbers) return `{${parts.join(',')}}`;
  const elements = parts.map((p) =>
    p === null ? 'NULL' : typeof p === 'number' ? String(p) : `"${p}"`,
  );
  return `{${elements.join(',')}}`;
}
