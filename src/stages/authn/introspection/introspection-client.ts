import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { IntrospectionConfig } from '../../../config/authn-schema.js';

/** What one call to the introspection endpoint came to. */
export type IntrospectionCall =
  /** A 200 with a JSON object: the endpoint's answer (active or not). */
  | { readonly kind: 'answer'; readonly answer: Readonly<Record<string, unknown>> }
  /** 401 or 403: the endpoint refused the gateway's own client authentication. */
  | { readonly kind: 'rejected'; readonly status: number }
  /** No usable answer: down, timed out, TLS failure, another status, not a JSON object. */
  | { readonly kind: 'failed'; readonly cause: string };

// An introspection answer is a few hundred bytes; a larger one is not an answer we can use.
const MAX_ANSWER_BYTES = 64 * 1024;
// Enough parallel calls for a burst of new tokens; more wait for a connection (within timeoutMs).
const CONNECTIONS = 32;

/** Answers are shared by every request that reads them from the cache: none may change one. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A short, flat, secret-free cause for the event: an error code, never an error message. */
function causeOf(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timeout';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'error';
}

/**
 * RFC 7662 section 2: `POST` of `token=...&token_type_hint=access_token` as a form, with the
 * gateway's client authentication, over a keep-alive pool to the endpoint's origin. Redirects
 * are not followed (the token would go wherever the answer points). The whole call, connection
 * included, gets `timeoutMs`.
 */
export class IntrospectionClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #timeoutMs: number;

  constructor(cfg: IntrospectionConfig) {
    const url = new URL(cfg.endpoint);
    this.#path = `${url.pathname}${url.search}`;
    this.#timeoutMs = cfg.timeoutMs;
    this.#pool = new Pool(url.origin, {
      connections: CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      headersTimeout: cfg.timeoutMs,
      bodyTimeout: cfg.timeoutMs,
      connect: {
        timeout: cfg.timeoutMs,
        rejectUnauthorized: true,
        // The loader made the path absolute and checked it can be read.
        ...(cfg.caFile === undefined ? {} : { ca: readFileSync(cfg.caFile) }),
      },
    });
  }

  async call(token: string, authorization: string): Promise<IntrospectionCall> {
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.#timeoutMs);
    timer.unref();
    try {
      const res = await this.#pool.request({
        method: 'POST',
        path: this.#path,
        headers: {
          authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: abort.signal,
      });
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        if (res.statusCode === 401 || res.statusCode === 403)
          return { kind: 'rejected', status: res.statusCode };
        return { kind: 'failed', cause: `status_${res.statusCode}` };
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > MAX_ANSWER_BYTES) {
        res.body.destroy();
        return { kind: 'failed', cause: 'too_large' };
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
      if (typeof answer !== 'object' || answer === null || Array.isArray(answer))
        return { kind: 'failed', cause: 'not_object' };
      return { kind: 'answer', answer: deepFreeze(answer as Record<string, unknown>) };
    } catch (err) {
      return { kind: 'failed', cause: causeOf(err, timedOut) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the pool's connections (idle ones also close by themselves after keep-alive). */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
