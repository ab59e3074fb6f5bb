import type { RequestValueConfig } from '../../config/authz-schema.js';
import type { RequestContext } from '../../gateway/stage.js';

/** The request does not carry the value. */
export const MISSING = Symbol('missing');
/** The request carries the value more than once: which one the upstream reads is unknowable. */
export const AMBIGUOUS = Symbol('ambiguous');

export type RequestValue = string | typeof MISSING | typeof AMBIGUOUS;
/**
 * Synchronous for a path parameter, query parameter or header; a JSON body field waits for the
 * body (read once for every stage) and rejects as ctx.readJsonBody() does: turn the error into
 * a refusal with bodyReadRefusal().
 */
export type RequestReader = (ctx: RequestContext) => RequestValue | Promise<RequestValue>;

/** RFC 6901: `/owner/id` to `['owner', 'id']`, with `~1` for `/` and `~0` for `~`. */
function pointerTokens(pointer: string): readonly string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/**
 * The value at a JSON pointer: own members only (`/__proto__` or `/constructor` never reach
 * Object.prototype), array items by their decimal index. Only a non-empty string is a value: a
 * number or boolean is not turned into text (`42` and `"42"` would otherwise match).
 */
function valueAt(json: unknown, tokens: readonly string[]): RequestValue {
  let cur = json;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      if (!/^(?:0|[1-9][0-9]{0,8})$/.test(t)) return MISSING;
      cur = cur[Number(t)];
    } else if (typeof cur === 'object' && cur !== null && Object.hasOwn(cur, t)) {
      cur = (cur as Record<string, unknown>)[t];
    } else return MISSING;
  }
  return typeof cur === 'string' && cur !== '' ? cur : MISSING;
}

/**
 * Reads the value an ownership rule checks, as the upstream will see it: a path parameter of
 * the canonical path, a decoded query parameter, a header, a field of the JSON body. Parse, don't guess: a query
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
  const tokens = pointerTokens(cfg.body);
  // The body is what the upstream receives (a stage that rewrites it runs later), parsed once
  // with duplicate members refused: `{"tenant":"mine","tenant":"yours"}` never gets this far.
  return (ctx) => ctx.readJsonBody().then((json) => valueAt(json, tokens));
}

/** `param:accountId`, `query:tenant`, `header:x-tenant`: how events name the request value. */
export function requestLabel(cfg: RequestValueConfig): string {
  if ('param' in cfg) return `param:${cfg.param}`;
  if ('query' in cfg) return `query:${cfg.query}`;
  if ('header' in cfg) return `header:${cfg.header.toLowerCase()}`;
  return `body:${cfg.body}`;
}
