/**
 * A multipart/form-data body (RFC 7578), already read within the route's body limit, split
 * into its parts under per-part limits: how many parts, how large each one and its headers.
 * Strict: a missing or malformed boundary, a part without a `form-data` disposition and name,
 * or a body that does not end with the closing delimiter is malformed, never guessed at.
 */

export interface MultipartLimits {
  readonly maxParts: number;
  readonly maxPartBytes: number;
  readonly maxHeaderBytes: number;
}

export interface Part {
  readonly name: string;
  readonly filename: string | undefined;
  /** The part's media type, lowercased without parameters; text/plain when absent. */
  readonly contentType: string;
  readonly data: Buffer;
}

export type MultipartResult =
  | { readonly ok: true; readonly parts: Part[] }
  | {
      readonly ok: false;
      readonly rule: 'maxParts' | 'maxPartBytes' | 'maxHeaderBytes' | 'malformed';
      readonly name?: string;
    };

const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$/;

/** The boundary parameter of a multipart Content-Type; undefined when missing or invalid. */
export function boundaryOf(contentType: string): string | undefined {
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq === -1) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let value = param.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2)
      value = value.slice(1, -1);
    // RFC 2046: up to 70 characters of a restricted set, not ending in a space.
    return BOUNDARY.test(value) && !value.endsWith(' ') ? value : undefined;
  }
  return undefined;
}

function dispositionParam(value: string, param: string): string | undefined {
  // Parameters are `; name="x"` or `; name=x`; quoted strings may contain `;`.
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  let found: string | undefined;
  for (const m of value.matchAll(re)) {
    if ((m[1] as string).toLowerCase() !== param) continue;
    if (found !== undefined) return undefined; // twice: ambiguous
    found = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return found;
}

export function parseMultipart(
  body: Buffer,
  boundary: string,
  limits: MultipartLimits,
): MultipartResult {
  const delimiter = Buffer.from(`--${boundary}`);
  const malformed = { ok: false, rule: 'malformed' } as const;
  if (body.indexOf(delimiter) !== 0) return malformed;
  const parts: Part[] = [];
  let pos = delimiter.length;
  for (;;) {
    // After a delimiter: `--` closes the body, CRLF starts a part.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return { ok: true, parts };
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return malformed;
    pos += 2;
    if (parts.length >= limits.maxParts) return { ok: false, rule: 'maxParts' };
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd === -1) return malformed;
    if (headerEnd - pos > limits.maxHeaderBytes) return { ok: false, rule: 'maxHeaderBytes' };
    const headers = new Map<string, string>();
    for (const line of body.toString('latin1', pos, headerEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) return malformed;
      const name = line.slice(0, colon).trim().toLowerCase();
      if (headers.has(name)) return malformed;
      headers.set(name, line.slice(colon + 1).trim());
    }
    const dataStart = headerEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next === -1) return malformed;
    const disposition = headers.get('content-disposition') ?? '';
    if (!/^form-data\s*(;|$)/i.test(disposition)) return malformed;
    const name = dispositionParam(disposition, 'name');
    if (name === undefined || name === '') return malformed;
    if (next - dataStart > limits.maxPartBytes) return { ok: false, rule: 'maxPartBytes', name };
    const type = headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
    parts.push({
      name: Buffer.from(name, 'latin1').toString('utf8'),
      filename: dispositionParam(disposition, 'filename'),
      contentType: type === undefined || type === '' ? 'text/plain' : type,
      data: body.subarray(dataStart, next),
    });
    pos = next + 2 + delimiter.length;
  }
}
