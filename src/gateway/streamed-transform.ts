import type { ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { headerValue, withoutHeaders } from './header-list.js';
import type { Denial } from './problems.js';
import type { BodyStep, BodyTransform, ResponseChange } from './stage.js';

const UNREADABLE: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.untransformable_coding',
  detail: 'The upstream response could not be checked.',
});
const CORRUPT: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.corrupt_coding',
  detail: 'The upstream response could not be checked.',
});

const EMPTY = Buffer.alloc(0);

type DecoderFactory = () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress;

/** The content codings undone while streaming; any other is refused, never passed unread. */
const DECODERS: ReadonlyMap<string, DecoderFactory> = new Map<string, DecoderFactory>([
  ['gzip', () => zlib.createGunzip()],
  ['x-gzip', () => zlib.createGunzip()],
  ['deflate', () => zlib.createInflate()],
  ['br', () => zlib.createBrotliDecompress()],
]);

/**
 * Headers that describe the upstream's bytes: a transformed body has other bytes (and a
 * digest or ETag of the original would let a client confirm a guess of what was masked).
 */
const DESCRIBE_BYTES = new Set([
  'etag',
  'content-md5',
  'digest',
  'content-digest',
  'repr-digest',
  'accept-ranges',
]);
/** A decoded body goes out uncoded and chunked: its length is not known in advance. */
const DESCRIBE_CODING = new Set([...DESCRIBE_BYTES, 'content-length', 'content-encoding']);

export type TransformStart =
  | { readonly kind: 'none' }
  | { readonly kind: 'stream'; readonly headers: readonly string[] }
  | { readonly kind: 'refuse'; readonly denial: Denial }
  | { readonly kind: 'transform'; readonly body: StreamedTransform };

export interface TransformSink {
  readonly res: ServerResponse;
  /** Lets the upstream send more once the client has drained what was written. */
  readonly resume: () => void;
  /** The gateway answers (or cuts the connection) instead; the upstream is aborted. */
  readonly refuse: (denial: Denial) => void;
}

/**
 * A response body streamed through the response stages' body transforms: decoded on the fly
 * when it has a content coding, each chunk passed through the transforms in order, and sent
 * as it comes. The head goes out with the first bytes (or at the end), so a refusal decided
 * early in the body is still a clean 502.
 */
export class StreamedTransform {
  #headSent = false;
  #done = false;
  readonly #decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;

  private constructor(
    private readonly statusCode: number,
    private readonly headers: string[],
    private readonly transforms: readonly BodyTransform[],
    decoder: DecoderFactory | undefined,
    private readonly sink: TransformSink,
  ) {
    if (decoder !== undefined) {
      const d = decoder();
      this.#decoder = d;
      d.on('data', (chunk: Buffer) => {
        if (!this.#process(chunk)) d.pause();
      });
      d.once('end', () => this.#finish());
      d.once('error', () => this.#refuse(CORRUPT));
    }
  }

  /**
   * Decides from the response head: nothing to transform, a body-less response to send as is,
   * a coding that cannot be read (refused), or the transform to stream through.
   */
  static start(
    method: string,
    statusCode: number,
    headers: readonly string[],
    changes: readonly ResponseChange[],
    sink: TransformSink,
  ): TransformStart {
    const factories = changes.flatMap((c) =>
      c.transformBody === undefined ? [] : [c.transformBody],
    );
    if (factories.length === 0) return { kind: 'none' };
    if (
      method === 'HEAD' ||
      statusCode === 204 ||
      statusCode === 304 ||
      headerValue(headers, 'content-length') === '0'
    )
      return { kind: 'stream', headers: withoutHeaders(headers, DESCRIBE_BYTES) };
    const coding = headerValue(headers, 'content-encoding')?.trim().toLowerCase();
    let decoder: DecoderFactory | undefined;
    if (coding !== undefined && coding !== '' && coding !== 'identity') {
      // One coding only: a layered (`gzip, br`) or unknown one is refused, never guessed at.
      decoder = DECODERS.get(coding);
      if (decoder === undefined) return { kind: 'refuse', denial: UNREADABLE };
    }
    const out = withoutHeaders(headers, decoder === undefined ? DESCRIBE_BYTES : DESCRIBE_CODING);
    return {
      kind: 'transform',
      body: new StreamedTransform(
        statusCode,
        out,
        factories.map((f) => f()),
        decoder,
        sink,
      ),
    };
  }

  /** A chunk from the upstream; false asks the upstream to wait (resume comes later). */
  write(chunk: Buffer): boolean {
    if (this.#done) return false;
    if (this.#decoder === undefined) return this.#process(chunk);
    if (this.#decoder.write(chunk)) return true;
    this.#decoder.once('drain', this.sink.resume);
    return false;
  }

  end(): void {
    if (this.#done) return;
    if (this.#decoder === undefined) this.#finish();
    else this.#decoder.end();
  }

  /** Stops decoding: the client went away or the gateway answered instead. */
  destroy(): void {
    this.#done = true;
    this.#decoder?.destroy();
  }

  /** Passes bytes through every transform in order; `ending` flushes each in turn. */
  #pipe(input: Buffer, ending: boolean): BodyStep {
    let data = input;
    for (const t of this.transforms) {
      const pushed = data.length > 0 ? t.push(data) : { out: EMPTY };
      if (pushed.refuse !== undefined) return pushed;
      if (!ending) {
        data = pushed.out;
        continue;
      }
      const ended = t.end();
      if (ended.refuse !== undefined) return ended;
      data =
        pushed.out.length === 0
          ? ended.out
          : ended.out.length === 0
            ? pushed.out
            : Buffer.concat([pushed.out, ended.out]);
    }
    return { out: data };
  }

  #process(chunk: Buffer): boolean {
    if (this.#done) return false;
    const step = this.#pipe(chunk, false);
    if (step.refuse !== undefined) {
      this.#refuse(step.refuse);
      return false;
    }
    return this.#send(step.out);
  }

  #finish(): void {
    if (this.#done) return;
    const step = this.#pipe(EMPTY, true);
    if (step.refuse !== undefined) {
      this.#refuse(step.refuse);
      return;
    }
    this.#done = true;
    this.#writeHead();
    if (step.out.length > 0) this.sink.res.write(step.out);
    this.sink.res.end();
  }

  #writeHead(): void {
    if (this.#headSent) return;
    this.#headSent = true;
    this.sink.res.writeHead(this.statusCode, this.headers);
  }

  #send(out: Buffer): boolean {
    if (out.length === 0) return true;
    this.#writeHead();
    const { res } = this.sink;
    if (res.write(out)) return true;
    res.once('drain', () => {
      this.#decoder?.resume();
      this.sink.resume();
    });
    return false;
  }

  #refuse(denial: Denial): void {
    if (this.#done) return;
    this.destroy();
    // After the head went out a refusal cannot be said: sendProblem cuts the connection.
    this.sink.refuse(denial);
  }
}
