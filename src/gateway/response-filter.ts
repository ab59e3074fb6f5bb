import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { isJsonMediaType } from './body-guard.js';
import { headerValue, withoutHeaders } from './header-list.js';
import type { Denial } from './problems.js';
import type { BodyTransform, ResponseChange } from './stage.js';

const TOO_LARGE: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.too_large_to_filter',
  detail: 'The upstream response is too large to be checked.',
});
const UNFILTERABLE: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.unfilterable',
  detail: 'The upstream response could not be checked.',
});
const MALFORMED: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.malformed_json',
  detail: 'The upstream response could not be checked.',
});
const FAILED: Denial = Object.freeze({
  kind: 'bad-gateway',
  reason: 'proxy.response.filter_failed',
  detail: 'The upstream response could not be checked.',
});

/**
 * Thrown by a transform that finds the response must not reach the client (a response that
 * breaks its API contract, docs/contract.md): the filter answers with its denial instead.
 */
export class ResponseRefusedError extends Error {
  constructor(readonly denial: Denial) {
    super(denial.reason);
  }
}

type ByteTransform = (body: Buffer) => Buffer | undefined;
type Decoder = (buf: Buffer, opts: zlib.ZlibOptions | zlib.BrotliOptions) => Promise<Buffer>;

/** The content codings the filter can undo; any other is refused rather than passed through. */
const DECODERS: ReadonlyMap<string, Decoder> = new Map<string, Decoder>([
  ['gzip', promisify(zlib.gunzip)],
  ['x-gzip', promisify(zlib.gunzip)],
  ['deflate', promisify(zlib.inflate)],
  ['br', promisify(zlib.brotliDecompress)],
]);

/**
 * Headers that describe the upstream's bytes, not the filtered ones. A digest or an ETag (often
 * a hash of the content) of the unfiltered body would also let a client confirm a guess of a
 * removed value (hash `{"internalRiskScore": 47, ...}` until it matches).
 */
const DIGESTS = ['etag', 'content-md5', 'digest', 'content-digest', 'repr-digest'];
const DROPPED = new Set(['content-length', 'content-encoding', 'accept-ranges', ...DIGESTS]);
/** A HEAD answer's Content-Length is the unfiltered body's: how much was removed. */
const DROPPED_HEAD = new Set(['content-length', 'accept-ranges', ...DIGESTS]);
const DROPPED_BODYLESS = new Set(DIGESTS);

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What the proxy does with a response once the response stages have run. */
export type FilterStart =
  /** Send these headers, then the upstream's body as it streams. */
  | { readonly kind: 'stream'; readonly headers: readonly string[] }
  /** Buffer the body and send what the filter makes of it. */
  | { readonly kind: 'buffer'; readonly filter: ResponseFilter }
  /** Answer with this refusal instead. */
  | { readonly kind: 'refuse'; readonly denial: Denial };

const refuse = (denial: Denial): FilterStart => ({ kind: 'refuse', denial });

export interface FilteredResponse {
  readonly statusCode: number;
  readonly headers: string[];
  readonly body: Buffer;
}

/**
 * A JSON response body that response stages asked to rewrite (ResponseChange.transformJson):
 * buffered up to a cap, decoded, parsed, transformed and serialized again. Whatever cannot be
 * filtered (not JSON, a partial response, an unknown coding, over the cap, not parseable) is
 * refused with 502: a filter that passed what it could not read would leak what it exists to
 * remove. Responses nobody asked to rewrite never come here and stream as they arrive.
 */
export class ResponseFilter {
  static readonly FAILED = FAILED;

  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  private constructor(
    private readonly statusCode: number,
    private readonly headers: readonly string[],
    private readonly transforms: readonly ((value: unknown) => unknown)[],
    /** The same transforms on the bytes, when every one has such a version. */
    private readonly byteTransforms: readonly ByteTransform[] | undefined,
    private readonly decode: Decoder | undefined,
    private readonly cap: number,
    private readonly bodyTransforms: readonly (() => BodyTransform)[],
  ) {}

  /**
   * Decides, from the response head, whether the body must be filtered: streamed as it is when
   * no stage asked (or there is no body: then only the headers that describe the unfiltered
   * body go), refused when it cannot be filtered, else buffered through the filter.
   */
  static start(
    method: string,
    statusCode: number,
    headers: readonly string[],
    changes: readonly ResponseChange[],
    cap: number,
  ): FilterStart {
    let transforms: ((value: unknown) => unknown)[] | undefined;
    let bytes: ByteTransform[] | undefined;
    let allBytes = true;
    for (const change of changes) {
      if (change.transformJson === undefined) continue;
      (transforms ??= []).push(change.transformJson);
      if (change.transformJsonBytes === undefined) allBytes = false;
      else (bytes ??= []).push(change.transformJsonBytes);
    }
    if (transforms === undefined) return { kind: 'stream', headers };
    if (method === 'HEAD')
      return { kind: 'stream', headers: withoutHeaders(headers, DROPPED_HEAD) };
    if (statusCode === 204 || statusCode === 304 || headerValue(headers, 'content-length') === '0')
      return { kind: 'stream', headers: withoutHeaders(headers, DROPPED_BODYLESS) };
    // A Range answer is a slice of the document, which no JSON parser can read.
    if (statusCode === 206) return refuse(UNFILTERABLE);
    if (!isJsonMediaType(headerValue(headers, 'content-type'))) return refuse(UNFILTERABLE);
    const coding = headerValue(headers, 'content-encoding')?.trim().toLowerCase();
    let decode: Decoder | undefined;
    if (coding !== undefined && coding !== '' && coding !== 'identity') {
      // One coding only: `gzip, br` (layered) or an unknown one is refused, never guessed at.
      decode = DECODERS.get(coding);
      if (decode === undefined) return refuse(UNFILTERABLE);
    }
    const length = headerValue(headers, 'content-length');
    if (length !== undefined && Number(length) > cap) return refuse(TOO_LARGE);
    return {
      kind: 'buffer',
      filter: new ResponseFilter(
        statusCode,
        headers,
        transforms,
        allBytes ? bytes : undefined,
        decode,
        cap,
        bodyTransformsOf(changes),
      ),
    };
  }

