import type { IncomingMessage } from 'node:http';
import type { LimitsConfig } from '../config/schema.js';
import { BodyGuard, BodyRefusedError, isJsonMediaType } from './body-guard.js';
import { hasDuplicateKey } from './json-duplicate-keys.js';
import type { Denial } from './problems.js';
import type { RequestHead } from './request-head.js';

/**
 * Why a JSON body a stage asked for is not one: refused by the stage with its own reason
 * (docs/stages.md, "Reading the request body").
 */
export class MalformedJsonError extends Error {
  constructor(readonly problem: 'encoding' | 'syntax' | 'duplicate-key') {
    super(`malformed JSON body (${problem})`);
  }
}

const ABORTED: Denial = Object.freeze({
  kind: 'bad-request',
  reason: 'request.body.aborted',
  detail: 'The request body ended before it was complete.',
});

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * What the upstream receives as the request body, once the stages have run: the client's
 * stream untouched (nobody read it), the bytes a stage read (or its replacement), or nothing
 * because reading broke a limit and the rest of the body cannot be trusted.
 */
export type UpstreamBody =
  | { readonly kind: 'stream' }
  | { readonly kind: 'bytes'; readonly bytes: Buffer; readonly replaced: boolean }
  | { readonly kind: 'refused'; readonly denial: Denial };

const STREAM: UpstreamBody = Object.freeze({ kind: 'stream' });

/**
 * The request body, read at most once and only when a stage asks for it: a request whose body
 * nobody reads streams to the upstream as it arrives, never buffered. Reading goes through the
 * same BodyGuard as streaming (the route's bodyBytes and jsonDepth), so a stage that reads the
 * body cannot be made to buffer more than the route allows.
 */
export class RequestBody {
  #json: Promise<unknown> | undefined;
  #raw: Promise<Buffer | undefined> | undefined;
  #bytes: Buffer | undefined;
  #refused: Denial | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly head: RequestHead,
    private readonly limits: LimitsConfig,
    /** The refusal of a body over `limits.bodyBytes`; the guard's own when not given. */
    private readonly tooLarge?: Denial,
  ) {}

  /** Whether the client sent a body at all (a Content-Length above 0, or chunked). */
  get present(): boolean {
    return this.head.chunked || this.head.contentLength > 0;
  }

  /** Whether the body is declared JSON (application/json, +json). */
  get isJson(): boolean {
    return isJsonMediaType(this.head.contentType);
  }

  /**
   * The parsed JSON body; undefined when there is none, it is empty or not declared JSON (and
   * then it is not read: it streams to the upstream as usual). Rejects with MalformedJsonError
   * (invalid UTF-8, invalid JSON, a duplicate member at any depth) or BodyRefusedError (a
   * limit of the route, the client cut it short).
   */
  readJson(): Promise<unknown> {
    this.#json ??= this.#read();
    return this.#json;
  }

  /**
   * The body's bytes whatever its type, read once (readJson shares them); undefined when there
   * is none. Rejects with BodyRefusedError on a broken limit.
   */
  readBytes(): Promise<Buffer | undefined> {
    this.#raw ??= this.present
      ? this.#buffer().then((bytes) => (this.#bytes = bytes))
      : Promise.resolve(undefined);
    return this.#raw;
  }

  async #read(): Promise<unknown> {
    if (!this.present || !this.isJson) return undefined;
    const bytes = await this.readBytes();
    if (bytes === undefined || bytes.length === 0) return undefined;
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      throw new MalformedJsonError('encoding');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new MalformedJsonError('syntax');
    }
    if (typeof value === 'object' && value !== null && hasDuplicateKey(text)) {
      throw new MalformedJsonError('duplicate-key');
    }
    return value;
  }

  #buffer(): Promise<Buffer> {
    // The depth scanner counts JSON brackets: meaningless (and refusing) on a form or an upload.
    const guard = new BodyGuard(
      this.limits.bodyBytes,
      this.isJson ? this.limits.jsonDepth : 0,
      this.tooLarge,
    );
    const chunks: Buffer[] = [];
    let size = 0;
    return new Promise<Buffer>((resolve, reject) => {
      const fail = (denial: Denial): void => {
        this.#refused = denial;
        this.req.unpipe(guard);
        reject(new BodyRefusedError(denial));
      };
      guard.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      });
      guard.once('end', () => resolve(Buffer.concat(chunks, size)));
      guard.once('error', (err) => fail(err instanceof BodyRefusedError ? err.denial : ABORTED));
      // A client that goes away mid-body leaves a body nobody can check.
      this.req.once('aborted', () => guard.destroy(new BodyRefusedError(ABORTED)));
      this.req.once('error', () => guard.destroy(new BodyRefusedError(ABORTED)));
      this.req.pipe(guard);
    });
  }

  /**
   * What the upstream gets, given the stages' replacement (the last `change.body`, if any).
   * The original bytes when a stage read them, so the upstream sees exactly what was checked.
   */
  upstream(replacement: unknown): UpstreamBody {
    if (this.#refused !== undefined) return { kind: 'refused', denial: this.#refused };
    if (replacement !== undefined) {
      return { kind: 'bytes', bytes: Buffer.from(JSON.stringify(replacement)), replaced: true };
    }
    if (this.#bytes !== undefined) return { kind: 'bytes', bytes: this.#bytes, replaced: false };
    return STREAM;
  }
}

/** The upstream body of a request whose body no stage touched. */
export const STREAMED_BODY = STREAM;

/**
 * The refusal for a failed readJsonBody(): a broken limit keeps its own reason (the guard's);
 * malformed JSON gets the calling stage's `malformed` denial. Anything else is a bug and is
 * thrown again, so the stage fails closed.
 */
export function bodyReadRefusal(err: unknown, malformed: Denial): Denial {
  if (err instanceof BodyRefusedError) return err.denial;
  if (err instanceof MalformedJsonError) {
    const audit = malformed.audit;
    return {
      ...malformed,
      audit: { ...audit, details: { ...audit?.details, cause: err.problem } },
    };
  }
  throw err;
}
