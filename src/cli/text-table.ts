// Control characters (C0, DEL, C1) in a stored value could move the cursor or rewrite the
// terminal of the operator reading it: they are shown as `?`.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` safe to print on a terminal. */
export function printable(text: string): string {
  return text.replace(CONTROL, '?');
}

/** Rows as left-aligned columns under a header, for a human; `--json` is for scripts. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows].map((r) => r.map(printable));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
