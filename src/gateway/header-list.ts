/**
 * Lookups in a flat header list (`[name, value, name, value, ...]`, as `writeHead` takes it),
 * by name in any case. The proxy's names are already lower case: then no string is made.
 */

/** A header name in lower case, without a new string when it already is. */
function lowerName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return name.toLowerCase();
  }
  return name;
}

/** The value of the first header called `name` (lower case), if any. */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const h = headers[i] as string;
    if (h.length === name.length && lowerName(h) === name) return headers[i + 1];
  }
  return undefined;
}

/** The list without the headers whose names (lower case) are in `names`. */
export function withoutHeaders(headers: readonly string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!names.has(lowerName(headers[i] as string)))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
