import type { SqlValue } from './db.js';

/**
 * Rewrites PostgreSQL's numbered placeholders (`$1`, `$2`, a number may repeat, in any order)
 * into SQLite's anonymous `?` with the parameters in the order they appear. Statements are the
 * project's own text: a `$` inside a string literal is not expected and not supported.
 *
 * Like PostgreSQL, a parameter the statement does not use is an error: code that passes on
 * SQLite then also passes on PostgreSQL.
 */
export function toPositional(
  sql: string,
  params: readonly SqlValue[],
): { sql: string; params: SqlValue[] } {
  const ordered: SqlValue[] = [];
  const used = new Set<number>();
  const text = sql.replace(/\$([0-9]+)/g, (_m, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) {
      throw new Error(`no parameter $${n} in statement (${params.length} given)`);
    }
    used.add(index);
    ordered.push(params[index] as SqlValue);
    return '?';
  });
  if (used.size !== params.length) {
    const unused = params.map((_p, i) => i).filter((i) => !used.has(i));
    throw new Error(
      `${unused.length} parameter(s) not used by the statement: ${unused.map((i) => `$${i + 1}`).join(', ')}`,
    );
  }
  return { sql: text, params: ordered };
}
