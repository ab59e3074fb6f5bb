/**
 * Whether any JSON object in `json`, at any depth, names one of its own members twice.
 *
 * JSON.parse keeps the last of duplicate members; another parser may keep the first. A body
 * `{"tenant":"mine","tenant":"yours"}` (or `"\u0074enant"`) would be checked by the gateway as
 * one thing and acted on by the upstream as another, so a body read by a stage is refused when
 * it has duplicates.
 *
 * `json` must already have parsed (JSON.parse succeeded): the scan then only has to tell keys
 * from values and strings from structure. One pass, linear in the length: each key is compared
 * as written unless it has an escape, which is decoded once with JSON.parse on its own literal.
 */
export function hasDuplicateKey(json: string): boolean {
  // One entry per open container: the keys seen in an object, or null for an array.
  const stack: (Set<string> | null)[] = [];
  let top: Set<string> | null = null;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      let escaped = false;
      for (;;) {
        const d = json.charCodeAt(end);
        if (d === 0x5c /* \ */) {
          escaped = true;
          end += 2;
        } else if (d === 0x22 || Number.isNaN(d)) break;
        else end++;
      }
      if (expectKey && top !== null) {
        const key = escaped
          ? (JSON.parse(json.slice(i, end + 1)) as string)
          : json.slice(i + 1, end);
        if (top.has(key)) return true;
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      stack.push(top);
      top = new Set();
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(top);
      top = null;
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      top = stack.pop() ?? null;
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = top !== null;
    }
  }
  return false;
}
