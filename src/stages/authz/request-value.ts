import type { RequestValueConfig } from '../../config/authz-schema.js';
import type { RequestContext } from '../../gateway/stage.js';

/** The request does not carry the value. */
export const MISSING = Symbol('missing');
/** The request carries the value more than once: which one the upstream reads is unknowable. */
export const AMBIGUOUS = Symbol('ambiguous');

export type RequestValue = string | typeof MISSING | typeof AMBIGUOUS;
export type RequestReader = (ctx: RequestContext) => RequestValue;

/**
 * Reads the value an ownership rule checks, as the upstream will see it: a path parameter of
 * the canonical path, a decoded query parameter, a header. Parse, don't guess: a query
 * parameter or header sent twice is AMBIGUOUS, never the first or the last (HTTP parameter
 * pollution: the gateway would check `tenant=mine` while the upstream reads `tenant=yours`).
 * Values are compared exactly, so nothing is trimmed or case-folded here.
 */
export function requestReader(cfg: RequestValueConfig): RequestReader {
  if ('param' in cfg) {
    const name = cfg.param;
    return (ctx) => {
      const v = Object.hasOwn(ctx.params, name) ? ctx.params[name] : undefined;
      return v === undefined || v === '' ? MISSING : v;
    };
  }
  if ('query' in cfg) {
    const name = cfg.query;
    return (ctx) => {
      if (ctx.query === '') return MISSING;
      // URLSearchParams decodes names and values as the upstream's framework will:
      // `%74enant=x` is a second `tenant`, and `+` is a space.
      const all = new URLSearchParams(ctx.query).getAll(name);
      if (all.length > 1) return AMBIGUOUS;
      const v = all[0];
      return v === undefined || v === '' ? MISSING : v;
    };
  }
  if ('header' in cfg) {
    const name = cfg.header.toLowerCase();
    return (ctx) => {
      // The raw headers, not ctx.headers: node joins a repeated header into `a, b`.
      const raw = ctx.raw.rawHeaders;
      let found: string | undefined;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const n = raw[i] as string;
        if (n.length !== name.length || n.toLowerCase() !== name) continue;
        if (found !== undefined) return AMBIGUOUS;
        found = raw[i + 1];
      }
      return found === undefined || found === '' ? MISSING : found;
    };
  }
  // The loader refuses `body` until the JSON body can be read for authorization.
  throw new Error(`request value ${JSON.stringify(cfg)} cannot be read`);
}

/** `param:accountId`, `query:tenant`, `header:x-tenant`: how events name the request value. */
export function requestLabel(cfg: RequestValueConfig): string {
  if ('param' in cfg) return `param:${cfg.param}`;
  if ('query' in cfg) return `query:${cfg.query}`;
  if ('header' in cfg) return `header:${cfg.header.toLowerCase()}`;
  return `body:${cfg.body}`;
}
