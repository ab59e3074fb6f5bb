import type { Dispatcher } from 'undici';

/** What one call to the ownership endpoint came to. */
export type LookupCall =
  | { readonly kind: 'owner'; readonly owner: string }
  /** 404: the object does not exist. */
  | { readonly kind: 'absent' }
  /** No usable answer: down, timed out, another status, not JSON, no string owner. */
  | { readonly kind: 'failed'; readonly cause: string };

/** An owner answer is a few dozen bytes; a larger one is not an answer we can use. */
const MAX_ANSWER_BYTES = 16 * 1024;
const HEX = '0123456789ABCDEF';

/**
 * The object id as one path segment or query value: every byte but letters, digits, `-` and
 * `_` is percent-encoded, `.` and `/` included. An id of `..%2f..` or `../admin` can then never
 * become a dot segment or a separator of the lookup URL (path traversal into another endpoint of
 * the backend), and the bytes are those of the id's UTF-8, so nothing can throw.
 */
export function encodeObjectId(id: string): string {
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const unreserved =
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d ||
      byte === 0x5f;
    out += unreserved
      ? String.fromCharCode(byte)
      : `%${HEX[byte >> 4] ?? '0'}${HEX[byte & 15] ?? '0'}`;
  }
  return out;
}

/** The lookup URL split at load: its origin, and its path and query around each `{value}`. */
export interface LookupTarget {
  readonly origin: string;
  readonly parts: readonly string[];
}

/**
 * Splits `http://owners.internal/accounts/{value}` into its origin and the text around
 * `{value}`. The path is built by concatenation and handed to the pool as is: a WHATWG URL
 * would resolve `%2e%2e` in it as `..`.
 */
export function lookupTarget(template: string): LookupTarget {
  const m = /^(https?:\/\/[^/?#]+)([/?][^#]*)$/i.exec(template);
  if (m === null) throw new Error('ownerLookup.url must be an http(s) URL with a path');
  return { origin: new URL(m[1] as string).origin, parts: (m[2] as string).split('{value}') };
}

/** A short, flat, secret-free cause for the event: an error code, never an error message. */
function causeOf(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'error';
}

/**
 * Asks the backend who owns an object: `GET` of the lookup URL with the encoded id, within
 * `timeoutMs` for the whole call. Redirects are not followed.
 */
export class OwnerLookupClient {
  readonly #target: LookupTarget;
  readonly #ownerField: string;
  readonly #timeoutMs: number;
  readonly #pool: Dispatcher;

  constructor(target: LookupTarget, ownerField: string, timeoutMs: number, pool: Dispatcher) {
    this.#target = target;
    this.#ownerField = ownerField;
    this.#timeoutMs = timeoutMs;
    this.#pool = pool;
  }

  /** The path and query asked for `id`. */
  pathFor(id: string): string {
    return this.#target.parts.join(encodeObjectId(id));
  }

  async call(id: string): Promise<LookupCall> {
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.#timeoutMs);
    timer.unref();
    try {
      const res = await this.#pool.request({
        origin: this.#target.origin,
        method: 'GET',
        path: this.pathFor(id),
        headers: { accept: 'application/json' },
        signal: abort.signal,
      });
      if (res.statusCode === 404) {
        await res.body.dump().catch(() => undefined);
        return { kind: 'absent' };
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        return { kind: 'failed', cause: `status_${res.statusCode}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy();
          return { kind: 'failed', cause: 'too_large' };
        }
        chunks.push(chunk);
      }
      let answer: unknown;
      try {
        answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return { kind: 'failed', cause: 'not_json' };
      }
      const owner =
        typeof answer === 'object' && answer !== null && Object.hasOwn(answer, this.#ownerField)
          ? (answer as Record<string, unknown>)[this.#ownerField]
          : undefined;
      // A missing or non-string owner is a broken answer, not "nobody owns it": fail closed.
      if (typeof owner !== 'string' || owner === '') return { kind: 'failed', cause: 'no_owner' };
      return { kind: 'owner', owner };
    } catch (err) {
      return { kind: 'failed', cause: causeOf(err, timedOut) };
    } finally {
      clearTimeout(timer);
    }
  }
}
