import type { SqlValue } from './db.js';

/**
 * Rewrites PostgreSQL's numbered placeholders (`$1`, `$2`, a number may repeat) into SQLite's
 * anonymous `?` with the parameters in the order they appear. Statements are the project's own
 * text: a `$` inside a string literal is not expected and not supported.
 */
export function toPositional(
  sql: string,
  params: readonly SqlValue[],
): { sql: string; params: SqlValue[] } {
  const ordered: SqlValue[] = [];
  const text = sql.replace(/\$([0-9]+)/g, (_m, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`no parameter $${n} in statement`);
    ordered.push(params[index] as SqlValue);
    return '?';
  });
  return { sql: text, params: ordered };
}
