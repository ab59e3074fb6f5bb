import type pg from 'pg';
import type { InsertValue } from '../db.js';

/**
 * The connection methods a `COPY ... FROM STDIN` needs. node-postgres has them (pg-copy-streams
 * is built on them); its type definitions do not list them.
 */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

function copyConnection(connection: unknown): CopyConnection {
  const c = connection as Partial<CopyConnection>;
  if (
    typeof c.query !== 'function' ||
    typeof c.sendCopyFromChunk !== 'function' ||
    typeof c.endCopyFrom !== 'function'
  ) {
    throw new Error('this version of node-postgres cannot send COPY data');
  }
  return c as CopyConnection;
}

// In COPY's text format a backslash starts an escape, a tab ends a column and a newline a row.
const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPED: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/**
 * Rows in COPY's text format: a line per row, columns separated by tabs, `\N` for NULL (and for a
 * number that is not finite, as SQLite stores it). Every other value is text, its backslashes,
 * tabs and line breaks escaped, so that `\N`, `\.` or an empty string stay what they are.
 */
function copyText(rows: readonly (readonly InsertValue[])[]): string {
  const lines = new Array<string>(rows.length + 1);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as readonly InsertValue[];
    const cells = new Array<string>(row.length);
    for (let c = 0; c < row.length; c++) {
      const value = row[c];
      cells[c] =
        typeof value === 'string'
          ? SPECIAL.test(value)
            ? value.replace(SPECIALS, (ch) => ESCAPED[ch] ?? ch)
            : value
          : typeof value === 'number' && Number.isFinite(value)
            ? String(value)
            : '\\N';
    }
    lines[r] = cells.join('\t');
  }
  lines[rows.length] = '';
  return lines.join('\n');
}

/** Rows per CopyData message: bounds one message (a few hundred KB) whatever the batch size. */
const ROWS_PER_MESSAGE = 1000;

/**
 * One `COPY table (columns) FROM STDIN`, run through node-postgres's Submittable interface
 * (`client.query(submittable)`, the extension point pg-cursor and pg-copy-streams use), so that
 * no dependency is needed. The server answers as to any statement: CommandComplete (`COPY n`)
 * then ReadyForQuery, or an ErrorResponse.
 */
class CopyIn implements pg.Submittable {
  #inserted = 0;
  #done: ((err: Error | null) => void) | undefined;

  constructor(
    private readonly statement: string,
    private readonly rows: readonly (readonly InsertValue[])[],
    done: (err: Error | null, inserted: number) => void,
  ) {
    this.#done = (err) => done(err, this.#inserted);
  }

  /** An Error returned (not thrown) is how node-postgres expects a query to refuse to start. */
  submit(connection: pg.Connection): Error | undefined {
    try {
      copyConnection(connection).query(this.statement);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const c = copyConnection(connection);
    for (let start = 0; start < this.rows.length; start += ROWS_PER_MESSAGE) {
      c.sendCopyFromChunk(Buffer.from(copyText(this.rows.slice(start, start + ROWS_PER_MESSAGE))));
    }
    c.endCopyFrom();
  }

  handleCommandComplete(message: { text?: string }): void {
    this.#inserted = Number(/^COPY ([0-9]+)$/.exec(message.text ?? '')?.[1] ?? 0);
  }

  handleError(err: Error): void {
    this.#finish(err);
  }

  handleReadyForQuery(): void {
    this.#finish(null);
  }

  #finish(err: Error | null): void {
    const done = this.#done;
    this.#done = undefined;
    done?.(err);
  }
}

/** Inserts the rows with one COPY on this connection; resolves to how many it inserted. */
export function copyRows(
  client: pg.ClientBase,
  statement: string,
  rows: readonly (readonly InsertValue[])[],
): Promise<number> {
  return new Promise((resolve, reject) => {
    client.query(
      new CopyIn(statement, rows, (err, inserted) =>
        err === null ? resolve(inserted) : reject(err),
      ),
    );
  });
}
