/** A request's header lines, repeats apart, in the order they came. */
export interface HeaderLines {
  /** As Node's `rawHeaders`: name, value, name, value, ... */
  readonly raw: readonly string[];
  /** The names lower-cased, one per pair of `raw`. */
  readonly lower: readonly string[];
}

/**
 * The headers whose repeats Node's `IncomingMessage.headers` drops, keeping the first line:
 * the list of `matchKnownFields` in node:_http_incoming.
 */
const FIRST_ONLY = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * The value `IncomingMessage.headers[name]` would hold, from the header lines (`name`
 * lower-cased): the first line of a header Node keeps once, every `set-cookie` line as an
 * array, `cookie` lines joined by `; `, any other repeated header joined by `, `; undefined
 * when absent. One header costs a scan of the names, where
 * `headers` costs an object of every header.
 */
export function headerFromLines(
  { raw, lower }: HeaderLines,
  name: string,
): string | string[] | undefined {
  let value: string | undefined;
  let all: string[] | undefined;
  for (let i = 0; i < lower.length; i++) {
    if (lower[i] !== name) continue;
    const v = raw[2 * i + 1] as string;
    if (name === 'set-cookie') (all ??= []).push(v);
    else if (value === undefined) value = v;
    else if (FIRST_ONLY.has(name)) break;
    else value = `${value}${name === 'cookie' ? '; ' : ', '}${v}`;
  }
  return all ?? value;
}
