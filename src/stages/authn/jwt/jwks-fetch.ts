import { Agent, request, type Dispatcher } from 'undici';

/** A key set or discovery document larger than this is refused: neither is ever near it. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;

/** Why a document could not be fetched; the message is for the log (no secret in it). */
export class KeyFetchError extends Error {
  override readonly name = 'KeyFetchError';
}

export interface DocumentFetchOptions {
  readonly dispatcher: Dispatcher;
  readonly timeoutMs: number;
  readonly maxBytes?: number;
}

/**
 * The agent for an issuer's key and discovery URLs: TLS verified against `ca` when given (the
 * system's CAs otherwise), few connections, no redirects followed (undici's `request` follows
 * none): a redirect to plain HTTP or to another host would otherwise move where keys come from.
 */
export function keyFetchAgent(ca: string | undefined, timeoutMs: number): Agent {
  return new Agent({
    connections: 2,
    connectTimeout: timeoutMs,
    keepAliveTimeout: 30_000,
    connect: { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) },
  });
}

/**
 * GETs a JSON document: 200 only, at most `maxBytes` (counted as it arrives, so a huge or
 * endless body is cut off), valid UTF-8 JSON, all within `timeoutMs`. Throws KeyFetchError.
 */
export async function fetchJsonDocument(url: string, opts: DocumentFetchOptions): Promise<unknown> {
  const max = opts.maxBytes ?? MAX_DOCUMENT_BYTES;
  const shown = displayUrl(url);
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET',
      dispatcher: opts.dispatcher,
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal,
    });
  } catch (err) {
    throw new KeyFetchError(`GET ${shown}: ${reasonOf(err, signal)}`);
  }
  const { body, statusCode } = res;
  try {
    if (statusCode !== 200) throw new KeyFetchError(`GET ${shown}: status ${statusCode}`);
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      throw new KeyFetchError(`GET ${shown}: ${declared} bytes, more than ${max}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > max) throw new KeyFetchError(`GET ${shown}: more than ${max} bytes`);
      chunks.push(b);
    }
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
      return JSON.parse(text) as unknown;
    } catch {
      throw new KeyFetchError(`GET ${shown}: the answer is not JSON`);
    }
  } catch (err) {
    if (err instanceof KeyFetchError) throw err;
    throw new KeyFetchError(`GET ${shown}: ${reasonOf(err, signal)}`);
  } finally {
    // Whatever was not read is discarded, so that the connection is freed.
    body.destroy();
  }
}

function reasonOf(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timed out';
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : typeof e.message === 'string' ? e.message : 'failed';
}

/** The URL as logs show it: without user info or query, which could hold a credential. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
