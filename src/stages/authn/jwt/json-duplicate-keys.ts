/**
 * Whether the JSON object in `json` names one of its own (top-level) members twice.
 *
 * JSON.parse keeps the last of duplicate members, another parser may keep the first: a header
 * `{"alg":"RS256","alg":"none"}` (or `"\u0061lg"`) means one thing to the signer and another to
 * us. RFC 7515 section 5.2 says such a header must be refused, so it is.
 *
 * `json` must already have parsed as an object (JSON.parse succeeded): the scan then only has to
 * tell keys from values and strings from structure. One pass, so linear in the length; each key
 * is decoded once (escapes included) with JSON.parse on its own literal.
 */
export function hasDuplicateTopLevelKey(json: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      for (;;) {
        const d = json.charCodeAt(end);
        if (d === 0x5c /* \ */) end += 2;
        else if (d === 0x22 || Number.isNaN(d)) break;
        else end++;
      }
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (seen.has(key)) return true;
        seen.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1 && c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return false;
}
