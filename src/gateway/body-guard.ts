import { mediaTypeOf } from './media-type.js';
import { Transform, type TransformCallback } from 'node:stream';
import type { Denial } from './problems.js';

/** Thrown into the upstream request when the streamed body breaks a limit; carries the refusal. */
export class BodyRefusedError extends Error {
  constructor(readonly denial: Denial) {
    super(denial.reason);
  }
}

const TOO_LARGE: Denial = Object.freeze({
  kind: 'body-too-large',
  reason: 'limits.body.too_large',
  detail: 'The request body exceeds the limit of this route.',
});
const TOO_DEEP: Denial = Object.freeze({
  kind: 'body-rejected',
  reason: 'limits.body.json_depth',
  detail: 'The JSON body is nested too deeply.',
});

export const BODY_TOO_LARGE = TOO_LARGE;

/**
 * Streams the request body through, counting bytes and, for JSON, tracking nesting depth with a
 * byte-level scanner: the body is never buffered, and a deeply nested document (a parser stack
 * exhaustion attack on the upstream) is cut off at the first byte past the limit.
 */
export class BodyGuard extends Transform {
  #bytes = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;

  constructor(
    private readonly maxBytes: number,
    private readonly maxDepth: number,
    /** The refusal of a body over maxBytes: the route's, or a tighter limit's own. */
    private readonly tooLarge: Denial = TOO_LARGE,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      done(new BodyRefusedError(this.tooLarge));
      return;
    }
    if (this.maxDepth > 0 && !this.#scan(chunk)) {
      done(new BodyRefusedError(TOO_DEEP));
      return;
    }
    done(null, chunk);
  }

  #scan(chunk: Buffer): boolean {
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++depth > this.maxDepth) return false;
      } else if (c === 0x7d || c === 0x5d) depth--;
    }
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    return true;
  }
}

/** application/json and every +json media type. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  const type = mediaTypeOf(contentType);
  return type === 'application/json' || type.endsWith('+json');
}