  /** Buffers a chunk; the refusal when the body goes past the cap. */
  add(chunk: Buffer): Denial | undefined {
    this.#bytes += chunk.length;
    if (this.#bytes > this.cap) return TOO_LARGE;
    this.#chunks.push(chunk);
    return undefined;
  }

  /**
   * The filtered response, or the refusal; throws or rejects only on a bug (then fail closed).
   * Synchronous unless the body must be decompressed first: a response with no promise to wait
   * for is sent in the same turn as its last chunk, without the promises and microtasks (each
   * of them paid again by every async hook the process runs) of an async function.
   */
  finish(): FilteredResponse | Denial | Promise<FilteredResponse | Denial> {
    // One chunk (a small body) is the body: no copy.
    const raw: Buffer =
      this.#chunks.length === 1
        ? (this.#chunks[0] as Buffer)
        : Buffer.concat(this.#chunks, this.#bytes);
    if (raw.length === 0) {
      return { statusCode: this.statusCode, headers: [...this.headers], body: raw };
    }
    if (this.decode === undefined) return this.#filter(raw);
    // A decompression bomb stops at the cap: zlib refuses to produce more.
    return this.decode(raw, { maxOutputLength: this.cap }).then(
      (decoded) => this.#filter(decoded),
      (err: unknown) =>
        (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' ? TOO_LARGE : MALFORMED,
    );
  }

  /** Transforms the decoded body: as bytes when it can, else parsed and serialized again. */
  #filter(raw: Buffer): FilteredResponse | Denial {
    // A fatal decode would refuse the same bodies: what is not UTF-8 is not JSON (RFC 8259).
    if (!isUtf8(raw)) return MALFORMED;
    const transforms = this.byteTransforms;
    const filtered = transforms === undefined ? undefined : filterBytes(transforms, raw);
    let body: Buffer;
    if (filtered === undefined) {
      const parsed = this.#filterParsed(raw);
      if (!Buffer.isBuffer(parsed)) return parsed;
      body = parsed;
    } else if (!Buffer.isBuffer(filtered)) {
      return filtered;
    } else {
      body = filtered;
    }
    // Body transforms (masking) see the filtered JSON, whole: it is already in memory.
    for (const create of this.bodyTransforms) {
      const t = create();
      const pushed = t.push(body);
      if (pushed.refuse !== undefined) return pushed.refuse;
      const ended = t.end();
      if (ended.refuse !== undefined) return ended.refuse;
      body = Buffer.concat([pushed.out, ended.out]);
    }
    const headers = withoutHeaders(this.headers, DROPPED);
    headers.push('content-length', String(body.length));
    return { statusCode: this.statusCode, headers, body };
  }

  #filterParsed(raw: Buffer): Buffer | Denial {
    let value: unknown;
    try {
      value = JSON.parse(UTF8.decode(raw));
    } catch {
      return MALFORMED;
    }
    try {
      for (const transform of this.transforms) value = transform(value);
    } catch (err) {
      if (err instanceof ResponseRefusedError) return err.denial;
      throw err;
    }
    // undefined (a transform removed everything) is sent as null: still JSON.
    return Buffer.from(JSON.stringify(value) ?? 'null');
  }
}

const NO_BODY_TRANSFORMS: readonly (() => BodyTransform)[] = [];

function bodyTransformsOf(changes: readonly ResponseChange[]): readonly (() => BodyTransform)[] {
  if (!changes.some((c) => c.transformBody !== undefined)) return NO_BODY_TRANSFORMS;
  return changes.flatMap((c) => (c.transformBody === undefined ? [] : [c.transformBody]));
}

/** The byte transforms' result; undefined when one could not tell (then parse). */
function filterBytes(
  transforms: readonly ByteTransform[],
  raw: Buffer,
): Buffer | Denial | undefined {
  let out = raw;
  try {
    for (const transform of transforms) {
      const next = transform(out);
      if (next === undefined) return undefined;
      out = next;
    }
  } catch (err) {
    if (err instanceof SyntaxError) return MALFORMED;
    throw err;
  }
  return out;
}
